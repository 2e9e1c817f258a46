// What every OCI handler receives: the typed path, the caller, and the services.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Identity } from "../../auth/identity.ts";
import type { Guard } from "../../http/guard.ts";
import type { V2Path } from "../../http/v2-path.ts";
import type { BlobService } from "../../services/blob-service.ts";
import type { ManifestService } from "../../services/manifest-service.ts";
import type { PullPolicies } from "../../services/provenance/pull-policy.ts";
import type { UploadService } from "../../services/upload-service.ts";
import type { Metrics } from "../../observability/metrics.ts";

export interface OciServices {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  guard: Guard;
  metrics: Metrics;
  manifestMaxBytes: number;
  /** Refuses manifest pulls of unsigned images where a pull policy applies. */
  pullPolicies?: PullPolicies;
}

export interface OciContext<P extends V2Path = V2Path> {
  request: FastifyRequest;
  reply: FastifyReply;
  path: P;
  who: Identity;
  services: OciServices;
}

export type OciHandler<K extends V2Path["kind"] = V2Path["kind"]> = (ctx: OciContext<Extract<V2Path, { kind: K }>>) => Promise<unknown>;

/** Aborts stream work when the client goes away mid-request. */
export function requestSignal(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once("close", () => {
    if (!request.raw.complete) controller.abort();
  });
  return controller.signal;
}

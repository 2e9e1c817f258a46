// The OCI endpoint table, in the spec's order, with the access each route needs. The guard in
// http/ checks access before any handler runs, so handlers never check permissions.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints
import type { FastifyRequest } from "fastify";
import { CATALOG, type Access } from "../../auth/identity.ts";
import { queryValues } from "../../http/body.ts";
import type { V2Path } from "../../http/v2-path.ts";
import { getBase, getCatalog } from "./base.ts";
import { deleteBlob, getBlob, headBlob } from "./blobs.ts";
import type { OciContext, OciHandler } from "./context.ts";
import { deleteManifest, getManifest, headManifest, putManifest } from "./manifests.ts";
import { getReferrers } from "./referrers.ts";
import { getTags } from "./tags.ts";
import { deleteUpload, getUpload, patchUpload, postUpload, putUpload } from "./uploads.ts";

type Method = "GET" | "HEAD" | "POST" | "PATCH" | "PUT" | "DELETE";

interface Route {
  kind: V2Path["kind"];
  method: Method;
  handler: (ctx: OciContext) => Promise<unknown>;
  /** The access needed; null: decided by the handler (the version check). */
  access: ((path: V2Path, request: FastifyRequest) => Access[]) | null;
  /** Another access that also suffices. */
  otherwise?: (path: V2Path, request: FastifyRequest) => Access[];
}

function route<K extends V2Path["kind"]>(kind: K, method: Method, handler: OciHandler<K>, access: Route["access"], otherwise?: Route["otherwise"]): Route {
  return { kind, method, handler: handler as (ctx: OciContext) => Promise<unknown>, access, otherwise };
}

/**
 * Manifest routes by tag name the tag, so tag attributes (a locked tag) apply; routes by digest
 * name the digest, so the locks of the tags covering it apply too (Authorizer.bindTags).
 */
function on(path: V2Path, action: Access["action"]): Access[] {
  if (!("name" in path)) return [];
  const tag = path.kind === "manifest" && path.reference.kind === "tag" ? path.reference.tag : undefined;
  const digest = path.kind === "manifest" ? (path.reference.kind === "digest" ? path.reference.digest : undefined) : "digest" in path ? path.digest : undefined;
  return [{ type: "repository", name: path.name, action, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) }];
}
const pull = (path: V2Path) => on(path, "pull");
const remove = (path: V2Path) => on(path, "delete");
/** A manifest PUT also moves every tag named by `?tag=` (OCI 1.1): each is checked as if by name. */
const push = (path: V2Path, request: FastifyRequest): Access[] => {
  const access = on(path, "push");
  if (path.kind !== "manifest") return access;
  const extra = queryValues(request, "tag").map((tag): Access => ({ type: "repository", name: path.name, action: "push", tag }));
  return [...access, ...extra];
};
const catalog = (): Access[] => [CATALOG];

export const OCI_ROUTES: Route[] = [
  route("base", "GET", getBase, null),
  route("base", "HEAD", getBase, null),
  route("blob", "GET", getBlob, pull),
  route("blob", "HEAD", headBlob, pull),
  route("manifest", "GET", getManifest, pull),
  route("manifest", "HEAD", headManifest, pull),
  route("uploads", "POST", postUpload, push),
  route("upload", "PATCH", patchUpload, push),
  route("upload", "PUT", putUpload, push),
  route("manifest", "PUT", putManifest, push),
  route("tags", "GET", getTags, pull),
  route("manifest", "DELETE", deleteManifest, remove),
  route("blob", "DELETE", deleteBlob, remove),
  route("referrers", "GET", getReferrers, pull),
  // Clients key cached tokens by method (GET → pull, DELETE → delete), as the conformance suite
  // does: reading an upload's offset needs pull, and cancelling needs push or delete.
  route("upload", "GET", getUpload, pull),
  route("upload", "DELETE", deleteUpload, remove, push),
  route("catalog", "GET", getCatalog, catalog),
];

export function findRoute(kind: V2Path["kind"], method: string): Route | undefined {
  return OCI_ROUTES.find((r) => r.kind === kind && r.method === method);
}

export function methodsFor(kind: V2Path["kind"]): Method[] {
  return OCI_ROUTES.filter((r) => r.kind === kind).map((r) => r.method);
}

// The provenance report and registry-side metadata over the management API:
//
//   GET    /api/v1/provenance/<repository...>/<tag|digest>        pull on the repository
//   GET    /api/v1/metadata/<repository...>[@<digest>]/_values    metadata_read
//   GET    /api/v1/metadata/<repository...>[@<digest>]/_history   metadata_read (?key= for one key)
//   GET    /api/v1/metadata/<repository...>[@<digest>]/<key>      metadata_read
//   PUT    /api/v1/metadata/<repository...>[@<digest>]/<key>      metadata_write, body {"value": "..."}
//   DELETE /api/v1/metadata/<repository...>[@<digest>]/<key>      metadata_write
//
// Repository names hold slashes, so each path is read from the right: the last segment is the
// reference (or key), the rest the repository. A plugin of its own, so app.ts registers it in one
// line; its scope keeps Fastify's JSON parser. Docs: docs/provenance.md.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { describeIdentity, type Access } from "../../auth/identity.ts";
import { isDigest, type Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseReference, parseRepositoryName, type Reference, type RepositoryName } from "../../domain/names.ts";
import { replyWithError } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import type { MetadataTarget } from "../../metadata/provenance-types.ts";
import type { RegistryMetadata } from "../../services/provenance/registry-metadata.ts";
import type { ProvenanceReports } from "../../services/provenance/report.ts";

export const PROVENANCE_PREFIX = "/api/v1/provenance/";
export const METADATA_PREFIX = "/api/v1/metadata/";
const BODY_LIMIT = 64 * 1024;

export interface ProvenancePluginOptions {
  guard: Guard;
  reports: ProvenanceReports;
  registryMetadata: RegistryMetadata;
}

const MetadataBody = z.strictObject({ value: z.string() });
const HistoryQuery = z.strictObject({ key: z.string().optional() });

/** The path after `prefix`, split into decoded segments. */
function segments(url: string, prefix: string): string[] {
  const path = url.split("?")[0]!;
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : "";
  try {
    return rest.split("/").filter((s) => s !== "").map(decodeURIComponent);
  } catch {
    throw new RegistryError("INVALID_REQUEST", "the path is not valid percent-encoding");
  }
}

/** /api/v1/provenance/team/app/v1, /…/team/app/sha256:…, or /…/team/app@sha256:… */
export function provenanceTarget(url: string): { repository: RepositoryName; reference: Reference } {
  const parts = segments(url, PROVENANCE_PREFIX);
  const last = parts.at(-1) ?? "";
  const at = last.lastIndexOf("@");
  if (at > 0 && isDigest(last.slice(at + 1))) {
    return { repository: parseRepositoryName([...parts.slice(0, -1), last.slice(0, at)].join("/")), reference: parseReference(last.slice(at + 1)) };
  }
  if (parts.length < 2) throw new RegistryError("INVALID_REQUEST", "ask for /api/v1/provenance/<repository>/<tag or digest>, e.g. /api/v1/provenance/team/app/v1");
  return { repository: parseRepositoryName(parts.slice(0, -1).join("/")), reference: parseReference(last) };
}

/** /api/v1/metadata/<repository>[@<digest>]/<key> → target and key (or `_values`, `_history`). */
export function metadataTarget(url: string): { target: MetadataTarget; key: string } {
  const parts = segments(url, METADATA_PREFIX);
  if (parts.length < 2) throw new RegistryError("INVALID_REQUEST", "ask for /api/v1/metadata/<repository>[@<digest>]/<key>, or …/_values, …/_history");
  const key = parts.at(-1)!;
  const name = parts.slice(0, -1).join("/");
  const at = name.lastIndexOf("@");
  if (at < 0) return { target: { repository: parseRepositoryName(name), digest: null }, key };
  const digest = name.slice(at + 1);
  if (!isDigest(digest)) throw new RegistryError("DIGEST_INVALID", "after @ comes a digest, e.g. team/app@sha256:…", { digest: digest.slice(0, 200) });
  return { target: { repository: parseRepositoryName(name.slice(0, at)), digest: digest as Digest }, key };
}

function bodyRefusal(error: FastifyError): RegistryError | null {
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new RegistryError("INVALID_REQUEST", `the request body exceeds ${BODY_LIMIT / 1024} KiB`);
  if (error.code?.startsWith("FST_ERR_CTP_") || error instanceof SyntaxError) return new RegistryError("INVALID_REQUEST", `send {"value": "..."} as application/json: ${error.message}`);
  return null;
}

function parsed<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new RegistryError("INVALID_REQUEST", `invalid ${what}: ${issue.path.map(String).join(".") || `(${what})`}: ${issue.message}`);
}

type Handler = (request: FastifyRequest, actor: string) => Promise<unknown>;

export async function provenancePlugin(app: FastifyInstance, options: ProvenancePluginOptions): Promise<void> {
  app.setErrorHandler((error: FastifyError, _request, reply) => replyWithError(reply, bodyRefusal(error) ?? error));
  const { reports, registryMetadata } = options;

  function route(method: "GET" | "PUT" | "DELETE", url: string, access: (request: FastifyRequest) => Access[], handler: Handler) {
    app.route({
      method,
      url,
      bodyLimit: BODY_LIMIT,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        request.berth.route = "api";
        try {
          const who = await options.guard.check(request, access(request), "basic");
          const actor = describeIdentity(who);
          request.berth.identity = actor;
          return await handler(request, actor);
        } catch (err) {
          return replyWithError(reply, err);
        }
      },
    });
  }

  // Metadata kept about a digest is bound by the read locks of the tags covering it.
  const onMetadata = (action: "metadata_read" | "metadata_write") => (request: FastifyRequest): Access[] => {
    const { target } = metadataTarget(request.url);
    return [{ type: "repository", name: target.repository, action, ...(target.digest ? { digest: target.digest } : {}) }];
  };

  // A provenance report shows a manifest: by tag or digest, the tag locks apply as to the manifest.
  const onReport = (request: FastifyRequest): Access[] => {
    const { repository, reference } = provenanceTarget(request.url);
    return [{ type: "repository", name: repository, action: "pull", ...(reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest }) }];
  };
  route("GET", `${PROVENANCE_PREFIX}*`, onReport, async (request) => {
    const { repository, reference } = provenanceTarget(request.url);
    return reports.report(repository, reference);
  });

  route("GET", `${METADATA_PREFIX}*`, onMetadata("metadata_read"), async (request) => {
    const { target, key } = metadataTarget(request.url);
    if (key === "_values") return { ...targetJson(target), values: await registryMetadata.list(target) };
    if (key === "_history") {
      const query = parsed(HistoryQuery, request.query, "query");
      return { ...targetJson(target), history: await registryMetadata.history(target, query.key) };
    }
    return { ...targetJson(target), ...(await registryMetadata.get(target, key)) };
  });

  route("PUT", `${METADATA_PREFIX}*`, onMetadata("metadata_write"), async (request, actor) => {
    const { target, key } = metadataTarget(request.url);
    const { value } = parsed(MetadataBody, request.body, "request body");
    const change = await registryMetadata.set(actor, target, key, value);
    return { ...targetJson(target), key, value, changed: change !== null, ...(change ? { version: change.version } : {}) };
  });

  route("DELETE", `${METADATA_PREFIX}*`, onMetadata("metadata_write"), async (request, actor) => {
    const { target, key } = metadataTarget(request.url);
    const change = await registryMetadata.delete(actor, target, key);
    return { ...targetJson(target), key, deleted: true, version: change.version };
  });
}

function targetJson(target: MetadataTarget) {
  return { repository: target.repository, digest: target.digest };
}

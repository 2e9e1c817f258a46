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
// reference (or key), the rest the repository. The routes are in routes.ts; docs/provenance.md.
import type { FastifyRequest } from "fastify";
import type { z } from "zod";
import { MetadataBody, MetadataHistoryQuery, type MetadataDeleted, type MetadataSet } from "../../api-contract/provenance.ts";
import type { Access } from "../../auth/identity.ts";
import { isDigest, type Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseReference, parseRepositoryName, type Reference, type RepositoryName } from "../../domain/names.ts";
import type { MetadataTarget } from "../../metadata/provenance-types.ts";
import { bodyOf, contentShown, queryOf, type ApiContext } from "./context.ts";

export const PROVENANCE_PREFIX = "/api/v1/provenance/";
export const METADATA_PREFIX = "/api/v1/metadata/";

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

// Metadata kept about a digest is bound by the read locks of the tags covering it.
export const onMetadata = (action: "metadata_read" | "metadata_write") => (request: FastifyRequest): Access[] => {
  const { target } = metadataTarget(request.url);
  return [{ type: "repository", name: target.repository, action, ...(target.digest ? { digest: target.digest } : {}) }];
};

// A provenance report shows a manifest: by tag or digest, the tag locks apply as to the manifest.
export const onReport = (request: FastifyRequest): Access[] => {
  const { repository, reference } = provenanceTarget(request.url);
  return [{ type: "repository", name: repository, action: "pull", ...(reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest }) }];
};

/**
 * The report as this caller may see it: the signatures, referrers and platforms it names are
 * manifests of their own, and one covered only by a read-locked or hidden tag is left out (as the
 * manifest page leaves it out); tags the caller's listings hide are not named.
 */
export async function getReport(ctx: ApiContext) {
  const { repository, reference } = provenanceTarget(ctx.request.url);
  const report = await ctx.reports.report(repository, reference, contentShown(ctx, repository));
  return { ...report, tags: report.tags.filter((tag) => ctx.authorizer.listable(repository, tag)) };
}

export async function getMetadata(ctx: ApiContext) {
  const { target, key } = metadataTarget(ctx.request.url);
  if (key === "_values") return { ...targetJson(target), values: await ctx.registryMetadata.list(target) };
  if (key === "_history") return { ...targetJson(target), history: await ctx.registryMetadata.history(target, queryOf(ctx, MetadataHistoryQuery).key) };
  return { ...targetJson(target), ...(await ctx.registryMetadata.get(target, key)) };
}

export async function putMetadata(ctx: ApiContext): Promise<z.infer<typeof MetadataSet>> {
  const { target, key } = metadataTarget(ctx.request.url);
  const { value } = bodyOf(ctx, MetadataBody);
  const change = await ctx.registryMetadata.set(ctx.by.identity, target, key, value);
  return { ...targetJson(target), key, value, changed: change !== null, ...(change ? { version: change.version } : {}) };
}

export async function deleteMetadata(ctx: ApiContext): Promise<z.infer<typeof MetadataDeleted>> {
  const { target, key } = metadataTarget(ctx.request.url);
  const change = await ctx.registryMetadata.delete(ctx.by.identity, target, key);
  return { ...targetJson(target), key, deleted: true, version: change.version };
}

function targetJson(target: MetadataTarget) {
  return { repository: target.repository, digest: target.digest };
}

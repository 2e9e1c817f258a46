// GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>. Answers carry the stored bytes and the
// stored media type, whatever the Accept header says: Berth converts nothing.
import { actorOf } from "../../http/actor.ts";
import type { Digest } from "../../domain/digest.ts";
import { parseTag } from "../../domain/names.ts";
import { queryValues, readBounded } from "../../http/body.ts";
import type { ManifestSummary } from "../../metadata/types.ts";
import type { OciContext, OciHandler } from "./context.ts";

function manifestHeaders(ctx: OciContext, manifest: ManifestSummary) {
  return ctx.reply
    .header("content-type", manifest.mediaType)
    .header("docker-content-digest", manifest.digest)
    .header("etag", `"${manifest.digest}"`)
    .header("content-length", manifest.size);
}

function notModified(ctx: OciContext, manifest: ManifestSummary): boolean {
  const tags = ctx.request.headers["if-none-match"];
  return tags !== undefined && tags.split(",").some((t) => t.trim() === `"${manifest.digest}"`);
}

/** A pull policy's verdict (403 DENIED saying why); callers that may push are not refused. */
async function admitted(ctx: OciContext<Extract<OciContext["path"], { kind: "manifest" }>>, manifest: ManifestSummary): Promise<void> {
  const policies = ctx.services.pullPolicies;
  if (!policies?.policyFor(ctx.path.name)) return;
  if (ctx.services.guard.authorizer.may(ctx.who, { type: "repository", name: ctx.path.name, action: "push" })) return;
  await policies.enforce(ctx.path.name, manifest);
}

export const headManifest: OciHandler<"manifest"> = async (ctx) => {
  const manifest = await ctx.services.manifests.head(ctx.path.name, ctx.path.reference);
  await admitted(ctx, manifest);
  manifestHeaders(ctx, manifest);
  return ctx.reply.code(notModified(ctx, manifest) ? 304 : 200).send();
};

export const getManifest: OciHandler<"manifest"> = async (ctx) => {
  const manifest = await ctx.services.manifests.get(ctx.path.name, ctx.path.reference);
  await admitted(ctx, manifest);
  manifestHeaders(ctx, manifest);
  if (notModified(ctx, manifest)) return ctx.reply.code(304).header("content-length", 0).send();
  return ctx.reply.send(manifest.body);
};

export const putManifest: OciHandler<"manifest"> = async (ctx) => {
  const { request, reply, path, services } = ctx;
  const extraTags = queryValues(request, "tag").map(parseTag);
  const body = await readBounded(request, services.manifestMaxBytes);
  const authorizer = services.guard.authorizer;
  // Only where a tag has attributes: what a read lock covers may not be named by a new manifest.
  const mayReference = authorizer.hasTagAttributes(path.name)
    ? async (digest: Digest) => !(await authorizer.readLockCovers(path.name, digest))
    : undefined;
  const pushed = await services.manifests.put(path.name, path.reference, body, request.headers["content-type"], { extraTags, actor: actorOf(request, ctx.who), ...(mayReference ? { mayReference } : {}) });
  reply.code(201).header("location", `/v2/${path.name}/manifests/${pushed.digest}`).header("docker-content-digest", pushed.digest).header("content-length", 0);
  if (pushed.subject) reply.header("oci-subject", pushed.subject);
  if (extraTags.length > 0) reply.header("oci-tag", extraTags);
  return reply.send();
};

export const deleteManifest: OciHandler<"manifest"> = async (ctx) => {
  await ctx.services.manifests.delete(ctx.path.name, ctx.path.reference, actorOf(ctx.request, ctx.who));
  return ctx.reply.code(202).header("content-length", 0).send();
};

// Blob uploads: POST (start, single-request push, mount), PATCH (chunk or stream), PUT (finish),
// GET (status), DELETE (cancel). https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs
import { actorOf } from "../../http/actor.ts";
import type { Access } from "../../auth/identity.ts";
import { parseAlgorithm, parseDigest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import { consumedBody, declaredLength, hasBody, parseChunkRange, queryValue } from "../../http/body.ts";
import type { V2Path } from "../../http/v2-path.ts";
import type { UploadRecord } from "../../metadata/types.ts";
import { requestSignal, type OciContext, type OciHandler } from "./context.ts";

function uploadLocation(name: RepositoryName, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

/** The last byte received, as the Range header states it (0-0 also for an empty upload, as distribution does). */
function rangeOf(upload: UploadRecord): string {
  return `0-${Math.max(upload.offset - 1, 0)}`;
}

function replyUpload(ctx: OciContext, upload: UploadRecord, status: 202 | 204) {
  return ctx.reply
    .code(status)
    .header("location", uploadLocation(upload.repository, upload.id))
    .header("range", rangeOf(upload))
    .header("docker-upload-uuid", upload.id)
    .header("content-length", 0)
    .send();
}

function replyCreated(ctx: OciContext, name: RepositoryName, digest: string) {
  return ctx.reply.code(201).header("location", `/v2/${name}/blobs/${digest}`).header("docker-content-digest", digest).header("content-length", 0).send();
}

async function timed<T>(ctx: OciContext, work: () => Promise<T>): Promise<T> {
  const end = ctx.services.metrics.uploadDuration.startTimer();
  try {
    return await work();
  } finally {
    end();
  }
}

/**
 * A token short of pull on `from`, whose principal may pull it, is answered as distribution does:
 * 401 insufficient_scope naming both scopes, so a client holding credentials fetches a token
 * for both and mounts. One who holds only the token (a stolen one) cannot: the token endpoint
 * mints nothing from an access token. Any other caller falls back to a plain upload (202).
 */
async function askForSourceScope(ctx: OciContext<Extract<V2Path, { kind: "uploads" }>>, source: RepositoryName): Promise<void> {
  const { request, path, services, who } = ctx;
  const sourcePull: Access = { type: "repository", name: source, action: "pull" };
  if (who.kind !== "bearer" || services.guard.authorizer.may(who, sourcePull)) return;
  if (!services.guard.authorizer.may(await services.guard.principalOf(who), sourcePull)) return;
  const wanted: Access[] = [{ type: "repository", name: path.name, action: "push" }, sourcePull];
  throw new RegistryError("UNAUTHORIZED", `the access token does not grant pull on ${source}: request a token with that scope to mount from it`, null, services.guard.challenge(request, "bearer", wanted, "insufficient_scope"));
}

export const postUpload: OciHandler<"uploads"> = async (ctx) => {
  const { request, path, services, who } = ctx;
  const mount = queryValue(request, "mount");
  const digestParam = queryValue(request, "digest");
  if (mount !== undefined) {
    const digest = parseDigest(mount);
    const from = queryValue(request, "from");
    const source = from !== undefined ? parseRepositoryName(from) : undefined;
    // Mounting reads from another repository: only from one the credential presented may pull.
    // An access token grants exactly its scopes (clients ask for `repository:<from>:pull` with
    // the push scope), never everything its principal could have asked for.
    // The source's tag locks bind the blob as they bind a pull of it; without `from`, a repository
    // with locked tags is passed over rather than queried once per candidate.
    const authorizer = services.guard.authorizer;
    if (source !== undefined) await askForSourceScope(ctx, source);
    const fromReadable = source !== undefined && (await authorizer.bindTags([{ type: "repository", name: source, action: "pull", digest }])).every((a) => authorizer.may(who, a));
    const mayRead = (name: RepositoryName) =>
      source === undefined ? !authorizer.hasTagAttributes(name) && authorizer.may(who, { type: "repository", name, action: "pull" }) : name === source && fromReadable;
    if (await services.blobs.mount(path.name, digest, mayRead, actorOf(request, who))) return replyCreated(ctx, path.name, digest);
  } else if (digestParam !== undefined) {
    const digest = parseDigest(digestParam);
    // A POST with ?digest= and no body is a plain start, as some clients send it.
    if (hasBody(request)) {
      await timed(ctx, () => services.blobs.put(path.name, digest, consumedBody(request), requestSignal(request), declaredLength(request), actorOf(request, who)));
      return replyCreated(ctx, path.name, digest);
    }
  }
  const algorithmParam = queryValue(request, "digest-algorithm");
  const algorithm = algorithmParam !== undefined ? parseAlgorithm(algorithmParam) : digestParam !== undefined ? parseAlgorithm(digestParam.split(":")[0]!) : "sha256";
  const upload = await services.uploads.start(path.name, algorithm);
  return replyUpload(ctx, upload, 202);
};

export const patchUpload: OciHandler<"upload"> = async (ctx) => {
  const { request, path, services, who } = ctx;
  const contentType = request.headers["content-type"];
  if (contentType !== undefined && !/^application\/octet-stream\b/i.test(contentType)) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", "upload chunks must be sent as application/octet-stream", { contentType: contentType.slice(0, 100) });
  }
  const range = parseChunkRange(request);
  const upload = await timed(ctx, () => services.uploads.append(path.name, path.id, consumedBody(request), range, requestSignal(request), declaredLength(request), actorOf(request, who)));
  return replyUpload(ctx, upload, 202);
};

export const putUpload: OciHandler<"upload"> = async (ctx) => {
  const { request, path, services, who } = ctx;
  const digestParam = queryValue(request, "digest");
  if (digestParam === undefined) throw new RegistryError("DIGEST_INVALID", "PUT to finish an upload needs ?digest=<digest of the whole blob>");
  const digest = parseDigest(digestParam);
  const last = hasBody(request) ? { body: consumedBody(request), range: parseChunkRange(request), size: declaredLength(request) } : undefined;
  await timed(ctx, () => services.uploads.finish(path.name, path.id, digest, last, requestSignal(request), actorOf(request, who)));
  return replyCreated(ctx, path.name, digest);
};

export const getUpload: OciHandler<"upload"> = async (ctx) => {
  const upload = await ctx.services.uploads.status(ctx.path.name, ctx.path.id);
  return replyUpload(ctx, upload, 204);
};

export const deleteUpload: OciHandler<"upload"> = async (ctx) => {
  await ctx.services.uploads.cancel(ctx.path.name, ctx.path.id);
  return ctx.reply.code(204).header("content-length", 0).send();
};

// /api/v1/deleted/<repository>: soft delete's list and restore (services/trash.ts). Both need
// delete on the repository: who may delete content may see what was deleted and bring it back.
import type { FastifyRequest } from "fastify";
import { RestoreBody, type DeletedList, type DeletedView, type Restored } from "../../api-contract/deleted.ts";
import type { Access } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseReference, parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import type { TrashRecord } from "../../metadata/types.ts";
import { contentOf } from "../../services/trash.ts";
import { bodyOf, type ApiContext } from "./context.ts";

export const DELETED_PREFIX = "/api/v1/deleted/";

function repositoryOf(url: string): RepositoryName {
  const path = url.split("?")[0]!;
  let rest: string;
  try {
    rest = path.slice(DELETED_PREFIX.length).split("/").filter((s) => s !== "").map(decodeURIComponent).join("/");
  } catch {
    throw new RegistryError("INVALID_REQUEST", "the path is not valid percent-encoding");
  }
  return parseRepositoryName(rest);
}

export const onDeleted = (request: FastifyRequest): Access[] => [{ type: "repository", name: repositoryOf(request.url), action: "delete" }];

/** A restore puts content back, and may move a tag: it is a push too (found by attack: a delete-only identity moved a live tag). */
export const onRestore = (request: FastifyRequest): Access[] => [...onDeleted(request), { type: "repository", name: repositoryOf(request.url), action: "push" }];

function view(record: TrashRecord): DeletedView {
  return {
    kind: record.kind,
    digest: record.digest,
    tags: record.tags,
    content: contentOf(record),
    mediaType: record.mediaType,
    artifactType: record.artifactType,
    storedAs: record.storedAs,
    deleted: record.deletedAt.toISOString(),
    deletedBy: record.deletedBy ? { name: record.deletedBy.name, kind: record.deletedBy.kind } : null,
    expires: record.expiresAt.toISOString(),
  };
}

export async function getDeleted(ctx: ApiContext): Promise<DeletedList> {
  const repository = repositoryOf(ctx.request.url);
  return { repository, restorableFor: ctx.restorableFor, deleted: (await ctx.deleted.list(repository)).map(view) };
}

export async function postRestore(ctx: ApiContext): Promise<Restored> {
  const repository = repositoryOf(ctx.request.url);
  const body = bodyOf(ctx, RestoreBody);
  const reference = parseReference(body.reference);
  const restored = await ctx.deleted.restore(repository, reference, { force: body.force === true, actor: ctx.actor });
  return { repository, digest: restored.digest, tags: restored.tags };
}

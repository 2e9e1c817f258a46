// /api/v1/deleted/<repository>: soft delete's list, restore and purge (services/trash.ts). All
// need delete on the repository: who may delete content may see what was deleted, and forget it
// early; a restore is a push too. The list shows what tag listings show (Authorizer.listable: a
// tag hidden with listEnabled false is left out, and a record only hidden tags name with it),
// paged as the portal's lists are, without ever reading a manifest's bytes.
import type { FastifyRequest } from "fastify";
import { DeletedListQuery, PurgeQuery, RestoreBody, type DeletedList, type DeletedView, type Purged, type Restored } from "../../api-contract/deleted.ts";
import type { Access } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseReference, parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import type { TrashCursor, TrashEntry } from "../../metadata/types.ts";
import { decodeCursor, encodeCursor } from "../../services/catalog/catalog-service.ts";
import { contentOf, deletedUnknown } from "../../services/trash.ts";
import { visiblePage } from "../oci/paging.ts";
import { cut, requestedPage } from "./catalog.ts";
import { bodyOf, queryOf, type ApiContext } from "./context.ts";

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

/**
 * The record as listings may show it: with the tags listEnabled shows, or null when it had tags
 * and every one is hidden (its digest is theirs), or the repository is hidden.
 */
function shown(ctx: ApiContext, repository: RepositoryName, record: TrashEntry): TrashEntry | null {
  if (!ctx.authorizer.listable(repository)) return null;
  const tags = record.tags.filter((tag) => ctx.authorizer.listable(repository, tag));
  return record.tags.length > 0 && tags.length === 0 ? null : { ...record, tags };
}

function view(record: TrashEntry): DeletedView {
  return {
    kind: record.kind,
    digest: record.digest,
    tags: record.tags,
    content: contentOf(record),
    mediaType: record.mediaType,
    artifactType: record.artifactType,
    size: record.size,
    storedAs: record.storedAs,
    deleted: record.deletedAt.toISOString(),
    deletedBy: record.deletedBy ? { name: record.deletedBy.name, kind: record.deletedBy.kind } : null,
    expires: record.expiresAt.toISOString(),
  };
}

const cursorText = (record: TrashEntry) => encodeCursor(record.deletedAt.getTime(), record.id);

function cursorOf(text: string | undefined): TrashCursor | undefined {
  const cursor = decodeCursor(text, "time");
  if (cursor === null) return undefined;
  return { deletedAt: new Date(cursor.value), id: cursor.name };
}

export async function getDeleted(ctx: ApiContext): Promise<DeletedList> {
  const repository = repositoryOf(ctx.request.url);
  const page = requestedPage(queryOf(ctx, DeletedListQuery));
  const found = await visiblePage(page, (after, limit) => ctx.deleted.list(repository, { limit, after: cursorOf(after) }), (r) => shown(ctx, repository, r) !== null, cursorText);
  const { shown: rows, next } = cut(page, found, cursorText);
  return { repository, restorableFor: ctx.restorableFor, deleted: rows.map((r) => view(shown(ctx, repository, r)!)), next };
}

export async function postRestore(ctx: ApiContext): Promise<Restored> {
  const repository = repositoryOf(ctx.request.url);
  const body = bodyOf(ctx, RestoreBody);
  const reference = parseReference(body.reference);
  const restored = await ctx.deleted.restore(repository, reference, { force: body.force === true, actor: ctx.actor });
  // The tags listings show: a hidden one restored by digest is back, but not named (attack 17b).
  return { repository, digest: restored.digest, tags: restored.tags.filter((tag) => ctx.authorizer.listable(repository, tag)) };
}

export async function deletePurge(ctx: ApiContext): Promise<Purged> {
  const repository = repositoryOf(ctx.request.url);
  const query = queryOf(ctx, PurgeQuery);
  const reference = query.reference === undefined ? null : parseReference(query.reference);
  // A tag listings hide is answered as one never deleted, and nothing is purged by it: the answer
  // would tell its name existed (attack 17b). Its records go by digest, or with the whole repository.
  if (reference?.kind === "tag" && !ctx.authorizer.listable(repository, reference.tag)) throw deletedUnknown(repository, reference);
  const purged = await ctx.deleted.purge(repository, reference, ctx.actor);
  return { repository, purged: purged.flatMap((r) => { const s = shown(ctx, repository, r); return s ? [view(s)] : []; }) };
}

// The portal's repositories API (api-contract/catalog.ts), and `berth repository`:
//
//   GET    /api/v1/repositories                                   summaries the caller may see
//   GET    /api/v1/repositories/<repository...>                   one summary, with may
//   GET    /api/v1/repositories/<repository...>/tags              tag details
//   GET    /api/v1/repositories/<repository...>/manifests         manifests, newest first
//   GET    /api/v1/repositories/<repository...>/manifests/<ref>   one manifest in full
//   DELETE /api/v1/repositories/<repository...>/tags/<tag>        as DELETE /v2/<name>/manifests/<tag>
//   DELETE /api/v1/repositories/<repository...>/manifests/<digest> as DELETE /v2/<name>/manifests/<digest>
//   DELETE /api/v1/repositories/<repository...>                   every manifest and tag
//   (GET, PATCH …/attributes: repositories.ts)
//
// Repository names hold slashes, so a path is read from the right: a known suffix names the
// sub-resource, the rest is the repository. Lists are cut from visible rows only (visiblePage
// with Authorizer.shows, and for tags and manifests reveals/showsContent: a hidden or read-locked
// tag and the content only it reaches are left out), so a hidden row neither shows nor shortens a page.
import type { FastifyRequest } from "fastify";
import { DEFAULT_PAGE_SIZE, ManifestListQuery, MAX_PAGE_SIZE, RepositoryListQuery, TagListQuery } from "../../api-contract/catalog.ts";
import type { Access } from "../../auth/identity.ts";
import { isDigest, type Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseReference, parseRepositoryName, parseTag, type Reference, type RepositoryName, type Tag } from "../../domain/names.ts";
import { chartKind, type ManifestRow, type RepositorySummaryRow, type SummaryFilter, type TagCursor, type TagRow } from "../../metadata/catalog-types.ts";
import { chartTag, decodeCursor, decodeWalkCursor, encodeCursor, encodeWalkCursor, summaryJson } from "../../services/catalog/catalog-service.ts";
import { visiblePage, type RequestedPage } from "../oci/paging.ts";
import { contentShown, queryOf, type ApiContext } from "./context.ts";
import { REPOSITORIES_PREFIX } from "./repositories.ts";

export type RepositoryPath =
  | { kind: "attributes"; repository: RepositoryName }
  | { kind: "repository"; repository: RepositoryName }
  | { kind: "tags"; repository: RepositoryName }
  | { kind: "tag"; repository: RepositoryName; tag: Tag }
  | { kind: "manifests"; repository: RepositoryName }
  | { kind: "manifest"; repository: RepositoryName; reference: Reference };

function segments(url: string): string[] {
  const path = url.split("?")[0]!;
  const rest = path.startsWith(REPOSITORIES_PREFIX) ? path.slice(REPOSITORIES_PREFIX.length) : "";
  try {
    return rest.split("/").filter((s) => s !== "").map(decodeURIComponent);
  } catch {
    throw new RegistryError("INVALID_REQUEST", "the path is not valid percent-encoding");
  }
}

/** What /api/v1/repositories/<rest> names, for this method. */
export function repositoryPath(method: string, url: string): RepositoryPath {
  const parts = segments(url);
  const last = parts.at(-1);
  const before = parts.at(-2);
  const name = (drop: number) => parseRepositoryName(parts.slice(0, parts.length - drop).join("/"));
  if (last === "attributes" && parts.length > 1) return { kind: "attributes", repository: name(1) };
  if (method === "DELETE") {
    if (before === "tags" && parts.length > 2) return { kind: "tag", repository: name(2), tag: parseTag(last!) };
    if (before === "manifests" && parts.length > 2) {
      if (!isDigest(last!)) throw new RegistryError("DIGEST_INVALID", "delete a manifest by digest (…/manifests/sha256:…); delete a tag at …/tags/<tag>", { reference: last!.slice(0, 200) });
      return { kind: "manifest", repository: name(2), reference: { kind: "digest", digest: last as Digest } };
    }
    return { kind: "repository", repository: name(0) };
  }
  if (last === "tags" && parts.length > 1) return { kind: "tags", repository: name(1) };
  if (last === "manifests" && parts.length > 1) return { kind: "manifests", repository: name(1) };
  if (before === "manifests" && parts.length > 2) return { kind: "manifest", repository: name(2), reference: parseReference(last!) };
  return { kind: "repository", repository: name(0) };
}

/** The access each path needs: a tag or digest is named, so its locks apply as on the OCI routes. */
export const onRepositoryPath = (request: FastifyRequest): Access[] => {
  const path = repositoryPath(request.method, request.url);
  const on = (action: Access["action"], more: Partial<Access> = {}): Access[] => [{ type: "repository", name: path.repository, action, ...more }];
  switch (path.kind) {
    case "attributes":
      return on(request.method === "GET" ? "metadata_read" : "manage");
    case "tag":
      return on("delete", { tag: path.tag });
    case "manifest": {
      const action = request.method === "DELETE" ? "delete" : "pull";
      return on(action, path.reference.kind === "tag" ? { tag: path.reference.tag } : { digest: path.reference.digest });
    }
    default:
      return on(request.method === "DELETE" ? "delete" : "pull");
  }
};

/** `n` (default 100, at most 1000) and the cursor `last`. */
export function requestedPage(query: { n?: string; last?: string }): RequestedPage {
  const n = query.n === undefined ? DEFAULT_PAGE_SIZE : Math.min(Math.max(Number(query.n), 1), MAX_PAGE_SIZE);
  return { limit: n, after: query.last, explicit: true };
}

/** The page's rows and the cursor of the next page (null: no more visible rows). */
export function cut<T>(page: RequestedPage, rows: T[], cursor: (row: T) => string): { shown: T[]; next: string | null } {
  const shown = rows.slice(0, page.limit);
  return { shown, next: rows.length > page.limit && shown.length > 0 ? cursor(shown.at(-1)!) : null };
}

export async function getRepositories(ctx: ApiContext) {
  ctx.signedIn();
  const query = queryOf(ctx, RepositoryListQuery);
  const sort = query.sort ?? "name";
  // Only the part of the registry the caller's scope reaches is read; shows() decides each row.
  const within = ctx.authorizer.pullScope(ctx.who) ?? undefined;
  // A repository with attributes has the kind this caller is shown (summaryFor), which may not be
  // the stored one: a kind filter reads every such repository too and keeps those of that kind.
  const perCallerKind = query.kind !== undefined && ctx.authorizer.anySummaryIsPerCaller();
  const filter: SummaryFilter = { q: query.q, kind: query.kind, within, sort, order: query.order ?? (sort === "name" ? "asc" : "desc"), ...(perCallerKind ? { attributed: "also" } : {}) };
  const page = requestedPage(query);
  const rows = ctx.catalog.rows;
  const cursor = (row: RepositorySummaryRow) => encodeCursor(sort === "name" ? row.name : sort === "pushed" ? (row.pushed?.getTime() ?? 0) : row.size, row.name);
  const asShown = new Map<string, Promise<RepositorySummaryRow>>();
  const shownAs = (row: RepositorySummaryRow) => asShown.get(row.name) ?? asShown.set(row.name, summaryFor(ctx, row)).get(row.name)!;
  const visible = async (row: RepositorySummaryRow) => ctx.authorizer.shows(ctx.who, row.name) && (!perCallerKind || (await shownAs(row)).kind === query.kind);
  const found = await visiblePage(page, (after, limit) => rows.list(filter, decodeCursor(after, sort === "name" ? "string" : sort === "pushed" ? "time" : "number"), limit), visible, cursor);
  const { shown, next } = cut(page, found, cursor);
  const summaries = await Promise.all(shown.map(shownAs));
  return { repositories: summaries.map(summaryJson), total: page.after === undefined && next === null ? shown.length : await countShown(ctx, filter, perCallerKind, shownAs), next };
}

/**
 * How many repositories the list shows this caller. Callers who see everything (or exactly their
 * scope) count in SQL, anyone else counts the names in their scope shows() lets through; under a
 * kind filter, the repositories with attributes are counted one by one by the kind they are shown.
 */
async function countShown(ctx: ApiContext, filter: SummaryFilter, perCallerKind: boolean, shownAs: (row: RepositorySummaryRow) => Promise<RepositorySummaryRow>): Promise<number> {
  const rows = ctx.catalog.rows;
  const plain = perCallerKind ? { ...filter, attributed: "without" as const } : filter;
  let total = ctx.authorizer.mayReadAll(ctx.who) || ctx.authorizer.scopeIsExact(ctx.who) ? await rows.count(plain)
    : (await rows.names(plain)).filter((name) => ctx.authorizer.shows(ctx.who, name)).length;
  if (perCallerKind) {
    for (const name of await rows.names({ ...filter, kind: undefined, attributed: "only" })) {
      if (!ctx.authorizer.shows(ctx.who, name)) continue;
      const row = await rows.summary(name as RepositoryName);
      if (row && (await shownAs(row)).kind === filter.kind) total++;
    }
  }
  return total;
}

/** GET /api/v1/repositories/<repository...>[/tags|/manifests[/<reference>]|/attributes] */
export async function getRepositoryResource(ctx: ApiContext, attributes: (ctx: ApiContext) => Promise<unknown>) {
  const path = repositoryPath("GET", ctx.request.url);
  switch (path.kind) {
    case "attributes":
      return attributes(ctx);
    case "tags":
      return getTags(ctx, path.repository);
    case "manifests":
      return getManifests(ctx, path.repository);
    case "manifest":
      return ctx.catalog.manifest(path.repository, path.reference, (tag) => ctx.authorizer.listable(path.repository, tag), contentShown(ctx, path.repository));
    default:
      return getRepository(ctx, path.repository);
  }
}

/**
 * The summary as this caller may see it. The stored one counts every tag and names the newest
 * whatever its attributes; where the repository or a tag has attributes, the facts a listing
 * states follow Authorizer.shows, as the OCI tags list does (a read lock refuses reads, it hides
 * nothing from a listing; listEnabled hides): the count is of the tags the caller's OCI tags list
 * names, the kind that of the newest of those (a chart's, from the versions it names). What a tag
 * points at follows Authorizer.reveals: `newest` is the newest tag the caller's tags page shows (or
 * the stored untagged newest, if showsContent lets it through), so no hidden or read-locked tag's
 * digest or labels come out. `pushed` is the last push those listings name: the newest named tag's
 * or the newest manifest the caller's manifests list shows (the stored one counts every push, a
 * list-hidden tag's too). That reads the repository's tags: only such repositories pay.
 */
async function summaryFor(ctx: ApiContext, row: RepositorySummaryRow): Promise<RepositorySummaryRow> {
  if (!ctx.authorizer.summaryIsPerCaller(row.name)) return row;
  // A tag pushed again while the walk reads comes again in its second leg (WalkCursor), where it
  // is now: the later sighting wins, and the tags are sorted newest first again (as the walk's
  // order, the tag's name breaking a tie).
  const byName = new Map<string, TagRow>();
  let after: TagCursor | null = null;
  for (;;) {
    const tags = await ctx.catalog.rows.tags(row.name, { sort: "time_desc" }, after, 1000);
    for (const t of tags) if (ctx.authorizer.shows(ctx.who, row.name, t.name)) byName.set(t.name, t);
    if (tags.length < 1000) break;
    after = { by: "time", walk: tags.at(-1)!.walk! };
  }
  const named = [...byName.values()].sort((a, b) => b.updated.getTime() - a.updated.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  const revealed = named.find((t) => ctx.authorizer.reveals(ctx.who, row.name, t.name));
  const untaggedNewest = row.newest && row.newest.tag === null && (await ctx.authorizer.showsContent(ctx.who, row.name, row.newest.digest)) ? row.newest : null;
  let newest: RepositorySummaryRow["newest"] = untaggedNewest;
  if (revealed) {
    newest = { tag: revealed.name, digest: revealed.digest, build: (await ctx.catalog.rows.buildLabels(row.name, [revealed.digest])).get(revealed.digest) ?? { user: null, sha: null, dockerfile: null } };
  }
  // The kind follows the newest manifest, a chart repository's the ways its versions are stored:
  // the newest the caller's listing names (a list-hidden newest's kind is not theirs to learn; with
  // nothing named, nothing says what it holds); a chart's, from the versions the caller is shown.
  let { kind, artifactType } = row;
  const kindOf = named[0]?.digest ?? untaggedNewest?.digest ?? null;
  if (kind.startsWith("chart-")) {
    const shown = (await ctx.catalog.chartVersions(row.name)).filter((c) => ctx.authorizer.shows(ctx.who, row.name, chartTag(c)));
    kind = chartKind(shown.map((c) => c.storedAs)) ?? "artifact";
  } else if (kindOf !== row.newest?.digest) {
    ({ kind, artifactType } = (kindOf ? await ctx.catalog.rows.contentKind(row.name, kindOf as Digest) : null) ?? { kind: "artifact", artifactType: null });
  }
  const manifest = await newestShownManifest(ctx, row.name, named[0]?.updated);
  const times = [named[0]?.updated, manifest?.pushed].filter((d): d is Date => d !== undefined).map((d) => d.getTime());
  return { ...row, kind, artifactType, tags: named.length, newest, pushed: times.length > 0 ? new Date(Math.max(...times)) : null };
}

/** How many manifests newestShownManifest reads at most, newest first (3 pages). */
const NEWEST_SHOWN_WALK = 300;

/**
 * The newest manifest the caller's manifests list shows (Authorizer.showsContent) and pushed after
 * `floor` (a time the summary states anyway: its newest named tag's push), or null. The walk is
 * newest first, so it ends at the first row shown or at the floor: what lies beyond cannot make the
 * summary's `pushed` later. It also ends after NEWEST_SHOWN_WALK rows, so a caller who is shown none
 * of many newer manifests (read-locked or hidden tags cover them) costs a bounded read: then
 * `pushed` is the floor, never a push hidden from the caller, at worst older than a shown one
 * behind those rows.
 */
async function newestShownManifest(ctx: ApiContext, repository: RepositoryName, floor: Date | undefined): Promise<ManifestRow | null> {
  if (!ctx.authorizer.shows(ctx.who, repository)) return null;
  let after: ManifestRow["walk"] | null = null;
  for (let read = 0; read < NEWEST_SHOWN_WALK; ) {
    const rows = await ctx.catalog.rows.manifests(repository, { untagged: false }, after, 100);
    for (const m of rows) {
      if (floor && m.walk.leg === "before" && m.pushed.getTime() <= floor.getTime()) return null;
      if (await ctx.authorizer.showsContent(ctx.who, repository, m.digest)) return m;
    }
    if (rows.length < 100) return null;
    read += rows.length;
    after = rows.at(-1)!.walk;
  }
  return null;
}

async function getRepository(ctx: ApiContext, repository: RepositoryName) {
  const summary = await summaryFor(ctx, await ctx.catalog.summary(repository));
  const may = (action: Access["action"]) => ctx.authorizer.may(ctx.who, { type: "repository", name: repository, action });
  return { ...summaryJson(summary), may: { push: may("push"), delete: may("delete"), manage: may("manage") } };
}

async function knownRepository(ctx: ApiContext, repository: RepositoryName): Promise<void> {
  if (!(await ctx.catalog.rows.summary(repository))) throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
}

async function getTags(ctx: ApiContext, repository: RepositoryName) {
  const query = queryOf(ctx, TagListQuery);
  const sort = query.sort ?? "name";
  const page = requestedPage(query);
  await knownRepository(ctx, repository);
  // By name a cursor is the name; by time, where the walk is (WalkCursor: a tag pushed again mid-walk is not passed over).
  const cursor = (t: TagRow) => (t.walk ? encodeWalkCursor(t.walk) : encodeCursor(t.name, t.name));
  const at = (text: string | undefined): TagCursor | null => {
    if (sort !== "name") {
      const walk = decodeWalkCursor(text);
      return walk && { by: "time", walk };
    }
    const after = decodeCursor(text, "string");
    return after && { by: "name", name: after.name };
  };
  const found = await visiblePage(page, (after, limit) => ctx.catalog.rows.tags(repository, { sort, q: query.q }, at(after), limit), (t) => ctx.authorizer.reveals(ctx.who, repository, t.name), cursor);
  const { shown, next } = cut(page, found, cursor);
  return { tags: await ctx.catalog.tagDetails(repository, shown), next };
}

async function getManifests(ctx: ApiContext, repository: RepositoryName) {
  const query = queryOf(ctx, ManifestListQuery);
  const page = requestedPage(query);
  await knownRepository(ctx, repository);
  const cursor = (m: ManifestRow) => encodeWalkCursor(m.walk);
  const found = await visiblePage(page, (after, limit) => ctx.catalog.rows.manifests(repository, { untagged: query.untagged === "true" }, decodeWalkCursor(after), limit), (m) => ctx.authorizer.showsContent(ctx.who, repository, m.digest), cursor);
  const { shown, next } = cut(page, found, cursor);
  return { manifests: await ctx.catalog.manifestSummaries(repository, shown, (tag) => ctx.authorizer.listable(repository, tag)), next };
}

/** DELETE …/tags/<tag>, …/manifests/<digest>, or the repository: the OCI routes' service calls. */
export async function deleteRepositoryResource(ctx: ApiContext) {
  const path = repositoryPath("DELETE", ctx.request.url);
  if (path.kind === "tag" || path.kind === "manifest") {
    // team/tags/v1 could also be a repository: refuse rather than guess which one goes. Asked only
    // where the caller's grants reach that repository (Authorizer.grants: who may learn it exists);
    // for anyone else it is not there, and a 400 naming it would say that it is.
    const whole = segments(ctx.request.url).join("/");
    const mayKnow = ctx.authorizer.grants(ctx.who, { type: "repository", name: whole, action: "pull" }) || ctx.authorizer.grants(ctx.who, { type: "repository", name: whole, action: "delete" });
    if (mayKnow && (await ctx.catalog.rows.summary(whole as RepositoryName))) {
      throw new RegistryError("INVALID_REQUEST", `ambiguous: ${whole} is a repository too; delete its tags and manifests one by one, or rename the tag's repository`, { repository: whole });
    }
    await ctx.manifests.delete(path.repository, path.kind === "tag" ? { kind: "tag", tag: path.tag } : path.reference, ctx.actor);
    return { deleted: true };
  }
  if (path.kind !== "repository") throw new RegistryError("UNSUPPORTED", "DELETE is not supported here");
  // Each manifest goes as DELETE /v2/<name>/manifests/<digest> would take it: a delete-locked tag
  // covering any of them refuses the whole repository, before anything is deleted.
  const digests = await ctx.catalog.rows.manifestDigests(path.repository);
  await ctx.require(digests.map((digest): Access => ({ type: "repository", name: path.repository, action: "delete", digest })));
  await ctx.manifests.deleteRepository(path.repository, ctx.actor);
  return { deleted: true };
}

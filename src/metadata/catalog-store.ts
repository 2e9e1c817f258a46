// The portal's read models over Kysely (catalog-types.ts; portable SQL, as kysely-store.ts):
// repository summaries, tag and manifest pages; the search index is catalog-search.ts.
//
// A summary is refreshed inside each transaction that records a manifest, tag or chart change for
// it, so it commits with what it summarises; listing then reads one indexed table, whatever the
// registry holds. Its counts (tags, manifests, bytes) move by what the transaction changed
// (SummaryDeltas, told by the row stores); they are counted from the rows only for a repository
// with no summary yet, since counting costs a push in proportion to the repository's size.
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from "kysely";
import type { Digest } from "../domain/digest.ts";
import { parseManifest } from "../domain/manifest.ts";
import { isIndexMediaType } from "../domain/media-types.ts";
import type { RepositoryName } from "../domain/names.ts";
import type {
  BuildLabels, CatalogRows, ManifestRow, RepositoryKind, RepositorySummaryRow, SummaryCursor, SummaryFilter, TagCursor, TagRow, WalkCursor,
} from "./catalog-types.ts";
import { chartKind } from "./catalog-types.ts";
import type { StoredAs } from "./types.ts";
import type { ProvenanceFacts } from "./provenance-types.ts";
import type { Database } from "./schema.ts";
import { holdLock } from "./locks.ts";
import { walkByTime } from "./time-walk.ts";

type Db = Kysely<Database> | Transaction<Database>;
const BUILD_KEYS = { "build.user": "user", "build.sha": "sha", "build.dockerfile": "dockerfile" } as const;
/** Past this many repositories in a caller's scope, a sorted page walks the sort's index (list). */
const SCOPE_SORT_LIMIT = 2000;
/** Keeps IN lists well below every database's parameter limit. */
const CHUNK = 500;

/** A LIKE pattern that matches `text` anywhere, its own % _ and \ taken literally. */
export function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

type SummaryRow = Database["repository_summaries"];

function toSummary(row: SummaryRow): RepositorySummaryRow {
  return {
    name: row.name as RepositoryName,
    kind: row.kind as RepositoryKind,
    artifactType: row.artifact_type,
    tags: Number(row.tags),
    manifests: Number(row.manifests),
    size: Number(row.size),
    pushed: Number(row.pushed_at) > 0 ? new Date(Number(row.pushed_at)) : null,
    newest: row.newest_digest
      ? { tag: row.newest_tag, digest: row.newest_digest as Digest, build: { user: row.build_user, sha: row.build_sha, dockerfile: row.build_dockerfile } }
      : null,
  };
}

/** What the newest top-level manifest is: the provenance indexer's classification, else its media types. */
function kindOf(mediaType: string, artifactType: string | null, body: Uint8Array, facts: ProvenanceFacts["kind"] | null): { kind: RepositoryKind; artifactType: string | null } {
  if (isIndexMediaType(mediaType)) return { kind: "index", artifactType: null };
  if (facts === "image") return { kind: "image", artifactType: null };
  let configType: string | null = null;
  try {
    configType = parseManifest(Buffer.from(body), mediaType).config?.mediaType ?? null;
  } catch {
    configType = null; // stored bytes were parsed at push; never fail a summary over them
  }
  if (facts === null && !artifactType && configType && /container\.image|image\.config/.test(configType)) return { kind: "image", artifactType: null };
  return { kind: "artifact", artifactType: artifactType ?? configType };
}

/** How a transaction moved a repository's counted rows: what its summary adds instead of counting them again. */
export interface SummaryDelta {
  tags: number;
  manifests: number;
  /** The manifests' bytes and the bytes of the blobs they name, each blob once (migration 031). */
  size: number;
}

/**
 * The summary counts' changes, told by the row stores that make them (kysely-store.ts: Manifests,
 * Tags). In a transaction they are summed per repository and applied by its refresh before the
 * commit (KyselyMetadataStore.transaction); outside one, where each write commits alone, they are
 * added to the summary at once (one with no summary yet is counted in full by its next change).
 *
 * With them the blob counter rows (repository_blob_refs, migration 031): in a transaction, summed
 * per blob and taken at its end, by repository and digest, whatever order its pushes and deletes
 * came in (a forced chart push records a manifest, then deletes the one it replaced). Two
 * transactions naming the same blobs then never each hold a row the other waits for (a deadlock
 * on PostgreSQL; locks.ts).
 */
export class SummaryDeltas {
  private readonly db: Db;
  private readonly pending = new Map<string, SummaryDelta>();
  /** Per repository and blob: how many more manifests name it. */
  private readonly named = new Map<string, Map<string, number>>();
  constructor(db: Db) {
    this.db = db;
  }

  /** One manifest more (+1) or fewer (-1) names a blob in the repository. */
  async blobNamed(repository: string, digest: string, by: 1 | -1): Promise<void> {
    if (!this.db.isTransaction) return this.add(repository, { size: await this.moveCounter(repository, digest, by) });
    const blobs = this.named.get(repository) ?? new Map<string, number>();
    blobs.set(digest, (blobs.get(digest) ?? 0) + by);
    this.named.set(repository, blobs);
  }

  /**
   * Moves a blob's counter row by `by`: the blob's bytes when it gains its first reference in the
   * repository (summary sizes count each blob once), minus them when it loses its last, else 0.
   * One row per repository and blob, updated in place, so on PostgreSQL a push and a delete of
   * manifests naming the same blob take turns and each sees the other's count.
   */
  private async moveCounter(repository: string, digest: string, by: number): Promise<number> {
    if (by > 0) {
      const row = await this.db
        .insertInto("repository_blob_refs")
        .values((eb) => ({ repository, digest, refs: by, size: eb.fn.coalesce(eb.selectFrom("blobs").select("size").where("digest", "=", digest), eb.lit(0)) }))
        .onConflict((c) => c.columns(["repository", "digest"]).doUpdateSet((eb) => ({ refs: eb("repository_blob_refs.refs", "+", by) })))
        .returning(["refs", "size"])
        .executeTakeFirstOrThrow();
      return Number(row.refs) === by ? Number(row.size) : 0;
    }
    const row = await this.db
      .updateTable("repository_blob_refs")
      .set((eb) => ({ refs: eb("refs", "-", -by) }))
      .where("repository", "=", repository)
      .where("digest", "=", digest)
      .returning(["refs", "size"])
      .executeTakeFirst();
    if (!row || Number(row.refs) > 0) return 0;
    await this.db.deleteFrom("repository_blob_refs").where("repository", "=", repository).where("digest", "=", digest).execute();
    return -Number(row.size);
  }

  async add(repository: string, delta: Partial<SummaryDelta>): Promise<void> {
    const sum = this.pending.get(repository) ?? { tags: 0, manifests: 0, size: 0 };
    sum.tags += delta.tags ?? 0;
    sum.manifests += delta.manifests ?? 0;
    sum.size += delta.size ?? 0;
    this.pending.set(repository, sum);
    if (!this.db.isTransaction) {
      this.pending.delete(repository);
      await this.db
        .updateTable("repository_summaries")
        .set((eb) => ({ tags: eb("tags", "+", sum.tags), manifests: eb("manifests", "+", sum.manifests), size: eb("size", "+", sum.size) }))
        .where("name", "=", repository)
        .execute();
    }
  }

  /** What the transaction changed, per repository, its counter rows taken first; forgotten here. */
  async take(): Promise<Map<string, SummaryDelta>> {
    // Sorted by code unit (digests and names are ASCII: byte order), as every transaction takes them.
    for (const repository of [...this.named.keys()].sort()) {
      const blobs = this.named.get(repository)!;
      for (const digest of [...blobs.keys()].sort()) {
        const by = blobs.get(digest)!;
        if (by !== 0) await this.add(repository, { size: await this.moveCounter(repository, digest, by) });
      }
    }
    this.named.clear();
    const taken = new Map(this.pending);
    this.pending.clear();
    return taken;
  }
}

export class CatalogStore implements CatalogRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async contentKind(repository: RepositoryName, digest: Digest) {
    const manifest = await this.db.selectFrom("manifests").select(["media_type", "artifact_type", "body"]).where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    if (!manifest) return null;
    const facts = await this.db.selectFrom("provenance").select("kind").where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    return kindOf(manifest.media_type, manifest.artifact_type, manifest.body, (facts?.kind as ProvenanceFacts["kind"] | undefined) ?? null);
  }

  async refresh(repository: RepositoryName, delta?: SummaryDelta): Promise<void> {
    const db = this.db;
    if (delta) {
      // The counts moved by what the transaction changed (SummaryDeltas): a push costs the same
      // in a repository of ten tags as in one of ten thousand.
      const counted = await db
        .updateTable("repository_summaries")
        .set((eb) => ({ tags: eb("tags", "+", delta.tags), manifests: eb("manifests", "+", delta.manifests), size: eb("size", "+", delta.size) }))
        .where("name", "=", repository)
        .returning(["tags", "manifests"])
        .executeTakeFirst();
      if (counted) {
        if (Number(counted.tags) === 0 && Number(counted.manifests) === 0) await db.deleteFrom("repository_summaries").where("name", "=", repository).execute();
        else await db.updateTable("repository_summaries").set(await this.newest(repository)).where("name", "=", repository).execute();
        return;
      }
      // No summary to add to (a new repository, or one a transaction beside this one is creating
      // on PostgreSQL): counted in full, one counter at a time, and after any transaction that
      // added to the row has committed (its row lock), so the count includes what it added.
      // (Outside a transaction, a change appended alone, there is nothing to hold it for.)
      if (db.isTransaction) {
        await holdLock(db, `summary:${repository}`);
        await db.updateTable("repository_summaries").set({ name: repository }).where("name", "=", repository).execute();
      }
    }
    const manifests = await db.selectFrom("manifests").select((eb) => [eb.fn.countAll<number>().as("n"), eb.fn.sum<number>("size").as("bytes")]).where("repository", "=", repository).executeTakeFirstOrThrow();
    const tags = await db.selectFrom("tags").select((eb) => eb.fn.countAll<number>().as("n")).where("repository", "=", repository).executeTakeFirstOrThrow();
    if (Number(manifests.n) === 0 && Number(tags.n) === 0) {
      await db.deleteFrom("repository_summaries").where("name", "=", repository).execute();
      return;
    }
    const blobs = await db
      .selectFrom("blobs")
      .select((eb) => eb.fn.sum<number>("size").as("bytes"))
      .where("digest", "in", (eb) => eb.selectFrom("manifest_refs").select("target_digest").where("repository", "=", repository).where("kind", "=", "blob"))
      .executeTakeFirstOrThrow();
    const row: SummaryRow = {
      name: repository,
      tags: Number(tags.n),
      manifests: Number(manifests.n),
      size: Number(manifests.bytes ?? 0) + Number(blobs.bytes ?? 0),
      ...(await this.newest(repository)),
    };
    const { name: _name, ...update } = row;
    await db.insertInto("repository_summaries").values(row).onConflict((c) => c.column("name").doUpdateSet(update)).execute();
  }

  /** A summary's columns other than its counts: each an indexed read of one row, whatever the repository holds. */
  private async newest(repository: RepositoryName): Promise<Omit<SummaryRow, "name" | "tags" | "manifests" | "size">> {
    const db = this.db;
    const newestTag = await db.selectFrom("tags").select(["tag", "digest", "updated_at"]).where("repository", "=", repository).orderBy("updated_at", "desc").orderBy("tag", "desc").limit(1).executeTakeFirst();
    const newestManifest = await db.selectFrom("manifests").select("created_at").where("repository", "=", repository).orderBy("created_at", "desc").limit(1).executeTakeFirst();
    const newestDigest = newestTag?.digest ?? (await this.newestTopLevel(repository));
    let { kind, artifactType } = (newestDigest ? await this.contentKind(repository, newestDigest as Digest) : null) ?? { kind: "artifact" as RepositoryKind, artifactType: null };
    const charts = chartKind((await db.selectFrom("charts").select("stored_as").distinct().where("repository", "=", repository).execute()).map((r) => r.stored_as as StoredAs));
    if (charts) {
      kind = charts;
      artifactType = null;
    }
    const build = newestDigest ? (await this.buildLabels(repository, [newestDigest as Digest])).get(newestDigest as Digest) : undefined;
    return {
      kind,
      artifact_type: artifactType,
      pushed_at: Math.max(Number(newestManifest?.created_at ?? 0), Number(newestTag?.updated_at ?? 0)),
      newest_tag: newestTag?.tag ?? null,
      newest_digest: newestDigest ?? null,
      build_user: build?.user ?? null,
      build_sha: build?.sha ?? null,
      build_dockerfile: build?.dockerfile ?? null,
    };
  }

  /** The newest manifest that is neither a referrer nor a child of an index in the repository. */
  private async newestTopLevel(repository: RepositoryName): Promise<string | null> {
    const row = await this.db
      .selectFrom("manifests as m")
      .select("m.digest")
      .where("m.repository", "=", repository)
      .where("m.subject", "is", null)
      .where((eb) => eb.not(eb.exists(eb.selectFrom("manifest_refs as r").select("r.target_digest").where("r.repository", "=", repository).whereRef("r.target_digest", "=", "m.digest").where("r.kind", "=", "manifest"))))
      .orderBy("m.created_at", "desc")
      .orderBy("m.digest", "desc")
      .limit(1)
      .executeTakeFirst();
    return row?.digest ?? null;
  }

  async summary(repository: RepositoryName) {
    const row = await this.db.selectFrom("repository_summaries").selectAll().where("name", "=", repository).executeTakeFirst();
    return row ? toSummary(row) : null;
  }

  private filtered(filter: Omit<SummaryFilter, "sort" | "order">, scanScope = false) {
    let query = this.db.selectFrom("repository_summaries");
    if (filter.q) query = query.where(sql<boolean>`name like ${containing(filter.q)} escape '\\'`);
    const attributed = (eb: ExpressionBuilder<Database, "repository_summaries">) => eb("name", "in", eb.selectFrom("repository_attributes").select("repository"));
    if (filter.kind) {
      const kind = filter.kind;
      query = filter.attributed === "also" ? query.where((eb) => eb.or([eb("kind", "=", kind), attributed(eb)])) : query.where("kind", "=", kind);
    }
    if (filter.attributed === "without") query = query.where((eb) => eb.not(attributed(eb)));
    if (filter.attributed === "only") query = query.where(attributed);
    if (filter.within) query = query.where((eb) => inScope(eb, scanScope ? sql`name || ''` : "name", filter.within!));
    return query;
  }

  async list(filter: SummaryFilter, after: SummaryCursor | null, limit: number) {
    const column = filter.sort === "name" ? "name" : filter.sort === "pushed" ? "pushed_at" : "size";
    const direction = filter.order;
    const beyond = direction === "asc" ? ">" : "<";
    // A scope sorted by push or size: reading the whole scope by name and sorting it costs its
    // size (64 ms for 10,000 of 100,000), walking the sort's index and skipping what is outside
    // costs the registry over the scope's share (~1,000 rows for a tenth). The scope's size (a
    // covering-index count, ~1 ms) picks the cheaper; `name || ''` keeps the planner on the walk.
    const scanScope = column !== "name" && filter.within !== undefined && (await this.count({ within: filter.within })) > SCOPE_SORT_LIMIT;
    let query = this.filtered(filter, scanScope).selectAll();
    if (after) {
      query = column === "name"
        ? query.where("name", beyond, after.name)
        : query.where((eb) => eb.or([eb(column, beyond, Number(after.value)), eb.and([eb(column, "=", Number(after.value)), eb("name", beyond, after.name)])]));
    }
    query = column === "name" ? query.orderBy("name", direction) : query.orderBy(column, direction).orderBy("name", direction);
    return (await query.limit(limit).execute()).map(toSummary);
  }

  async count(filter: Omit<SummaryFilter, "sort" | "order">) {
    const row = await this.filtered(filter).select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async names(filter: Omit<SummaryFilter, "sort" | "order">) {
    return (await this.filtered(filter).select("name").execute()).map((r) => r.name);
  }

  async tags(repository: RepositoryName, options: { sort: "name" | "time_desc" | "time_asc"; q?: string }, after: TagCursor | null, limit: number) {
    let base = this.db
      .selectFrom("tags as t")
      .innerJoin("manifests as m", (join) => join.onRef("m.repository", "=", "t.repository").onRef("m.digest", "=", "t.digest"))
      .select(["t.tag", "t.digest", "t.updated_at", "m.media_type", "m.artifact_type"])
      .where("t.repository", "=", repository);
    if (options.q) base = base.where(sql<boolean>`t.tag like ${containing(options.q)} escape '\\'`);
    type Row = Awaited<ReturnType<typeof base.execute>>[number];
    const tagRow = (r: Row, walk: WalkCursor | null): TagRow => ({ name: r.tag, digest: r.digest as Digest, mediaType: r.media_type, artifactType: r.artifact_type, updated: new Date(Number(r.updated_at)), walk });
    if (options.sort === "name") {
      // Names do not move: a tag deleted and set again is where it was.
      if (after?.by === "name") base = base.where("t.tag", ">", after.name);
      return (await base.orderBy("t.tag").limit(limit).execute()).map((r) => tagRow(r, null));
    }
    const newest = async () => (await this.db.selectFrom("tags").select((eb) => eb.fn.max("updated_at").as("at")).where("repository", "=", repository).executeTakeFirst())?.at;
    const rows = await walkByTime(
      { time: "t.updated_at", key: "t.tag", order: options.sort === "time_desc" ? "desc" : "asc" },
      after?.by === "time" ? after.walk : null,
      newest,
      (where, direction, n) => base.where(where).orderBy("t.updated_at", direction).orderBy("t.tag", direction).limit(n).execute(),
      (r) => ({ value: Number(r.updated_at), name: r.tag }),
      limit,
    );
    return rows.map(({ row, walk }) => tagRow(row, walk));
  }

  async manifests(repository: RepositoryName, options: { untagged: boolean }, after: WalkCursor | null, limit: number) {
    let base = this.db
      .selectFrom("manifests as m")
      .select(["m.digest", "m.media_type", "m.artifact_type", "m.size", "m.subject", "m.created_at"])
      .where("m.repository", "=", repository);
    if (options.untagged) base = base.where((eb) => eb.not(eb.exists(eb.selectFrom("tags as t").select("t.tag").where("t.repository", "=", repository).whereRef("t.digest", "=", "m.digest"))));
    const newest = async () => (await this.db.selectFrom("manifests").select((eb) => eb.fn.max("created_at").as("at")).where("repository", "=", repository).executeTakeFirst())?.at;
    const rows = await walkByTime(
      { time: "m.created_at", key: "m.digest", order: "desc" },
      after,
      newest,
      (where, direction, n) => base.where(where).orderBy("m.created_at", direction).orderBy("m.digest", direction).limit(n).execute(),
      (r) => ({ value: Number(r.created_at), name: r.digest }),
      limit,
    );
    return rows.map(({ row: r, walk }): ManifestRow => ({
      digest: r.digest as Digest, mediaType: r.media_type, artifactType: r.artifact_type, size: Number(r.size), subject: r.subject as Digest | null, pushed: new Date(Number(r.created_at)), walk,
    }));
  }

  async manifestDigests(repository: RepositoryName) {
    return (await this.db.selectFrom("manifests").select("digest").where("repository", "=", repository).orderBy("digest").execute()).map((r) => r.digest as Digest);
  }

  async tagsOf(repository: RepositoryName, digests: readonly Digest[]) {
    const found = new Map<Digest, string[]>(digests.map((d) => [d, []]));
    for (const part of chunks(digests)) {
      const rows = await this.db.selectFrom("tags").select(["tag", "digest"]).where("repository", "=", repository).where("digest", "in", part).orderBy("tag").execute();
      for (const r of rows) found.get(r.digest as Digest)?.push(r.tag);
    }
    return found;
  }

  async tagsAt(manifests: readonly { repository: string; digest: string }[]) {
    const found = new Map<string, string[]>(manifests.map((m) => [`${m.repository}@${m.digest}`, []]));
    for (const part of chunks(manifests)) {
      const rows = await this.db.selectFrom("tags").select(["repository", "tag", "digest"]).where((eb) => atAny(eb, "repository", "digest", part)).orderBy("tag").execute();
      for (const r of rows) found.get(`${r.repository}@${r.digest}`)?.push(r.tag);
    }
    return found;
  }

  async contentSizes(repository: RepositoryName, digests: readonly Digest[]) {
    const sizes = new Map<Digest, number>();
    for (const part of chunks(digests)) {
      // The manifests, their children, and the distinct blobs either references.
      const children = await this.db.selectFrom("manifest_refs").select(["manifest_digest", "target_digest"]).where("repository", "=", repository).where("manifest_digest", "in", part).where("kind", "=", "manifest").execute();
      const all = [...new Set([...part, ...children.map((c) => c.target_digest)])];
      const own = new Map<string, number>();
      const blobsOf = new Map<string, Map<string, number>>();
      for (const some of chunks(all)) {
        for (const r of await this.db.selectFrom("manifests").select(["digest", "size"]).where("repository", "=", repository).where("digest", "in", some).execute()) own.set(r.digest, Number(r.size));
        const refs = await this.db
          .selectFrom("manifest_refs as r")
          .innerJoin("blobs as b", "b.digest", "r.target_digest")
          .select(["r.manifest_digest", "r.target_digest", "b.size"])
          .where("r.repository", "=", repository)
          .where("r.manifest_digest", "in", some)
          .where("r.kind", "=", "blob")
          .execute();
        for (const r of refs) {
          if (!blobsOf.has(r.manifest_digest)) blobsOf.set(r.manifest_digest, new Map());
          blobsOf.get(r.manifest_digest)!.set(r.target_digest, Number(r.size));
        }
      }
      for (const digest of part) {
        const members = [digest, ...children.filter((c) => c.manifest_digest === digest).map((c) => c.target_digest)];
        const blobs = new Map<string, number>();
        for (const m of members) for (const [d, s] of blobsOf.get(m) ?? []) blobs.set(d, s);
        sizes.set(digest, members.reduce((sum, m) => sum + (own.get(m) ?? 0), 0) + [...blobs.values()].reduce((a, b) => a + b, 0));
      }
    }
    return sizes;
  }

  async signed(repository: RepositoryName, digests: readonly Digest[]) {
    const found = new Set<Digest>();
    for (const part of chunks(digests)) {
      const rows = await this.db.selectFrom("provenance").select("subject").where("kind", "=", "signature").where("repository", "=", repository).where("subject", "in", part).execute();
      for (const r of rows) found.add(r.subject as Digest);
    }
    return found;
  }

  async buildLabels(repository: RepositoryName, digests: readonly Digest[]) {
    const found = new Map<Digest, BuildLabels>();
    for (const part of chunks(digests)) {
      const rows = await this.db
        .selectFrom("search_entries")
        .select(["digest", "key", "value"])
        .where("repository", "=", repository)
        .where("digest", "in", part)
        .where("source", "=", "label")
        .where("key", "in", Object.keys(BUILD_KEYS))
        .orderBy("origin")
        .execute();
      for (const r of rows) {
        const labels = found.get(r.digest as Digest) ?? { user: null, sha: null, dockerfile: null };
        const field = BUILD_KEYS[r.key as keyof typeof BUILD_KEYS];
        labels[field] ??= r.value;
        found.set(r.digest as Digest, labels);
      }
    }
    return found;
  }
}

/** Rows at any of these (repository, digest) pairs: an OR of index lookups. */
export function atAny(eb: any, repository: string, digest: string, pairs: readonly { repository: string; digest: string }[]) {
  if (pairs.length === 0) return sql<boolean>`1 = 0`;
  return eb.or(pairs.map((p) => eb.and([eb(repository, "=", p.repository), eb(digest, "=", p.digest)])));
}

/** Names under "team/*" (and team itself) or equal to an exact pattern, as matchesPattern reads them; an index range each. */
export function inScope(eb: any, column: string | ReturnType<typeof sql>, patterns: readonly string[]) {
  if (patterns.length === 0) return sql<boolean>`1 = 0`;
  return eb.or(patterns.flatMap((p) => {
    if (!p.endsWith("/*")) return [eb(column, "=", p)];
    const prefix = p.slice(0, -1);
    return [eb.and([eb(column, ">=", prefix), eb(column, "<", `${prefix}\u{10ffff}`)]), eb(column, "=", p.slice(0, -2))];
  }));
}

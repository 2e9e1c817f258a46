// The portal's read models over Kysely (catalog-types.ts; portable SQL, as kysely-store.ts):
// repository summaries, tag and manifest pages, and the search index.
//
// A summary is refreshed inside each transaction that records a manifest, tag or chart change for
// it, so it commits with what it summarises; listing then reads one indexed table, whatever the
// registry holds. Its counts (tags, manifests, bytes) move by what the transaction changed
// (SummaryDeltas, told by the row stores); they are counted from the rows only for a repository
// with no summary yet, since counting costs a push in proportion to the repository's size.
import { sql, type ExpressionBuilder, type Insertable, type Kysely, type Transaction } from "kysely";
import type { Digest } from "../domain/digest.ts";
import { parseManifest } from "../domain/manifest.ts";
import { isIndexMediaType } from "../domain/media-types.ts";
import type { RepositoryName } from "../domain/names.ts";
import type {
  BuildLabels, CatalogRows, ManifestRow, RepositoryKind, RepositorySummaryRow, SearchEntry, SearchHit, SearchQuery, SearchRows, SearchSource, SearchTerm,
  SummaryCursor, SummaryFilter, TagCursor, TagRow, WalkCursor,
} from "./catalog-types.ts";
import { chartKind } from "./catalog-types.ts";
import type { StoredAs } from "./types.ts";
import type { ProvenanceFacts } from "./provenance-types.ts";
import type { Database } from "./schema.ts";
import { holdLock } from "./locks.ts";
import { familyOf } from "./migrations/portable.ts";
import { foldedHex } from "./search-entries.ts";
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

function chunks<T>(items: readonly T[]): T[][] {
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
 */
export class SummaryDeltas {
  private readonly db: Db;
  private readonly pending = new Map<string, SummaryDelta>();
  constructor(db: Db) {
    this.db = db;
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

  /** What the transaction changed, per repository; forgotten here. */
  take(): Map<string, SummaryDelta> {
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

type EntryRow = Insertable<Database["search_entries"]>;

export class SearchIndex implements SearchRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async replace(repository: RepositoryName, origin: Digest, entries: readonly SearchEntry[]) {
    await this.forget(repository, origin);
    const rows: EntryRow[] = entries.map((e) => ({ repository, digest: e.digest, origin, source: e.source, key: e.key, value: e.value, folded: foldedHex(e.value) }));
    for (const part of chunks(rows)) if (part.length > 0) await this.db.insertInto("search_entries").values(part).execute();
  }

  async forget(repository: RepositoryName, origin: Digest) {
    await this.db.deleteFrom("search_entries").where("repository", "=", repository).where("origin", "=", origin).execute();
  }

  async entriesOf(repository: RepositoryName, digest: Digest, source: SearchSource) {
    const rows = await this.db.selectFrom("search_entries").select(["digest", "source", "key", "value"]).where("repository", "=", repository).where("digest", "=", digest).where("source", "=", source).orderBy("key").execute();
    return rows.map((r) => ({ digest: r.digest as Digest, source: r.source as SearchSource, key: r.key, value: r.value }));
  }

  async find(query: SearchQuery, after: { repository: string; digest: string } | null, limit: number): Promise<SearchHit[]> {
    // The first term drives the query (an index range), the rest are checked per hit: an equality
    // (an index range on the value) drives before a `contains` (a trigram lookup), and the longest
    // `contains` before shorter ones (fewer values hold it; under 3 characters none is indexed).
    const contains = query.terms.filter((t) => t.match !== "equals").sort((a, b) => [...b.value].length - [...a.value].length);
    const ordered = [...query.terms.filter((t) => t.match === "equals"), ...contains];
    // A `contains` term that matches a large share of the values would make the page the sort of
    // all its hits (600 ms for one matching 100,000 values): then no term drives, and the
    // manifests are walked in the page's order, each checked against every term, until the page
    // is full. An equality term always drives (it is an index range on its value).
    const drives = ordered[0] !== undefined && !(ordered[0].match === "contains" && (await this.isBroad(ordered[0], limit)));
    const [first, rest] = drives ? [ordered[0]!, ordered.slice(1)] : [null, ordered];
    // Without a driving term: the manifests in key order (joined to themselves, so `e` and `m` name
    // the same columns on every path); without any term, the images and indexes as the provenance
    // indexer classified them.
    let base = first
      ? this.db.selectFrom("search_entries as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest")).where((eb) => this.driving(eb, first))
      : ordered.length > 0
        ? this.db.selectFrom("manifests as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest"))
        : this.db.selectFrom("provenance as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest")).where("e.kind", "in", ["image", "index"]);
    for (const term of rest) {
      base = base.where((eb) => eb.exists(eb.selectFrom("search_entries as x").select("x.digest").whereRef("x.repository", "=", "e.repository").whereRef("x.digest", "=", "e.digest").where((inner) => matching(inner, "x", term, true))));
    }
    if (query.unsigned) {
      base = base.where((eb) => eb.not(eb.exists(eb.selectFrom("provenance as s").select("s.digest").where("s.kind", "=", "signature").whereRef("s.repository", "=", "e.repository").whereRef("s.subject", "=", "e.digest"))));
    }
    if (query.unverified) {
      const { trust, now } = query.unverified;
      // One range of signature_verdicts_subject (migration 030) per manifest.
      base = base.where((eb) => eb.not(eb.exists(eb.selectFrom("signature_verdicts as v").select("v.digest")
        .whereRef("v.repository", "=", "e.repository").whereRef("v.subject", "=", "e.digest")
        .where("v.verified", "=", 1).where("v.trust", "=", trust)
        .where((w) => w.or([w("v.until", "is", null), w("v.until", ">", now)])))));
    }
    if (query.within) base = base.where((eb) => inScope(eb, "e.repository", query.within!));
    if (query.repositoryPrefix) base = base.where("e.repository", ">=", query.repositoryPrefix).where("e.repository", "<", `${query.repositoryPrefix}\u{10ffff}`);
    if (after) base = base.where((eb) => eb.or([eb("e.repository", ">", after.repository), eb.and([eb("e.repository", "=", after.repository), eb("e.digest", ">", after.digest)])]));
    const rows = await base
      .select(["e.repository", "e.digest", "m.media_type", "m.created_at"])
      .distinct()
      .orderBy("e.repository")
      .orderBy("e.digest")
      .limit(limit)
      .execute();
    return rows.map((r) => ({ repository: r.repository as RepositoryName, digest: r.digest as Digest, mediaType: r.media_type, pushed: new Date(Number(r.created_at)) }));
  }

  /**
   * Whether enough values hold the `contains` term's text for a page of `limit` to walk the
   * manifests instead (BROAD_PER_HIT × limit), counted no further than that:
   * SQLite from the trigram table (a superset, over every key, which is enough for a choice of
   * plan), PostgreSQL with the term's own condition (its trigram index serves it).
   */
  private async isBroad(term: SearchTerm, limit: number): Promise<boolean> {
    const broad = BROAD_PER_HIT * limit;
    if ([...term.value].length < 3) return false; // no trigram to count with: the LIKE drives, as before
    const hits = familyOf(this.db as Kysely<unknown>) === "sqlite"
      ? sql<{ n: number }>`select count(*) as n from (select rowid from search_trigrams where search_trigrams match ${`"${term.value.replaceAll('"', '""')}"`} limit ${broad})`
      : sql<{ n: number }>`select count(*) as n from (${this.db.selectFrom("search_entries as e").select("e.id").where((eb) => matching(eb, "e", term)).limit(broad)}) as hits`;
    const { rows } = await hits.execute(this.db);
    return Number(rows[0]?.n ?? 0) >= broad;
  }

  /**
   * The driving term's condition. A `contains` part of 3 characters or more is first looked up in
   * the trigram index: only the entries whose value holds every trigram of the part (a superset of
   * the LIKE that still follows, so the answer is the LIKE's alone). SQLite: the FTS5 trigram table
   * of migration 012, by row id; the (source, key) condition is then kept off its index (as for a
   * pinned row), or the planner walks every value of the key and only filters by the id list
   * (50 ms instead of 3 over 100,000 values). PostgreSQL needs nothing here: its GIN
   * `gin_trgm_ops` index (migration 012) serves the LIKE itself. A part under 3 characters has no
   * trigram: the LIKE scans the key's values, as before.
   */
  private driving(eb: any, term: SearchTerm) {
    if (term.match !== "contains" || [...term.value].length < 3 || familyOf(this.db as Kysely<unknown>) !== "sqlite") return matching(eb, "e", term);
    const phrase = `"${term.value.replaceAll('"', '""')}"`;
    return eb.and([matching(eb, "e", term, true), eb("e.id", "in", sql`(select rowid from search_trigrams where search_trigrams match ${phrase})`)]);
  }

  async matches(hits: readonly SearchHit[], terms: readonly SearchTerm[]) {
    const found = new Map<string, SearchEntry[]>(hits.map((h) => [`${h.repository}@${h.digest}`, []]));
    if (terms.length === 0) return found;
    // One query per 500 hits, whatever repositories they are in (one per repository cost 200 ms a page).
    for (const part of chunks(hits)) {
      const rows = await this.db
        .selectFrom("search_entries as e")
        .select(["e.repository", "e.digest", "e.source", "e.key", "e.value"])
        .distinct()
        .where((eb) => atAny(eb, "e.repository", "e.digest", part))
        .where((eb) => eb.or(terms.map((t) => matching(eb, "e", t, true))))
        .orderBy("e.source")
        .orderBy("e.key")
        .orderBy("e.value")
        .execute();
      for (const r of rows) found.get(`${r.repository}@${r.digest}`)?.push({ digest: r.digest as Digest, source: r.source as SearchSource, key: r.key, value: r.value });
    }
    return found;
  }
}

/**
 * Hits per row of the page from which a `contains` term stops driving the search. Walking the
 * manifests in order checks about limit / share of them for a page; sorting the hits costs their
 * number: the two meet near sqrt(limit × manifests), 3,000 for a page of 100 among 100,000.
 */
const BROAD_PER_HIT = 30;

/** Rows at any of these (repository, digest) pairs: an OR of index lookups. */
function atAny(eb: any, repository: string, digest: string, pairs: readonly { repository: string; digest: string }[]) {
  if (pairs.length === 0) return sql<boolean>`1 = 0`;
  return eb.or(pairs.map((p) => eb.and([eb(repository, "=", p.repository), eb(digest, "=", p.digest)])));
}

/** Names under "team/*" (and team itself) or equal to an exact pattern, as matchesPattern reads them; an index range each. */
function inScope(eb: any, column: string | ReturnType<typeof sql>, patterns: readonly string[]) {
  if (patterns.length === 0) return sql<boolean>`1 = 0`;
  return eb.or(patterns.flatMap((p) => {
    if (!p.endsWith("/*")) return [eb(column, "=", p)];
    const prefix = p.slice(0, -1);
    return [eb.and([eb(column, ">=", prefix), eb(column, "<", `${prefix}\u{10ffff}`)]), eb(column, "=", p.slice(0, -2))];
  }));
}

/**
 * One term as a condition on the search_entries row `alias` (e or x). `ofDigest`: the row is
 * already pinned to a (repository, digest); `source || ''` then keeps the planner off the
 * (source, key, value) index, which for a `contains` term would scan every entry of the key
 * once per digest (7 s for a 100-hit page over 100,000 manifests) instead of reading ~5 rows.
 */
function matching(eb: any, alias: "e" | "x", term: SearchTerm, ofDigest = false) {
  const col = (name: string) => `${alias}.${name}`;
  const source = ofDigest ? sql`${sql.ref(col("source"))} || ''` : col("source");
  const same = [eb(source, "=", term.source), eb(col("key"), "=", term.key)];
  if (term.match === "contains") return eb.and([...same, sql<boolean>`${sql.ref(col("value"))} like ${containing(term.value)} escape '\\'`]);
  const hex = /^[0-9a-fA-F]{7,}$/.test(term.value) ? term.value.toLowerCase() : null;
  if (!hex) return eb.and([...same, eb(col("value"), "=", term.value)]);
  // As git abbreviates a commit: the stored hex value starts with the given digits.
  return eb.and([...same, eb(col("folded"), ">=", hex), eb(col("folded"), "<", `${hex}g`)]);
}

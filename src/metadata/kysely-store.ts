// MetadataStore over Kysely. Only portable SQL: the same code serves SQLite (embedded default)
// and PostgreSQL. Each part is a small class over a Kysely handle, which is either the database
// or an open transaction.
import { Kysely, sql, type ExpressionBuilder, type Transaction } from "kysely";
import { Migrator } from "kysely/migration";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import type { Change, ChangeActor } from "../domain/changes.ts";
import { WebhookStore } from "./webhook-store.ts";
import { CatalogStore, SummaryDeltas } from "./catalog-store.ts";
import { SearchIndex } from "./catalog-search.ts";
import { ChangeStore } from "./change-store.ts";
import { identityParts } from "./identity-store.ts";
import { Jobs } from "./job-store.ts";
import { TagRules } from "./tag-rule-store.ts";
import { Trash } from "./trash-store.ts";
import { Quotas } from "./quota-store.ts";
import { RetentionStore } from "./retention-store.ts";
import { provenanceParts } from "./provenance-store.ts";
import { uploadParts } from "./upload-store.ts";
import { migrations } from "./migrations/index.ts";
import { ReusedQuery } from "./reused-query.ts";
import { exclusively, holdKeyLock, holdSharedKeyLock } from "./locks.ts";
import { slices } from "./slices.ts";
import { familyOf } from "./migrations/portable.ts";
import type { Database } from "./schema.ts";
import type { ChartMetadata } from "../domain/chart.ts";
import type {
  ChartRecord, ChartRows, StoredAs,
  BlobLinkRows, BlobRows, ManifestRecord, ManifestRows, ManifestSummary, MetadataParts, MetadataStore,
  Page, RepositoryRows, TagRows, TransactionOptions,
} from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;
const BATCH = 500;
/** Digests are ASCII: code unit order is byte order. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** A refresh whose counted rows did not move (a tag set again, a chart change). */
const UNCOUNTED = { tags: 0, manifests: 0, size: 0 } as const;

class Repositories implements RepositoryRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async ensure(name: RepositoryName) {
    await this.db.insertInto("repositories").values({ name, created_at: Date.now() }).onConflict((c) => c.column("name").doNothing()).execute();
  }
  async exists(name: RepositoryName) {
    return (await this.db.selectFrom("repositories").select("name").where("name", "=", name).executeTakeFirst()) !== undefined;
  }
  async list(page: Page) {
    let query = this.db.selectFrom("repositories").select("name").orderBy("name").limit(page.limit);
    if (page.after !== undefined) query = query.where("name", ">", page.after);
    return (await query.execute()).map((r) => r.name as RepositoryName);
  }
  async hold(name: RepositoryName) {
    if (writersOverlap(this.db)) await holdKeyLock(this.db, "repository", name);
  }
}

class Blobs implements BlobRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async record(digest: Digest, size: number, objectKey?: string) {
    await this.db.insertInto("blobs").values({ digest, size, created_at: Date.now(), object_key: objectKey ?? null }).onConflict((c) => c.column("digest").doNothing()).execute();
  }
  async objectKey(digest: Digest) {
    const row = await this.db.selectFrom("blobs").select("object_key").where("digest", "=", digest).executeTakeFirst();
    return row ? row.object_key : undefined;
  }
  async relocate(digest: Digest, objectKey: string | null) {
    await this.db.updateTable("blobs").set({ object_key: objectKey }).where("digest", "=", digest).execute();
  }
  async names(objectKey: string) {
    return (await this.db.selectFrom("blobs").select("digest").where("object_key", "=", objectKey).limit(1).executeTakeFirst()) !== undefined;
  }
  async size(digest: Digest) {
    const row = await this.db.selectFrom("blobs").select("size").where("digest", "=", digest).executeTakeFirst();
    return row ? Number(row.size) : null;
  }
  async recordedAt(digest: Digest) {
    const row = await this.db.selectFrom("blobs").select("created_at").where("digest", "=", digest).executeTakeFirst();
    return row ? new Date(Number(row.created_at)) : null;
  }
  async forget(digest: Digest) {
    await this.db.deleteFrom("blobs").where("digest", "=", digest).execute();
  }
  async hold(digest: Digest) {
    await holdKeyLock(this.db, "blob", digest);
  }
  async isReferenced(digest: Digest) {
    const link = await this.db.selectFrom("blob_links").select("digest").where("digest", "=", digest).limit(1).executeTakeFirst();
    if (link) return true;
    const ref = await this.db.selectFrom("manifest_refs").select("target_digest").where("target_digest", "=", digest).limit(1).executeTakeFirst();
    if (ref) return true;
    // A soft-deleted manifest's blobs stay until its record is purged (trash-store.ts): their
    // files, not their links (pruneUnreferenced).
    const trashed = await this.db.selectFrom("trash_refs").select("target_digest").where("target_digest", "=", digest).limit(1).executeTakeFirst();
    return trashed !== undefined;
  }
  async collectable(before: Date, page: Page) {
    const rows = await this.db
      .selectFrom("blobs as b")
      .select("b.digest")
      .where("b.created_at", "<", before.getTime())
      .where("b.digest", ">", page.after ?? "")
      .where((eb) =>
        eb.not(eb.exists(eb.selectFrom("blob_links as l").select("l.digest").whereRef("l.digest", "=", "b.digest").where("l.linked_at", ">=", before.getTime()))),
      )
      .where((eb) => eb.not(eb.exists(eb.selectFrom("manifest_refs as r").select("r.target_digest").whereRef("r.target_digest", "=", "b.digest"))))
      .where((eb) => eb.not(eb.exists(eb.selectFrom("trash_refs as t").select("t.target_digest").whereRef("t.target_digest", "=", "b.digest"))))
      .orderBy("b.digest")
      .limit(page.limit)
      .execute();
    return rows.map((r) => r.digest as Digest);
  }
  async *all() {
    let after = "";
    for (;;) {
      const rows = await this.db.selectFrom("blobs").select(["digest", "size"]).where("digest", ">", after).orderBy("digest").limit(BATCH).execute();
      for (const row of rows) yield { digest: row.digest as Digest, size: Number(row.size) };
      if (rows.length < BATCH) return;
      after = rows.at(-1)!.digest;
    }
  }
}

/**
 * The later of a time column and `now` (portable: SQLite's max() and PostgreSQL's greatest()
 * differ): a time a push writes is the last push, so a clock behind the one that wrote it must
 * not move it back.
 */
function later(column: string, now: number) {
  return sql<number>`case when ${sql.ref(column)} < ${now} then ${now} else ${sql.ref(column)} end`;
}

class BlobLinks implements BlobLinkRows {
  private readonly db: Db;
  /** Every HEAD and GET of a blob asks this (reused-query.ts). */
  private readonly linked;
  /** linked, with the blob's row (left joined: a link without one reads as "no row"), on S3 and Azure. */
  private readonly linkedWithKey;
  constructor(db: Db) {
    this.db = db;
    this.linked = new ReusedQuery(db, (repository: string, digest: string) =>
      db.selectFrom("blob_links").select(["digest", "linked_at"]).where("repository", "=", repository).where("digest", "=", digest),
    );
    this.linkedWithKey = new ReusedQuery(db, (repository: string, digest: string) =>
      db
        .selectFrom("blob_links as l")
        .leftJoin("blobs as b", "b.digest", "l.digest")
        .select(["l.linked_at", "b.digest as row", "b.object_key"])
        .where("l.repository", "=", repository)
        .where("l.digest", "=", digest),
    );
  }
  async link(repository: RepositoryName, digest: Digest) {
    await this.db
      .insertInto("blob_links")
      .values({ repository, digest, linked_at: Date.now() })
      // gc's grace counts from it: never moved back by a process with a late clock.
      .onConflict((c) => c.columns(["repository", "digest"]).doUpdateSet({ linked_at: later("blob_links.linked_at", Date.now()) }))
      .execute();
  }
  async isLinked(repository: RepositoryName, digest: Digest) {
    return (await this.linked.first(repository, digest)) !== undefined;
  }
  async seen(repository: RepositoryName, digest: Digest, staleBefore: Date | null) {
    const link = await this.linked.first(repository, digest);
    return link !== undefined && (await this.refreshed(repository, digest, Number(link.linked_at), staleBefore));
  }
  async seenWithKey(repository: RepositoryName, digest: Digest, staleBefore: Date | null) {
    const link = await this.linkedWithKey.first(repository, digest);
    if (link === undefined || !(await this.refreshed(repository, digest, Number(link.linked_at), staleBefore))) return null;
    return { objectKey: link.row === null ? undefined : link.object_key };
  }
  /** Whether the link read (written at `linkedAt`) still stands, written again when stale (seen). */
  private async refreshed(repository: RepositoryName, digest: Digest, linkedAt: number, staleBefore: Date | null): Promise<boolean> {
    if (staleBefore === null || linkedAt >= staleBefore.getTime()) return true;
    // Gone meanwhile (gc pruned it): not linked. PostgreSQL: a prune waiting on this row re-checks
    // its time after this commits, and keeps the link.
    const result = await this.db.updateTable("blob_links").set({ linked_at: later("linked_at", Date.now()) }).where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  async unlink(repository: RepositoryName, digest: Digest) {
    const result = await this.db.deleteFrom("blob_links").where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  async linking(digest: Digest, limit: number) {
    const rows = await this.db.selectFrom("blob_links").select("repository").where("digest", "=", digest).orderBy("repository").limit(limit).execute();
    return rows.map((r) => r.repository as RepositoryName);
  }
  async pruneUnreferenced(before: Date) {
    // Only live manifests keep a link. A soft-deleted one's blobs keep their files (trash_refs
    // count in isReferenced and collectable), not their links: a blob only deleted content names
    // is then 404 by digest and cannot be mounted from here, as after a final delete; a restore
    // links it again (trash-store.ts unlinked).
    const noReference = (eb: ExpressionBuilder<{ l: Database["blob_links"] } & Database, "l">) =>
      eb.not(eb.exists(eb.selectFrom("manifest_refs as r").select("r.target_digest").whereRef("r.target_digest", "=", "l.digest").whereRef("r.repository", "=", "l.repository")));
    const unreferenced = (db: Db) => db.deleteFrom("blob_links as l").where("l.linked_at", "<", before.getTime()).where(noReference);
    if (familyOf(this.db as Kysely<unknown>) !== "postgres" || this.db.isTransaction) return Number((await unreferenced(this.db).executeTakeFirst()).numDeletedRows);
    // PostgreSQL: a manifest push that checked this link and is about to commit references to it
    // is invisible to one bulk DELETE, which would unlink a blob its manifest then names. So one
    // link at a time, under its digest's lock (blobs.hold), which the push holds until it
    // commits: the DELETE then sees its references, or the push sees the link gone (its check
    // fails, as on SQLite, where writers never interleave).
    let removed = 0;
    let after = { repository: "", digest: "" };
    for (;;) {
      // Those unreferenced now; each is checked again under its lock.
      const candidates = await this.db
        .selectFrom("blob_links as l")
        .select(["l.repository", "l.digest"])
        .where("l.linked_at", "<", before.getTime())
        .where(noReference)
        .where((eb) => eb.or([eb("l.repository", ">", after.repository), eb.and([eb("l.repository", "=", after.repository), eb("l.digest", ">", after.digest)])]))
        .orderBy("l.repository")
        .orderBy("l.digest")
        .limit(BATCH)
        .execute();
      for (const link of candidates) {
        removed += await (this.db as Kysely<Database>).transaction().execute(async (trx) => {
          await holdKeyLock(trx, "blob", link.digest);
          const result = await unreferenced(trx).where("l.repository", "=", link.repository).where("l.digest", "=", link.digest).executeTakeFirst();
          return Number(result.numDeletedRows);
        });
      }
      if (candidates.length < BATCH) return removed;
      after = candidates.at(-1)!;
    }
  }
  async *all() {
    let after = { repository: "", digest: "" };
    for (;;) {
      const rows = await this.db
        .selectFrom("blob_links")
        .select(["repository", "digest"])
        .where((eb) => eb.or([eb("repository", ">", after.repository), eb.and([eb("repository", "=", after.repository), eb("digest", ">", after.digest)])]))
        .orderBy("repository")
        .orderBy("digest")
        .limit(BATCH)
        .execute();
      for (const row of rows) yield { repository: row.repository as RepositoryName, digest: row.digest as Digest };
      if (rows.length < BATCH) return;
      after = rows.at(-1)!;
    }
  }
}

/**
 * Whether write transactions run side by side (PostgreSQL), so the repository, tag and manifest
 * locks (locks.ts) must be taken. On SQLite every write transaction already runs alone (BEGIN
 * IMMEDIATE, across processes too), and these are taken on every push and delete: the lock row's
 * write would be pure cost (a tag delete measured 18% more CPU with them).
 */
function writersOverlap(db: Db): boolean {
  return familyOf(db as Kysely<unknown>) === "postgres";
}

/**
 * TagRows.hold and ManifestRows.hold: the repository's lock shared (a whole repository's delete
 * takes it exclusive), then each tag's or manifest's lock, sorted, as locks.ts orders every taker.
 */
async function holdWithin(db: Db, repository: RepositoryName, kind: "tag" | "manifest", keys: readonly string[]): Promise<void> {
  if (!writersOverlap(db)) return;
  await holdSharedKeyLock(db, "repository", repository);
  for (const key of [...new Set(keys)].sort()) await holdKeyLock(db, kind, repository, key);
}

type ManifestRow = Database["manifests"];

function toSummary(row: Omit<ManifestRow, "body">): ManifestSummary {
  return {
    repository: row.repository as RepositoryName,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: Number(row.size),
    subject: row.subject as Digest | null,
    artifactType: row.artifact_type,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    pushedAt: new Date(Number(row.created_at)),
  };
}

const SUMMARY_COLUMNS = ["repository", "digest", "media_type", "size", "subject", "artifact_type", "annotations", "created_at"] as const;
const SUMMARY_SELECTION = SUMMARY_COLUMNS.map((c) => `manifests.${c}` as const);

class Manifests implements ManifestRows {
  private readonly db: Db;
  private readonly counts: SummaryDeltas;
  // Every GET and HEAD of a manifest runs one of these (reused-query.ts).
  private readonly byDigest;
  private readonly byTag;
  private readonly summaryByDigest;
  private readonly summaryByTag;
  constructor(db: Db, counts: SummaryDeltas) {
    this.db = db;
    this.counts = counts;
    this.byDigest = new ReusedQuery(db, (repository: string, digest: string) => this.atDigest(repository, digest).selectAll("manifests"));
    this.byTag = new ReusedQuery(db, (repository: string, tag: string) => this.atTag(repository, tag).selectAll("manifests"));
    this.summaryByDigest = new ReusedQuery(db, (repository: string, digest: string) => this.atDigest(repository, digest).select(SUMMARY_SELECTION));
    this.summaryByTag = new ReusedQuery(db, (repository: string, tag: string) => this.atTag(repository, tag).select(SUMMARY_SELECTION));
  }
  async put(record: ManifestRecord, references: { blobs: Digest[]; children: Digest[] }) {
    const row: ManifestRow = {
      repository: record.repository,
      digest: record.digest,
      media_type: record.mediaType,
      size: record.size,
      body: record.body,
      subject: record.subject,
      artifact_type: record.artifactType,
      annotations: record.annotations ? JSON.stringify(record.annotations) : null,
      created_at: record.pushedAt.getTime(),
    };
    const inserted = await this.db.insertInto("manifests").values(row).onConflict((c) => c.columns(["repository", "digest"]).doNothing()).executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
      // Identical bytes again: nothing new but the push itself (never moved back by a late clock).
      await this.db.updateTable("manifests").set({ created_at: row.created_at }).where("repository", "=", record.repository).where("digest", "=", record.digest).where("created_at", "<", row.created_at).execute();
      return;
    }
    const refs = [
      ...references.blobs.map((target) => ({ kind: "blob" as const, target })),
      ...references.children.map((target) => ({ kind: "manifest" as const, target })),
    ];
    for (let i = 0; i < refs.length; i += BATCH) {
      await this.db
        .insertInto("manifest_refs")
        .values(refs.slice(i, i + BATCH).map((r) => ({ repository: record.repository, manifest_digest: record.digest, target_digest: r.target, kind: r.kind })))
        .onConflict((c) => c.doNothing())
        .execute();
    }
    // A new manifest's refs are all new (its delete removes them with it); a digest named twice is
    // one row, with the kind first named (blobs come first, as inserted above).
    const named = new Map<string, "blob" | "manifest">();
    for (const r of refs) if (!named.has(r.target)) named.set(r.target, r.kind);
    for (const [target, kind] of named) if (kind === "blob") await this.counts.blobNamed(record.repository, target, 1);
    await this.counts.add(record.repository, { manifests: 1, size: record.size });
  }
  async get(repository: RepositoryName, at: Digest | { tag: Tag }) {
    const row = typeof at === "string" ? await this.byDigest.first(repository, at) : await this.byTag.first(repository, at.tag);
    return row ? { ...toSummary(row), body: Buffer.from(row.body) } : null;
  }
  async summary(repository: RepositoryName, at: Digest | { tag: Tag }) {
    const row = typeof at === "string" ? await this.summaryByDigest.first(repository, at) : await this.summaryByTag.first(repository, at.tag);
    return row ? toSummary(row) : null;
  }
  /** The manifests row of a digest. */
  private atDigest(repository: string, digest: string) {
    return this.db.selectFrom("manifests").where("manifests.repository", "=", repository).where("manifests.digest", "=", digest);
  }
  /** The manifests row of the digest a tag points at. */
  private atTag(repository: string, tag: string) {
    return this.db
      .selectFrom("tags")
      .innerJoin("manifests", (join) => join.onRef("manifests.repository", "=", "tags.repository").onRef("manifests.digest", "=", "tags.digest"))
      .where("tags.repository", "=", repository)
      .where("tags.tag", "=", tag);
  }
  async parents(repository: RepositoryName, child: Digest) {
    const rows = await this.db.selectFrom("manifest_refs").select("manifest_digest").where("repository", "=", repository).where("target_digest", "=", child).where("kind", "=", "manifest").execute();
    return rows.map((r) => r.manifest_digest as Digest);
  }
  async delete(repository: RepositoryName, digest: Digest) {
    const refs = await this.db.deleteFrom("manifest_refs").where("repository", "=", repository).where("manifest_digest", "=", digest).returning(["target_digest", "kind"]).execute();
    for (const r of refs) if (r.kind === "blob") await this.counts.blobNamed(repository, r.target_digest, -1);
    const deleted = await this.db.deleteFrom("manifests").where("repository", "=", repository).where("digest", "=", digest).returning("size").executeTakeFirst();
    if (deleted) await this.counts.add(repository, { manifests: -1, size: -Number(deleted.size) });
    return deleted !== undefined;
  }
  async hold(repository: RepositoryName, digests: readonly Digest[]) {
    await holdWithin(this.db, repository, "manifest", digests);
  }
  async referrers(repository: RepositoryName, subject: Digest) {
    // Sorted here, not by the query: asked for digest order, SQLite walks the primary key through
    // every manifest of the repository (2.9 ms at 3,670) instead of manifests_subject (as
    // provenance-store.ts referring).
    const rows = await this.db.selectFrom("manifests").select(SUMMARY_COLUMNS).where("repository", "=", repository).where("subject", "=", subject).execute();
    return rows.sort((a, b) => byCodeUnit(a.digest, b.digest)).map(toSummary);
  }
  async *all() {
    let after = { repository: "", digest: "" };
    for (;;) {
      const rows = await this.db
        .selectFrom("manifests")
        .select(["repository", "digest", "body"])
        .where((eb) => eb.or([eb("repository", ">", after.repository), eb.and([eb("repository", "=", after.repository), eb("digest", ">", after.digest)])]))
        .orderBy("repository")
        .orderBy("digest")
        .limit(100)
        .execute();
      for (const row of rows) {
        const refs = await this.db.selectFrom("manifest_refs").select(["target_digest", "kind"]).where("repository", "=", row.repository).where("manifest_digest", "=", row.digest).execute();
        yield { repository: row.repository as RepositoryName, digest: row.digest as Digest, body: Buffer.from(row.body), references: refs.map((r) => ({ target: r.target_digest as Digest, kind: r.kind })) };
      }
      if (rows.length < 100) return;
      after = rows.at(-1)!;
    }
  }
}

class Tags implements TagRows {
  private readonly db: Db;
  /** null: the transaction of a set outside one (the set tells the outer store's counts after it commits). */
  private readonly counts: SummaryDeltas | null;
  constructor(db: Db, counts: SummaryDeltas | null) {
    this.db = db;
    this.counts = counts;
  }
  async set(repository: RepositoryName, tag: Tag, to: Digest): Promise<Digest | null> {
    // The previous target must be the one this write replaced, also when two sets of one tag
    // race (the contract suite's concurrent-set case). Reading it with a write that changes
    // nothing else locks the row first (PostgreSQL: until commit; SQLite: writers run one at a
    // time), so no other set lands between the read and the write. The pair needs a transaction.
    if (!this.db.isTransaction) {
      const previous = await (this.db as Kysely<Database>).transaction().execute((trx) => new Tags(trx, null).set(repository, tag, to));
      if (previous === null) await this.counts?.add(repository, { tags: 1 });
      return previous;
    }
    for (;;) {
      const now = Date.now();
      // A push's time never moves back (a process with a late clock): as manifests' push time.
      const held = await this.db.updateTable("tags").set({ updated_at: later("updated_at", now) }).where("repository", "=", repository).where("tag", "=", tag).returning("digest").executeTakeFirst();
      if (held) {
        if (held.digest !== to) await this.db.updateTable("tags").set({ digest: to }).where("repository", "=", repository).where("tag", "=", tag).execute();
        return held.digest as Digest;
      }
      // A new tag; if another transaction created it meanwhile, the loop reads and moves its row.
      const inserted = await this.db.insertInto("tags").values({ repository, tag, digest: to, updated_at: now }).onConflict((c) => c.columns(["repository", "tag"]).doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
        await this.counts?.add(repository, { tags: 1 });
        return null;
      }
    }
  }
  async resolve(repository: RepositoryName, tag: Tag) {
    const row = await this.db.selectFrom("tags").select("digest").where("repository", "=", repository).where("tag", "=", tag).executeTakeFirst();
    return (row?.digest as Digest | undefined) ?? null;
  }
  async pushed(repository: RepositoryName, tag: Tag) {
    const row = await this.db.selectFrom("tags").select(["digest", "updated_at"]).where("repository", "=", repository).where("tag", "=", tag).executeTakeFirst();
    return row ? { digest: row.digest as Digest, at: new Date(Number(row.updated_at)) } : null;
  }
  async hold(repository: RepositoryName, tags: readonly Tag[]) {
    await holdWithin(this.db, repository, "tag", tags);
  }
  async lockRows(repository: RepositoryName, tags: readonly Tag[]) {
    // SQLite: writers run one at a time. PostgreSQL locks the rows as the sort returns them.
    if (!writersOverlap(this.db) || tags.length === 0) return;
    await this.db.selectFrom("tags").select("tag").where("repository", "=", repository).where("tag", "in", [...new Set(tags)]).orderBy("tag").forUpdate().execute();
  }
  async list(repository: RepositoryName, page: Page) {
    // Byte-wise order, as Go's sort.Strings gives it (the conformance suite checks it): SQLite's
    // default BINARY collation compares UTF-8 bytes.
    let query = this.db.selectFrom("tags").select("tag").where("repository", "=", repository).orderBy("tag").limit(page.limit);
    if (page.after !== undefined) query = query.where("tag", ">", page.after);
    return (await query.execute()).map((r) => r.tag as Tag);
  }
  async delete(repository: RepositoryName, tag: Tag) {
    const result = await this.db.deleteFrom("tags").where("repository", "=", repository).where("tag", "=", tag).executeTakeFirst();
    if (Number(result.numDeletedRows) > 0) await this.counts?.add(repository, { tags: -1 });
    return Number(result.numDeletedRows) > 0;
  }
  async deleteAllFor(repository: RepositoryName, digest: Digest) {
    // A plain delete locks the rows in the table's order, a push moving two of them off the digest
    // in the tags' order: each held one the other wanted (a deadlock, found by attack-s8b's fsck
    // beside moving tags). So the rows first, in the tags' order, as lockRows.
    if (writersOverlap(this.db)) await this.db.selectFrom("tags").select("tag").where("repository", "=", repository).where("digest", "=", digest).orderBy("tag").forUpdate().execute();
    const result = await this.db.deleteFrom("tags").where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    if (Number(result.numDeletedRows) > 0) await this.counts?.add(repository, { tags: -Number(result.numDeletedRows) });
    return Number(result.numDeletedRows);
  }
  async covering(repository: RepositoryName, digest: Digest) {
    // Upwards from the digest, level by level: manifests that reference it (an image its blobs,
    // an index its manifests, however deep indexes nest) and, for a referrer, its subject (an
    // SBOM belongs to the image it describes). No depth limit: a limit let an attack hide a
    // protected image behind a chain of 17 referrers; `seen` ends cycles, and each digest is
    // visited once. Lists go in slices, under the databases' limits on bound values.
    const seen = new Set<string>([digest]);
    let frontier: string[] = [digest];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const slice of slices(frontier)) {
        const referencing = await this.db.selectFrom("manifest_refs").select("manifest_digest as d").where("repository", "=", repository).where("target_digest", "in", slice).execute();
        const subjects = await this.db.selectFrom("manifests").select("subject as d").where("repository", "=", repository).where("digest", "in", slice).where("subject", "is not", null).execute();
        for (const { d } of [...referencing, ...subjects]) {
          if (d !== null && !seen.has(d)) {
            seen.add(d);
            next.push(d);
          }
        }
      }
      frontier = next;
    }
    const tags: Tag[] = [];
    for (const slice of slices([...seen])) {
      const rows = await this.db.selectFrom("tags").select("tag").where("repository", "=", repository).where("digest", "in", slice).execute();
      tags.push(...rows.map((r) => r.tag as Tag));
    }
    return tags.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

type ChartRow = Database["charts"];

function toChart(row: ChartRow): ChartRecord {
  return {
    repository: row.repository as RepositoryName,
    version: row.version,
    namespace: row.namespace,
    name: row.name,
    fileName: row.file_name,
    manifestDigest: row.manifest_digest as Digest,
    chartDigest: row.chart_digest as Digest,
    chartSize: Number(row.chart_size),
    provDigest: row.prov_digest as Digest | null,
    metadata: JSON.parse(row.metadata) as ChartMetadata,
    created: new Date(Number(row.created_at)),
    storedAs: row.stored_as as StoredAs,
    published: new Date(Number(row.published_at)),
  };
}

class Charts implements ChartRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async record(chart: ChartRecord) {
    const row: ChartRow = {
      repository: chart.repository,
      version: chart.version,
      namespace: chart.namespace,
      name: chart.name,
      file_name: chart.fileName,
      manifest_digest: chart.manifestDigest,
      chart_digest: chart.chartDigest,
      chart_size: chart.chartSize,
      prov_digest: chart.provDigest,
      metadata: JSON.stringify(chart.metadata),
      created_at: chart.created.getTime(),
      stored_as: chart.storedAs,
      published_at: chart.published.getTime(),
    };
    const changes: Partial<ChartRow> = { ...row };
    delete changes.repository;
    delete changes.version;
    await this.db.insertInto("charts").values(row).onConflict((c) => c.columns(["repository", "version"]).doUpdateSet(changes)).execute();
  }
  async get(repository: RepositoryName, version: string) {
    const row = await this.db.selectFrom("charts").selectAll().where("repository", "=", repository).where("version", "=", version).executeTakeFirst();
    return row ? toChart(row) : null;
  }
  async forgetManifest(repository: RepositoryName, manifestDigest: Digest) {
    // One statement: the rows returned are exactly the rows this delete removed.
    const rows = await this.db.deleteFrom("charts").where("repository", "=", repository).where("manifest_digest", "=", manifestDigest).returningAll().execute();
    return rows.map(toChart);
  }
  async byFile(namespace: string, fileName: string) {
    const rows = await this.db.selectFrom("charts").selectAll().where("namespace", "=", namespace).where("file_name", "=", fileName).orderBy("repository").execute();
    return rows.map(toChart);
  }
  async all() {
    return (await this.db.selectFrom("charts").selectAll().orderBy("repository").orderBy("version").execute()).map(toChart);
  }
  async inRepository(repository: RepositoryName) {
    return (await this.db.selectFrom("charts").selectAll().where("repository", "=", repository).execute()).map(toChart);
  }
}

/** The repository whose summary (catalog-store.ts) a change alters, if any. */
function summarised(change: Change): string | null {
  return change.kind.startsWith("manifest.") || change.kind.startsWith("tag.") || change.kind.startsWith("chart.") ? (change as { repository: string }).repository : null;
}

function parts(db: Db, appended: (change: Change) => void | Promise<void>, actor: ChangeActor | null = null, counts = new SummaryDeltas(db)): MetadataParts {
  return {
    changes: new ChangeStore(db, appended, actor),
    webhooks: new WebhookStore(db),
    jobs: new Jobs(db),
    tagRules: new TagRules(db),
    trash: new Trash(db),
    quotas: new Quotas(db),
    retention: new RetentionStore(db),
    catalog: new CatalogStore(db),
    search: new SearchIndex(db),
    repositories: new Repositories(db),
    blobs: new Blobs(db),
    blobLinks: new BlobLinks(db),
    manifests: new Manifests(db, counts),
    tags: new Tags(db, counts),
    ...uploadParts(db),
    charts: new Charts(db),
    ...identityParts(db),
    ...provenanceParts(db),
  };
}

export class KyselyMetadataStore implements MetadataStore {
  readonly repositories; readonly blobs; readonly blobLinks; readonly manifests; readonly tags; readonly uploads; readonly strays; readonly charts;
  readonly principals; readonly secrets; readonly scopeMaps; readonly attributes; readonly audit; readonly signingKeys; readonly sessions; readonly signInFailures;
  readonly provenance; readonly metadataValues; readonly changes; readonly webhooks; readonly jobs; readonly tagRules; readonly trash; readonly quotas; readonly retention; readonly catalog; readonly search;
  private readonly db: Kysely<Database>;
  private committed: () => Promise<void> = async () => {};

  private constructor(db: Kysely<Database>) {
    this.db = db;
    // Outside a transaction an append commits at once.
    ({ repositories: this.repositories, blobs: this.blobs, blobLinks: this.blobLinks, manifests: this.manifests, tags: this.tags, uploads: this.uploads, strays: this.strays, charts: this.charts, changes: this.changes, webhooks: this.webhooks, jobs: this.jobs, tagRules: this.tagRules, trash: this.trash, quotas: this.quotas, retention: this.retention, catalog: this.catalog, search: this.search } = parts(db, async (change) => {
      const repository = summarised(change);
      if (repository) await new CatalogStore(db).refresh(repository as RepositoryName, UNCOUNTED);
      await this.committed();
    }));
    ({ principals: this.principals, secrets: this.secrets, scopeMaps: this.scopeMaps, attributes: this.attributes, audit: this.audit, signingKeys: this.signingKeys, sessions: this.sessions, signInFailures: this.signInFailures } =
      identityParts(db));
    ({ provenance: this.provenance, metadataValues: this.metadataValues } = provenanceParts(db));
  }

  /** Opens the store and brings its schema up to date. */
  static async open(db: Kysely<Database>): Promise<KyselyMetadataStore> {
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    const { error } = await migrator.migrateToLatest();
    if (error) throw new Error(`database migration failed: ${(error as Error).message}`);
    return new KyselyMetadataStore(db);
  }

  async transaction<T>(work: (tx: MetadataParts) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let appended = false;
    const value = await this.db.transaction().execute(async (trx) => {
      appended = false; // a retried transaction counts afresh
      // Repositories whose manifests, tags or charts changed: their summaries are refreshed
      // before the commit, so the portal's read model commits with the change or not at all.
      const touched = new Set<string>();
      const counts = new SummaryDeltas(trx);
      const tx = parts(
        trx,
        (change) => {
          appended = true;
          const repository = summarised(change);
          if (repository) touched.add(repository);
        },
        options.actor ?? null,
        counts,
      );
      const result = await work(tx);
      const catalog = new CatalogStore(trx);
      // Also a repository whose rows changed with no change recorded: its counts must not be lost.
      const moved = await counts.take();
      for (const repository of [...new Set([...touched, ...moved.keys()])].sort()) await catalog.refresh(repository as RepositoryName, moved.get(repository) ?? UNCOUNTED);
      // Last, so the change log's lock is held only from here to the commit (change-store.ts).
      await (tx.changes as ChangeStore).seal();
      return result;
    });
    if (appended) await this.committed();
    return value;
  }

  onCommit(listener: () => Promise<void>): void {
    this.committed = listener;
  }

  exclusively<T>(name: string, work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    return exclusively(this.db, name, work);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}

// Soft delete's records (migrations/021-soft-delete.ts, 022-trash-bodies.ts): what a delete
// removed, kept restorable until it expires. `trash` holds what a list shows, `trash_bodies` the
// manifest's bytes (read by a restore alone), `trash_refs` the blobs the manifest names, which gc
// reads as references: their files stay while a record names them, their links do not (a
// restore links them again: `unlinked`).
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from "kysely";
import { familyOf } from "./migrations/portable.ts";
import { slices } from "./slices.ts";
import type { ChangeActor } from "../domain/changes.ts";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import type { Database } from "./schema.ts";
import type { StoredAs, TrashCursor, TrashEntry, TrashRecord, TrashRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;
const BATCH = 500;
/** Ids are ASCII (UUIDs): code unit order is byte order. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every column of `trash`, none of them large: what a list reads. */
const LISTED = ["id", "repository", "digest", "kind", "tags", "media_type", "artifact_type", "size", "stored_as", "deleted_at", "expires_at", "deleted_by"] as const;

function entryOf(r: Pick<Database["trash"], (typeof LISTED)[number]>): TrashEntry {
  return {
    id: r.id,
    repository: r.repository as RepositoryName,
    digest: r.digest as Digest,
    kind: r.kind === "tag" ? "tag" : "manifest",
    tags: JSON.parse(r.tags) as Tag[],
    mediaType: r.media_type,
    artifactType: r.artifact_type,
    size: Number(r.size),
    storedAs: r.stored_as as StoredAs | null,
    deletedAt: new Date(Number(r.deleted_at)),
    expiresAt: new Date(Number(r.expires_at)),
    deletedBy: r.deleted_by ? (JSON.parse(r.deleted_by) as ChangeActor) : null,
  };
}

export class Trash implements TrashRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async put(record: TrashRecord, blobs: readonly Digest[]): Promise<void> {
    await this.db
      .insertInto("trash")
      .values({
        id: record.id,
        repository: record.repository,
        digest: record.digest,
        kind: record.kind,
        tags: JSON.stringify(record.tags),
        media_type: record.mediaType,
        artifact_type: record.artifactType,
        size: record.body.length,
        stored_as: record.storedAs,
        deleted_at: record.deletedAt.getTime(),
        expires_at: record.expiresAt.getTime(),
        deleted_by: record.deletedBy ? JSON.stringify(record.deletedBy) : null,
      })
      .execute();
    await this.db.insertInto("trash_bodies").values({ trash_id: record.id, body: record.body }).execute();
    const unique = [...new Set(blobs)];
    for (let i = 0; i < unique.length; i += BATCH) {
      await this.db
        .insertInto("trash_refs")
        .values(unique.slice(i, i + BATCH).map((digest) => ({ trash_id: record.id, repository: record.repository, target_digest: digest })))
        .execute();
    }
  }

  async list(repository: RepositoryName, now: Date, options: { limit: number; after?: TrashCursor; reference?: { digest: Digest } | { tag: Tag } }): Promise<TrashEntry[]> {
    const { limit, reference } = options;
    const page = (after: TrashCursor | undefined) => {
      let query = this.db
        .selectFrom("trash")
        .select(LISTED)
        .where("repository", "=", repository)
        .where("expires_at", ">", now.getTime())
        .orderBy("deleted_at", "desc")
        .orderBy("id")
        .limit(limit);
      if (after) {
        const at = after.deletedAt.getTime();
        query = query.where((eb) => eb.or([eb("deleted_at", "<", at), eb.and([eb("deleted_at", "=", at), eb("id", ">", after.id)])]));
      }
      if (reference && "digest" in reference) query = query.where("digest", "=", reference.digest);
      // `tags` is a JSON array of tags, which hold no quote, `%` or backslash: the quoted tag is
      // a substring of every array holding it. LIKE may match more (`_` is its wildcard; SQLite's
      // ignores ASCII case), never less; the exact test is below.
      if (reference && "tag" in reference) query = query.where("tags", "like", `%${JSON.stringify(reference.tag)}%`);
      return query.execute();
    };
    if (!reference || !("tag" in reference)) return (await page(options.after)).map(entryOf);
    const found: TrashEntry[] = [];
    for (let after = options.after; ;) {
      const rows = await page(after);
      for (const row of rows) {
        const entry = entryOf(row);
        if (entry.tags.includes(reference.tag)) found.push(entry);
        if (found.length === limit) return found;
      }
      if (rows.length < limit) return found;
      const last = rows.at(-1)!;
      after = { deletedAt: new Date(Number(last.deleted_at)), id: last.id };
    }
  }

  async body(id: string): Promise<Buffer | null> {
    const row = await this.db.selectFrom("trash_bodies").select("body").where("trash_id", "=", id).executeTakeFirst();
    return row ? Buffer.from(row.body) : null;
  }

  async unlinked(id: string): Promise<{ digest: Digest; size: number }[]> {
    const rows = await this.db
      .selectFrom("trash_refs as r")
      .innerJoin("blobs as b", "b.digest", "r.target_digest")
      .select(["r.target_digest", "b.size"])
      .where("r.trash_id", "=", id)
      .where((eb) => eb.not(eb.exists(eb.selectFrom("blob_links as l").select("l.digest").whereRef("l.repository", "=", "r.repository").whereRef("l.digest", "=", "r.target_digest"))))
      .orderBy("r.target_digest")
      .execute();
    return rows.map((r) => ({ digest: r.target_digest as Digest, size: Number(r.size) }));
  }

  async update(id: string, kind: TrashRecord["kind"], tags: readonly Tag[]): Promise<void> {
    if (tags.length === 0) {
      await this.forget([id]);
      return;
    }
    await this.db.updateTable("trash").set({ kind, tags: JSON.stringify(tags) }).where("id", "=", id).execute();
  }

  async hold(ids: readonly string[]): Promise<string[]> {
    // PostgreSQL: several writers of one record's rows (a restore, a purge, gc's purge of expired
    // records, a blob's delete) each take its `trash` row first, and several in id order, so none
    // waits for a record another holds while holding one that other wants (locks.ts). A restore
    // forgot its records newest first and a purge all of them a table at a time: a deadlock.
    const held: string[] = [];
    const postgres = familyOf(this.db as Kysely<unknown>) === "postgres";
    for (const some of slices([...new Set(ids)].sort(byCodeUnit))) {
      const query = this.db.selectFrom("trash").select("id").where("id", "in", some);
      // Byte order, as the slices are cut (not the database's collation).
      held.push(...(await (postgres ? query.orderBy(sql`id collate "C"`).forUpdate() : query).execute()).map((r) => r.id));
    }
    return held;
  }

  async forget(ids: readonly string[]): Promise<string[]> {
    const held = await this.hold(ids);
    for (const some of slices(held)) {
      await this.db.deleteFrom("trash_refs").where("trash_id", "in", some).execute();
      await this.db.deleteFrom("trash_bodies").where("trash_id", "in", some).execute();
      await this.db.deleteFrom("trash").where("id", "in", some).execute();
    }
    return held;
  }

  async forgetBlob(repository: RepositoryName, digest: Digest): Promise<boolean> {
    // Under the rows of the records naming it (hold), as every writer of a record's refs.
    const naming = await this.db.selectFrom("trash_refs").select("trash_id").where("repository", "=", repository).where("target_digest", "=", digest).execute();
    const held = await this.hold(naming.map((r) => r.trash_id));
    if (held.length === 0) return false;
    const result = await this.db.deleteFrom("trash_refs").where("trash_id", "in", held).where("repository", "=", repository).where("target_digest", "=", digest).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async limitWindow(seconds: number): Promise<number> {
    // Under the records' rows, held in id order first (hold): one UPDATE over them all locked them
    // in the table's order, so at a start on PostgreSQL it could wait for a record a restore or
    // purge on another instance held while holding one that restore wanted next (a deadlock).
    const ms = seconds * 1000;
    const longer = (eb: ExpressionBuilder<Database, "trash">) => eb("expires_at", ">", eb("deleted_at", "+", ms));
    const held = await this.hold((await this.db.selectFrom("trash").select("id").where(longer).execute()).map((r) => r.id));
    let changed = 0;
    for (const some of slices(held)) {
      const result = await this.db.updateTable("trash").set((eb) => ({ expires_at: eb("deleted_at", "+", ms) })).where("id", "in", some).where(longer).executeTakeFirst();
      changed += Number(result.numUpdatedRows);
    }
    return changed;
  }

  async purgeExpired(now: Date): Promise<number> {
    // Read, then held and forgotten as a purge forgets (hold): one restored or purged meanwhile is not there to hold.
    const expired = await this.db.selectFrom("trash").select("id").where("expires_at", "<=", now.getTime()).execute();
    return (await this.forget(expired.map((r) => r.id))).length;
  }

  async countExpired(now: Date): Promise<number> {
    const row = await this.db.selectFrom("trash").select((eb) => eb.fn.countAll<number>().as("n")).where("expires_at", "<=", now.getTime()).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async *references(): AsyncIterable<{ repository: RepositoryName; digest: Digest }> {
    let after = { id: "", digest: "" };
    for (;;) {
      const rows = await this.db
        .selectFrom("trash_refs")
        .select(["trash_id", "repository", "target_digest"])
        .where((eb) => eb.or([eb("trash_id", ">", after.id), eb.and([eb("trash_id", "=", after.id), eb("target_digest", ">", after.digest)])]))
        .orderBy("trash_id")
        .orderBy("target_digest")
        .limit(BATCH)
        .execute();
      for (const row of rows) yield { repository: row.repository as RepositoryName, digest: row.target_digest as Digest };
      if (rows.length < BATCH) return;
      const last = rows.at(-1)!;
      after = { id: last.trash_id, digest: last.target_digest };
    }
  }
}

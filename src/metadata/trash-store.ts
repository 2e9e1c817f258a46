// Soft delete's records (migrations/021-soft-delete.ts): what a delete removed, kept restorable
// until it expires. The blobs a record names are in trash_refs, which gc reads as references.
import type { Kysely, Transaction } from "kysely";
import type { ChangeActor } from "../domain/changes.ts";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import type { Database } from "./schema.ts";
import type { StoredAs, TrashRecord, TrashRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;
const BATCH = 500;

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
        body: record.body,
        stored_as: record.storedAs,
        deleted_at: record.deletedAt.getTime(),
        expires_at: record.expiresAt.getTime(),
        deleted_by: record.deletedBy ? JSON.stringify(record.deletedBy) : null,
      })
      .execute();
    const unique = [...new Set(blobs)];
    for (let i = 0; i < unique.length; i += BATCH) {
      await this.db
        .insertInto("trash_refs")
        .values(unique.slice(i, i + BATCH).map((digest) => ({ trash_id: record.id, repository: record.repository, target_digest: digest })))
        .execute();
    }
  }

  async list(repository: RepositoryName, now: Date): Promise<TrashRecord[]> {
    const rows = await this.db
      .selectFrom("trash")
      .selectAll()
      .where("repository", "=", repository)
      .where("expires_at", ">", now.getTime())
      .orderBy("deleted_at", "desc")
      .orderBy("id")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      repository: r.repository as RepositoryName,
      digest: r.digest as Digest,
      kind: r.kind === "tag" ? "tag" : "manifest",
      tags: JSON.parse(r.tags) as Tag[],
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      body: Buffer.from(r.body),
      storedAs: r.stored_as as StoredAs | null,
      deletedAt: new Date(Number(r.deleted_at)),
      expiresAt: new Date(Number(r.expires_at)),
      deletedBy: r.deleted_by ? (JSON.parse(r.deleted_by) as ChangeActor) : null,
    }));
  }

  async update(id: string, kind: TrashRecord["kind"], tags: readonly Tag[]): Promise<void> {
    if (tags.length === 0) {
      await this.db.deleteFrom("trash_refs").where("trash_id", "=", id).execute();
      await this.db.deleteFrom("trash").where("id", "=", id).execute();
      return;
    }
    await this.db.updateTable("trash").set({ kind, tags: JSON.stringify(tags) }).where("id", "=", id).execute();
  }

  async purgeExpired(now: Date): Promise<number> {
    const expired = (db: Db) => db.selectFrom("trash").select("id").where("expires_at", "<=", now.getTime());
    await this.db.deleteFrom("trash_refs").where("trash_id", "in", expired(this.db)).execute();
    const result = await this.db.deleteFrom("trash").where("expires_at", "<=", now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
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

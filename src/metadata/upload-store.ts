// Upload rows (offset, the blob driver's parts handle, the writer's lease) and the strays gc found
// in blob storage. Leases are set and judged by the database's clock (dbNow), the one clock every
// process and `berth gc` share, so no process's own clock or pid decides whether another's lease
// ran out. Idleness (updated_at) is written by the processes' clocks: it only ages uploads.
import { sql, type Kysely, type Transaction } from "kysely";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import { dbNow } from "./db-clock.ts";
import { ReusedQuery } from "./reused-query.ts";
import type { Database } from "./schema.ts";
import { UNSYNCED } from "./sqlite/node-sqlite-dialect.ts";
import type { StrayRows, UploadRecord, UploadRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;


function toUpload(row: Database["uploads"] & { lease_left?: number | string | null }): UploadRecord {
  const leaseUntil = Number(row.lease_until);
  return {
    id: row.id,
    repository: row.repository as RepositoryName,
    offset: Number(row.offset),
    algorithm: row.algorithm,
    startedAt: new Date(Number(row.started_at)),
    updatedAt: new Date(Number(row.updated_at)),
    handle: row.handle,
    writer: row.writer,
    verified: (row.verified as Digest | null) ?? null,
    lease: row.lease_owner !== null && leaseUntil > 0 ? { owner: row.lease_owner, until: new Date(leaseUntil), leftMs: Number(row.lease_left ?? 0) } : null,
  };
}

class Uploads implements UploadRows {
  private readonly db: Db;
  /**
   * The two statements of every chunk of a chunked push (its lease at the start, its advance with
   * the release at the end), compiled once (reused-query.ts): built and compiled by Kysely on
   * every call, with the lease's own connection and pragmas around it, they cost about half a
   * millisecond of CPU per chunk (docs/performance.md).
   */
  private readonly leaseIn: ReusedQuery<Database["uploads"], [string, string, number, string]>;
  private readonly advanceReleasing: ReusedQuery<unknown, [string, number, number, number, string | null, string | null, string]>;

  constructor(db: Db) {
    this.db = db;
    this.leaseIn = new ReusedQuery(db, (id: string, owner: string, forMs: number, repository: string) => this.leaseQuery(id, owner, forMs, repository));
    this.advanceReleasing = new ReusedQuery(db, (id: string, from: number, to: number, now: number, handle: string | null, writer: string | null, owner: string) =>
      db
        .updateTable("uploads")
        // hash_state (migration 016) is no longer written: no hash state is saved (blobs/blob-store.ts).
        .set({ offset: to, updated_at: now, handle, writer, lease_owner: null, lease_until: 0 })
        .where("id", "=", id)
        .where("offset", "=", from)
        .where("lease_owner", "=", owner),
    );
  }
  async create(upload: UploadRecord) {
    await this.db
      .insertInto("uploads")
      .values({
        id: upload.id,
        repository: upload.repository,
        offset: upload.offset,
        algorithm: upload.algorithm,
        started_at: upload.startedAt.getTime(),
        updated_at: upload.updatedAt.getTime(),
        handle: upload.handle,
        lease_owner: upload.lease?.owner ?? null,
        lease_until: upload.lease?.until.getTime() ?? 0,
        writer: upload.writer ?? null,
        verified: upload.verified ?? null,
      })
      .execute();
  }
  async get(id: string) {
    const row = await this.db
      .selectFrom("uploads")
      .selectAll()
      .select((eb) => eb(eb.ref("lease_until"), "-", dbNow(this.db)).as("lease_left"))
      .where("id", "=", id)
      .executeTakeFirst();
    return row ? toUpload(row) : null;
  }
  async advance(id: string, from: number, to: number, options: { handle?: string | null; writer?: string | null; release?: string } = {}) {
    // A chunk's advance (handle, writer and release all given): the compiled statement.
    if (options.handle !== undefined && options.writer !== undefined && options.release !== undefined) {
      return (await this.advanceReleasing.changed(id, from, to, Date.now(), options.handle, options.writer, options.release)) > 0;
    }
    let query = this.db
      .updateTable("uploads")
      .set({
        offset: to,
        updated_at: Date.now(),
        ...(options.handle !== undefined ? { handle: options.handle } : {}),
        ...(options.writer !== undefined ? { writer: options.writer } : {}),
        ...(options.release !== undefined ? { lease_owner: null, lease_until: 0 } : {}),
      })
      .where("id", "=", id)
      .where("offset", "=", from);
    if (options.release !== undefined) query = query.where("lease_owner", "=", options.release);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  async lease(id: string, owner: string, forMs: number, { repository }: { repository?: string } = {}) {
    // One conditional UPDATE: free, run out by the database's clock, or already this owner's. Two
    // processes asking at once: the database serialises the two updates and the second finds the
    // first's lease. It returns the row, so taking the lease is also the request's one read. Not
    // synced on its own (UNSYNCED): a lease lost in a power cut lost its holder too.
    const row = repository !== undefined ? await this.leaseIn.first(id, owner, forMs, repository) : await this.leaseQuery(id, owner, forMs).executeTakeFirst();
    return row ? toUpload({ ...row, lease_left: forMs }) : null;
  }
  private leaseQuery(id: string, owner: string, forMs: number, repository?: string) {
    const db = this.db;
    return db
      .updateTable("uploads")
      // Taken over from another owner whose lease ran out: that writer may still have a part in
      // flight to the store (a dead or stalled process's request lands late and replaces the
      // part of the same number). The row's writer then names no one, so no kept running hash
      // stands for the parts: the finish reads them back and checks them (attack on uploads, F1).
      .set((eb) => ({
        lease_owner: owner,
        lease_until: eb(dbNow(db), "+", forMs),
        writer: eb.case().when(eb.and([eb("lease_owner", "is not", null), eb("lease_owner", "<>", owner)])).then(sql<string | null>`null`).else(eb.ref("writer")).end(),
      }))
      .where("id", "=", id)
      .where("repository", "=", repository ?? sql<string>`repository`)
      .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_owner", "=", owner), eb("lease_until", "<=", dbNow(db))]))
      .returningAll()
      .modifyEnd(sql.raw(UNSYNCED));
  }
  async markVerified(id: string, owner: string, digest: Digest) {
    // Not synced on its own (UNSYNCED): the commit that follows the move syncs it. Lost in a power
    // cut between the two, the retried PUT finds neither the mark nor the upload's bytes and
    // answers BLOB_UPLOAD_UNKNOWN: the client pushes again, and nothing wrong is ever linked.
    const result = await this.db.updateTable("uploads").set({ verified: digest }).where("id", "=", id).where("lease_owner", "=", owner).modifyEnd(sql.raw(UNSYNCED)).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  async release(id: string, owner: string, options: { failed?: boolean } = {}) {
    // A request that failed may have left a part in flight to the store (its writer forgotten, as on a takeover).
    await this.db
      .updateTable("uploads")
      .set({ lease_owner: null, lease_until: 0, ...(options.failed ? { writer: null } : {}) })
      .where("id", "=", id)
      .where("lease_owner", "=", owner)
      .execute();
  }
  async writers(ids: string[]) {
    if (ids.length === 0) return new Map<string, string | null>();
    const rows = await this.db.selectFrom("uploads").select(["id", "writer"]).where("id", "in", ids).execute();
    return new Map(rows.map((r) => [r.id, r.writer]));
  }
  async delete(id: string) {
    const result = await this.db.deleteFrom("uploads").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  async idleSince(before: Date, limit: number) {
    const rows = await this.db.selectFrom("uploads").selectAll().where("updated_at", "<", before.getTime()).where("lease_until", "<=", dbNow(this.db)).limit(limit).execute();
    return rows.map(toUpload);
  }
  async expire(id: string, before: Date) {
    const result = await this.db.deleteFrom("uploads").where("id", "=", id).where("updated_at", "<", before.getTime()).where("lease_until", "<=", dbNow(this.db)).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

class Strays implements StrayRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async sight(key: string, size: number, at: Date) {
    const now = at.getTime();
    // Insert, or renew the sighting; a new size restarts it. One statement, so two gc runs at
    // once cannot both think they saw the key first.
    await this.db
      .insertInto("storage_strays")
      .values({ key, size, first_seen: now, last_seen: now })
      .onConflict((c) =>
        c.column("key").doUpdateSet((eb) => ({
          first_seen: eb.case().when("storage_strays.size", "=", size).then(eb.ref("storage_strays.first_seen")).else(now).end(),
          size,
          last_seen: now,
        })),
      )
      .execute();
    const row = await this.db.selectFrom("storage_strays").select("first_seen").where("key", "=", key).executeTakeFirstOrThrow();
    return new Date(Number(row.first_seen));
  }
  async seen(key: string, size: number) {
    const row = await this.db.selectFrom("storage_strays").select("first_seen").where("key", "=", key).where("size", "=", size).executeTakeFirst();
    return row ? new Date(Number(row.first_seen)) : null;
  }
  async forget(key: string) {
    await this.db.deleteFrom("storage_strays").where("key", "=", key).execute();
  }
  async prune(before: Date) {
    const result = await this.db.deleteFrom("storage_strays").where("last_seen", "<", before.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export function uploadParts(db: Db): { uploads: UploadRows; strays: StrayRows } {
  return { uploads: new Uploads(db), strays: new Strays(db) };
}

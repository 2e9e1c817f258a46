// Upload rows (offset, the blob driver's parts handle, the writer's lease) and the strays gc found
// in blob storage. Leases and idleness are judged by this store's clock (Date.now() where the
// rows are written), the one clock every process and `berth gc` share through the rows.
import { sql, SqliteAdapter, type Kysely, type Transaction } from "kysely";
import type { RepositoryName } from "../domain/names.ts";
import type { Database } from "./schema.ts";
import type { StrayRows, UploadRecord, UploadRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

function toUpload(row: Database["uploads"]): UploadRecord {
  const leaseUntil = Number(row.lease_until);
  return {
    id: row.id,
    repository: row.repository as RepositoryName,
    offset: Number(row.offset),
    algorithm: row.algorithm,
    startedAt: new Date(Number(row.started_at)),
    updatedAt: new Date(Number(row.updated_at)),
    handle: row.handle,
    lease: row.lease_owner !== null && leaseUntil > 0 ? { owner: row.lease_owner, until: new Date(leaseUntil) } : null,
  };
}

class Uploads implements UploadRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
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
      })
      .execute();
  }
  async get(id: string) {
    const row = await this.db.selectFrom("uploads").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toUpload(row) : null;
  }
  async advance(id: string, from: number, to: number, options: { handle?: string | null; release?: string } = {}) {
    let query = this.db
      .updateTable("uploads")
      .set({ offset: to, updated_at: Date.now(), ...(options.handle !== undefined ? { handle: options.handle } : {}), ...(options.release !== undefined ? { lease_owner: null, lease_until: 0 } : {}) })
      .where("id", "=", id)
      .where("offset", "=", from);
    if (options.release !== undefined) query = query.where("lease_owner", "=", options.release);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  async lease(id: string, owner: string, until: Date, { replacing, repository }: { replacing?: string; repository?: string } = {}) {
    // One conditional UPDATE: free, run out, already this owner's, or the dead one's it replaces.
    // Two processes asking at once: the database serialises the two updates and the second finds
    // the first's lease. It returns the row, so taking the lease is also the request's one read.
    const row = await softly(this.db, (db) =>
      db
        .updateTable("uploads")
        .set({ lease_owner: owner, lease_until: until.getTime() })
        .where("id", "=", id)
        .where("repository", "=", repository ?? sql<string>`repository`)
        .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_owner", "=", owner), eb("lease_owner", "=", replacing ?? owner), eb("lease_until", "<=", Date.now())]))
        .returningAll()
        .executeTakeFirst(),
    );
    return row ? toUpload(row) : null;
  }
  async release(id: string, owner: string) {
    await this.db.updateTable("uploads").set({ lease_owner: null, lease_until: 0 }).where("id", "=", id).where("lease_owner", "=", owner).execute();
  }
  async delete(id: string) {
    const result = await this.db.deleteFrom("uploads").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  async idleSince(before: Date, limit: number) {
    const rows = await this.db.selectFrom("uploads").selectAll().where("updated_at", "<", before.getTime()).where("lease_until", "<=", Date.now()).limit(limit).execute();
    return rows.map(toUpload);
  }
  async expire(id: string, before: Date) {
    const result = await this.db.deleteFrom("uploads").where("id", "=", id).where("updated_at", "<", before.getTime()).where("lease_until", "<=", Date.now()).executeTakeFirst();
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

/**
 * Runs a write whose loss in a power cut harms nothing (a lease: its holder is gone too) without
 * waiting for the disk. On SQLite every commit otherwise syncs the WAL (synchronous = FULL, for
 * the rows a client was told about): ~1 ms per chunk of a chunked push, which takes a lease at its
 * start. NORMAL for this one statement, on the one connection, then the setting as it was; the
 * next durable commit syncs the lease with it. Elsewhere (a transaction, another database): as is.
 */
/** The synchronous level each SQLite database was opened with, read once. */
const durability = new WeakMap<object, number>();

async function softly<T>(db: Db, write: (db: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction || !(db.getExecutor().adapter instanceof SqliteAdapter)) return write(db);
  return (db as Kysely<Database>).connection().execute(async (connection) => {
    let was = durability.get(db);
    if (was === undefined) {
      const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(connection);
      was = Number(rows[0]?.synchronous ?? 2);
      durability.set(db, was);
    }
    if (was <= 1) return write(connection);
    await sql`pragma synchronous = normal`.execute(connection);
    try {
      return await write(connection);
    } finally {
      await sql.raw(`pragma synchronous = ${was}`).execute(connection);
    }
  });
}

export function uploadParts(db: Db): { uploads: UploadRows; strays: StrayRows } {
  return { uploads: new Uploads(db), strays: new Strays(db) };
}

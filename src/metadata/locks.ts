// A named lock held until the transaction ends, in portable SQL: an upsert that always writes the
// lock's row. SQLite runs one write transaction at a time anyway (BEGIN IMMEDIATE), so there it
// costs one small write; on PostgreSQL (READ COMMITTED) the row lock is what turns
// "read, decide, write" into one step: a second transaction taking the same name waits at this
// statement until the first commits, and then reads what the first wrote.
//
//   transaction { hold(db, name); read; decide; write }    // per name, one at a time
import { createHash } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.ts";

type Db = Kysely<Database> | Transaction<Database>;

/** Locks spread over this many rows per kind, so per-key locks never grow the table past it. */
const BUCKETS = 1024;

export async function holdLock(db: Db, name: string): Promise<void> {
  if (!db.isTransaction) throw new Error(`lock ${name} taken outside a transaction would be released at once`);
  const now = Date.now();
  await db.insertInto("locks").values({ name, taken_at: now }).onConflict((c) => c.column("name").doUpdateSet({ taken_at: now })).execute();
}

/**
 * The lock for one key of a kind (a metadata key, a digest): keys share one of BUCKETS rows, so
 * two keys may wait for each other now and then, never for long, and never wrongly.
 */
export function keyLock(kind: string, ...key: string[]): string {
  const bucket = createHash("sha256").update(key.join("\u0000")).digest().readUInt32BE(0) % BUCKETS;
  return `${kind}:${bucket}`;
}

// The database's clock, the one clock every instance and `berth gc` share: leases are set and
// judged by it, so no process's own clock decides whether another's lease ran out.
import { sql, SqliteAdapter, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

/** Milliseconds since the epoch by the database's clock, as an SQL expression. */
export function dbNow(db: Kysely<Database> | Transaction<Database>) {
  return db.getExecutor().adapter instanceof SqliteAdapter
    ? sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`
    : sql<number>`cast(extract(epoch from clock_timestamp()) * 1000 as bigint)`;
}

import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Named locks a transaction holds until it ends (metadata/locks.ts): one row per name, written
 * to take it. On SQLite every write transaction already runs alone (BEGIN IMMEDIATE); on
 * PostgreSQL the row lock makes a second transaction wanting the same name wait for the first to
 * commit, where reading first and writing after would let both read the same "before".
 */
export const locks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("locks")
      .addColumn("name", "text", key((c) => c.primaryKey()))
      .addColumn("taken_at", "bigint", (c) => c.notNull())
      .execute();
  },
};

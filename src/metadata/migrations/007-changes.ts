import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered, serialKey } from "./portable.ts";

/**
 * The change log: every change appended in the transaction that made it (`changes`, ordered by
 * `id`), and the cursor and lease of each consumer that must see every change once
 * (`change_consumers`, e.g. webhook delivery): a consumer claims the entries after its cursor for
 * a while, then acks them. The caches of every process only tail the log and keep their cursor in
 * memory.
 */
export const changes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    const id = serialKey(db);
    await db.schema
      .createTable("changes")
      .addColumn("id", id.type, id.column)
      .addColumn("at", "bigint", (c) => c.notNull())
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("repository", "text", key())
      .addColumn("body", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("changes_kind").on("changes").columns(["kind", "id"]).execute();
    await db.schema
      .createTable("change_consumers")
      .addColumn("consumer", "text", (c) => c.primaryKey())
      .addColumn("cursor", "bigint", (c) => c.notNull())
      .addColumn("owner", "text")
      .addColumn("lease_until", "bigint", (c) => c.notNull())
      .execute();
  },
};

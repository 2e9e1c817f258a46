import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { bytesType } from "./portable.ts";

/**
 * Soft delete's manifest bytes move out of `trash` into `trash_bodies` (one row per record, same
 * id), and `trash.size` keeps their length. Lists of deleted content read `trash` only, and a
 * restore reads the one body it puts back (found by attack: a list of 60 records of 4 MiB read
 * 240 MiB). A separate table, not just a narrower SELECT: SQLite stores a row's columns in order
 * and keeps a large value in a chain of overflow pages, so reading any column after `body`
 * (deleted_at, expires_at…) walked the whole chain, ~3 ms per 4 MiB record with the thread blocked.
 * `size` is also what counts a record's manifest toward a quota without reading it. The index
 * serves a repository's list, newest first, paged by (deleted_at, id).
 */
export const trashBodies: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("trash_bodies")
      .addColumn("trash_id", "text", (c) => c.primaryKey())
      .addColumn("body", bytesType(db), (c) => c.notNull())
      .execute();
    await sql`insert into trash_bodies (trash_id, body) select id, body from trash`.execute(db);
    await db.schema.alterTable("trash").addColumn("size", "bigint", (c) => c.notNull().defaultTo(0)).execute();
    await sql`update trash set size = length(body)`.execute(db);
    await db.schema.alterTable("trash").dropColumn("body").execute();
    await db.schema.createIndex("trash_listed").on("trash").columns(["repository", "deleted_at", "id"]).execute();
  },
};

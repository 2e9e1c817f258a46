import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { familyOf, jsonField } from "./portable.ts";

/**
 * `GET /api/v1/events?action=&repository=` selects its events in the query (domain/events.ts
 * EVENT_SOURCES), a page at a time in id order, so each way it asks must be an index range, not a
 * walk of the log: by kind (`changes_kind`, 007), by repository and kind (`changes_repository`),
 * and referrers, the `manifest.pushed` entries that name a subject (`changes_referrers`, partial:
 * a referrer is no kind of its own, and a log of pushes must not be walked to find the few).
 */
export const eventFilters: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex("changes_repository").on("changes").columns(["repository", "kind", "id"]).execute();
    await db.schema
      .createIndex("changes_referrers")
      .on("changes")
      // Which columns each planner takes it for (both measured: bench/events-filter.ts). SQLite
      // prefers an index with an equality on a column to a partial one whose terms the query
      // states, so it gets `kind` first though kind has one value here (else changes_kind wins);
      // PostgreSQL, which cannot guess how rare a JSON field is, walks the primary key instead of
      // a (kind, id) index, and takes the partial index only when it is (id) alone.
      .columns(familyOf(db) === "sqlite" ? ["kind", "id"] : ["id"])
      .where(sql<boolean>`kind = ${sql.lit("manifest.pushed")} and ${jsonField(db, "body", "subject")} is not null`)
      .execute();
  },
};

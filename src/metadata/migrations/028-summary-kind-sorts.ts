import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * `GET /api/v1/repositories?kind=…&sort=pushed|size` (CatalogStore.list: `kind = ?` ordered by
 * the sort column then name, a page after a cursor) had only (kind, name) and (pushed_at, name) /
 * (size, name) to choose from, so it read every repository of the kind and sorted them (165 ms of
 * 100,000). With the kind first and the sort's columns after it, the page is a range of one index
 * read in order, in either direction, and stops at the page's end.
 */
export const summaryKindSorts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex("repository_summaries_kind_pushed").on("repository_summaries").columns(["kind", "pushed_at", "name"]).execute();
    await db.schema.createIndex("repository_summaries_kind_size").on("repository_summaries").columns(["kind", "size", "name"]).execute();
  },
};

import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Background jobs that one instance at a time runs (the idle-upload purge, the change log's
 * pruning, retention later): a lease per job, taken and judged by the database's clock, so
 * several instances over one database do the work once and another takes over when the holder
 * is gone.
 */
export const jobs: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("jobs")
      .addColumn("name", "text", (c) => c.primaryKey())
      .addColumn("owner", "text", (c) => c.notNull())
      .addColumn("lease_until", "bigint", (c) => c.notNull())
      .execute();
  },
};

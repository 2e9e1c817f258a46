import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Retention policies (domain/retention.ts): few rows, read at the start of each retention run.
 * A policy is either an untagged one (untagged_days) or a keep-newest one (keep_newest, tags);
 * the API checks that exactly one is set.
 */
export const retention: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("retention_policies")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("repository", "text", (c) => c.notNull())
      .addColumn("untagged_days", "integer")
      .addColumn("keep_newest", "integer")
      .addColumn("tags", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .execute();
  },
};

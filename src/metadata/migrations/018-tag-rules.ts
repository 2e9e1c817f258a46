import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Tag immutability rules (domain/tag-rules.ts): few rows, read inside every transaction that
 * moves or deletes a tag, so every instance over one database applies the same rules at once.
 */
export const tagRules: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("tag_rules")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("repository", "text", (c) => c.notNull())
      .addColumn("tags", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .execute();
  },
};

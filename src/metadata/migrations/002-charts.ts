import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/** One row per chart version, however it was pushed: the classic index is a view over these. */
export const charts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("charts")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("version", "text", key((c) => c.notNull()))
      .addColumn("namespace", "text", key((c) => c.notNull()))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("file_name", "text", key((c) => c.notNull()))
      .addColumn("manifest_digest", "text", key((c) => c.notNull()))
      .addColumn("chart_digest", "text", key((c) => c.notNull()))
      .addColumn("chart_size", "bigint", (c) => c.notNull())
      .addColumn("prov_digest", "text", key())
      .addColumn("metadata", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("stored_as", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("charts_pk", ["repository", "version"])
      .execute();
    await db.schema.createIndex("charts_file").on("charts").columns(["namespace", "file_name"]).execute();
    await db.schema.createIndex("charts_manifest").on("charts").columns(["repository", "manifest_digest"]).execute();
  },
};

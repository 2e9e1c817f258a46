import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { backfillReadModels } from "../read-model-backfill.ts";
import type { Database } from "../schema.ts";
import { byteOrdered } from "./portable.ts";

/**
 * The portal's read models (catalog-types.ts): a summary row per repository, kept by the
 * transactions that change its manifests, tags and charts, so listing 100,000 repositories by
 * name, last push or size is an indexed query; and search entries (label, annotation, signer,
 * builder → manifest) written with each provenance row. `folded` is a hex value in lower case
 * (null otherwise), for the 7-digit prefix rule. Indexes for a repository's tags and manifests
 * by time. Existing repositories and provenance rows are filled in here, once.
 */
export const portalReadModels: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // Names, tags, digests and the values searched by range compare by bytes (portable.ts).
    const bytes = byteOrdered(db);
    await db.schema
      .createTable("repository_summaries")
      .addColumn("name", "text", bytes((c) => c.primaryKey()))
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("artifact_type", "text")
      .addColumn("tags", "integer", (c) => c.notNull())
      .addColumn("manifests", "integer", (c) => c.notNull())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("pushed_at", "bigint", (c) => c.notNull())
      .addColumn("newest_tag", "text", bytes())
      .addColumn("newest_digest", "text", bytes())
      .addColumn("build_user", "text")
      .addColumn("build_sha", "text")
      .addColumn("build_dockerfile", "text")
      .execute();
    await db.schema.createIndex("repository_summaries_pushed").on("repository_summaries").columns(["pushed_at", "name"]).execute();
    await db.schema.createIndex("repository_summaries_size").on("repository_summaries").columns(["size", "name"]).execute();
    await db.schema.createIndex("repository_summaries_kind").on("repository_summaries").columns(["kind", "name"]).execute();
    await db.schema
      .createTable("search_entries")
      .addColumn("repository", "text", bytes((c) => c.notNull()))
      .addColumn("digest", "text", bytes((c) => c.notNull()))
      .addColumn("origin", "text", (c) => c.notNull())
      .addColumn("source", "text", (c) => c.notNull())
      .addColumn("key", "text", bytes((c) => c.notNull()))
      .addColumn("value", "text", bytes((c) => c.notNull()))
      .addColumn("folded", "text")
      .execute();
    await db.schema.createIndex("search_entries_value").on("search_entries").columns(["source", "key", "value", "repository", "digest"]).execute();
    await db.schema.createIndex("search_entries_folded").on("search_entries").columns(["source", "key", "folded"]).execute();
    await db.schema.createIndex("search_entries_digest").on("search_entries").columns(["repository", "digest"]).execute();
    await db.schema.createIndex("search_entries_origin").on("search_entries").columns(["repository", "origin"]).execute();
    await db.schema.createIndex("tags_updated").on("tags").columns(["repository", "updated_at", "tag"]).execute();
    await db.schema.createIndex("manifests_created").on("manifests").columns(["repository", "created_at", "digest"]).execute();
    await backfillReadModels(db as Kysely<Database>);
  },
};

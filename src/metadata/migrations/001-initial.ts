import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered, bytesType } from "./portable.ts";

export const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // Names, tags and digests compare by bytes; a manifest body is exact bytes (portable.ts).
    const key = byteOrdered(db);
    await db.schema
      .createTable("repositories")
      .addColumn("name", "text", key((c) => c.primaryKey()))
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("blobs")
      .addColumn("digest", "text", key((c) => c.primaryKey()))
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("blob_links")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("linked_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("blob_links_pk", ["repository", "digest"])
      .execute();
    await db.schema.createIndex("blob_links_digest").on("blob_links").column("digest").execute();
    await db.schema
      .createTable("manifests")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("media_type", "text", (c) => c.notNull())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("body", bytesType(db), (c) => c.notNull())
      .addColumn("subject", "text", key())
      .addColumn("artifact_type", "text")
      .addColumn("annotations", "text")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("manifests_pk", ["repository", "digest"])
      .execute();
    await db.schema.createIndex("manifests_subject").on("manifests").columns(["repository", "subject"]).execute();
    await db.schema
      .createTable("manifest_refs")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("manifest_digest", "text", key((c) => c.notNull()))
      .addColumn("target_digest", "text", key((c) => c.notNull()))
      .addColumn("kind", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("manifest_refs_pk", ["repository", "manifest_digest", "target_digest"])
      .execute();
    await db.schema.createIndex("manifest_refs_target").on("manifest_refs").columns(["target_digest", "repository"]).execute();
    await db.schema
      .createTable("tags")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("tag", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("tags_pk", ["repository", "tag"])
      .execute();
    await db.schema.createIndex("tags_digest").on("tags").columns(["repository", "digest"]).execute();
    await db.schema
      .createTable("uploads")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("offset", "bigint", (c) => c.notNull())
      .addColumn("algorithm", "text", (c) => c.notNull())
      .addColumn("started_at", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("users")
      .addColumn("name", "text", (c) => c.primaryKey())
      .addColumn("password_hash", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();
  },
};

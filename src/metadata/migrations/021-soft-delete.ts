import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered, bytesType } from "./portable.ts";

/**
 * Soft delete (docs/lifecycle.md#soft-delete): what a delete removed, kept restorable until
 * `expires_at`. The live rows (manifests, tags, charts) go exactly as before, so no read of the
 * registry changes; a trash row holds what a restore needs (the manifest's exact bytes, the tags
 * that went with it, which way a chart was stored), and `trash_refs` the blobs those bytes name,
 * which gc counts as references (and keeps the repository's links to) until the row is purged.
 */
export const softDelete: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("trash")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      // "manifest": the manifest itself was deleted (by digest, a chart, the repository);
      // "tag": only tags were (the manifest stayed, or went later in a record of its own).
      .addColumn("kind", "text", (c) => c.notNull())
      // JSON array of the tags deleted with it.
      .addColumn("tags", "text", (c) => c.notNull())
      .addColumn("media_type", "text", (c) => c.notNull())
      .addColumn("artifact_type", "text")
      .addColumn("body", bytesType(db), (c) => c.notNull())
      // A chart version's way of storage (classic, oci, both), so a restore records it as it was.
      .addColumn("stored_as", "text")
      .addColumn("deleted_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull())
      // JSON: the change actor (domain/changes.ts ChangeActor) of the delete, or null.
      .addColumn("deleted_by", "text")
      .execute();
    await db.schema.createIndex("trash_repository").on("trash").columns(["repository", "digest"]).execute();
    await db.schema.createIndex("trash_expires").on("trash").column("expires_at").execute();
    await db.schema
      .createTable("trash_refs")
      .addColumn("trash_id", "text", (c) => c.notNull())
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("target_digest", "text", key((c) => c.notNull()))
      .addPrimaryKeyConstraint("trash_refs_pk", ["trash_id", "target_digest"])
      .execute();
    await db.schema.createIndex("trash_refs_target").on("trash_refs").columns(["target_digest", "repository"]).execute();
  },
};

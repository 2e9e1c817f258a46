import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Provenance, read once at push: one row per (repository, manifest digest) with what its config,
 * annotations, attestation statements or signature envelope said (JSON in `facts`), and the
 * subject it refers to. Registry-side metadata: the current key/value per repository or digest
 * (digest "" for the repository itself) and an append-only history of every change.
 */
export const provenance: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("provenance")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("media_type", "text", (c) => c.notNull())
      .addColumn("artifact_type", "text")
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("subject", "text", key())
      .addColumn("facts", "text", (c) => c.notNull())
      .addColumn("recorded_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("provenance_pk", ["repository", "digest"])
      .execute();
    await db.schema.createIndex("provenance_subject").on("provenance").columns(["repository", "subject"]).execute();
    await db.schema
      .createTable("metadata_values")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("key", "text", key((c) => c.notNull()))
      .addColumn("value", "text", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .addColumn("updated_by", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("metadata_values_pk", ["repository", "digest", "key"])
      .execute();
    await db.schema
      .createTable("metadata_history")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("key", "text", key((c) => c.notNull()))
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("at", "bigint", (c) => c.notNull())
      .addColumn("actor", "text", (c) => c.notNull())
      .addColumn("old_value", "text")
      .addColumn("new_value", "text")
      .addPrimaryKeyConstraint("metadata_history_pk", ["repository", "digest", "key", "version"])
      .execute();
    await db.schema.createIndex("metadata_history_at").on("metadata_history").columns(["repository", "digest", "at"]).execute();
  },
};

import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Storage quotas (domain/quotas.ts): one row per scope, read inside every transaction that links
 * a blob or records a manifest. Usage is not stored: it is counted from blob_links and manifests
 * when asked (metadata/quota-store.ts), so it never drifts from what they hold. The index on
 * manifests(digest) lets "does the registry already hold this manifest" be one lookup (the
 * primary key starts with the repository).
 */
export const quotas: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("quotas")
      .addColumn("scope", "text", key((c) => c.primaryKey()))
      .addColumn("limit_bytes", "bigint", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("manifests_digest").on("manifests").column("digest").execute();
  },
};

import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Identities in the mold of ACR: the admin user, users, service principals and repository-scoped
 * tokens (one table, by kind), their secrets (up to two, rotated one at a time), scope maps,
 * repository and tag attributes, the audit trail and the token-signing keys. The admin's
 * password moves over from the `users` table of 001.
 */
export const identities: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("principals")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("name", "text", key((c) => c.notNull().unique()))
      .addColumn("roles", "text", (c) => c.notNull())
      .addColumn("scope", "text")
      .addColumn("scope_map", "text")
      .addColumn("enabled", "integer", (c) => c.notNull())
      .addColumn("expires_at", "bigint")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("secrets")
      .addColumn("principal_id", "text", (c) => c.notNull())
      .addColumn("slot", "integer", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull())
      .addColumn("expires_at", "bigint")
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("secrets_pk", ["principal_id", "slot"])
      .execute();
    await db.schema
      .createTable("scope_maps")
      .addColumn("name", "text", key((c) => c.primaryKey()))
      .addColumn("description", "text", (c) => c.notNull())
      .addColumn("rules", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("repository_attributes")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("tag", "text", key((c) => c.notNull()))
      .addColumn("read_enabled", "integer", (c) => c.notNull())
      .addColumn("write_enabled", "integer", (c) => c.notNull())
      .addColumn("delete_enabled", "integer", (c) => c.notNull())
      .addColumn("list_enabled", "integer", (c) => c.notNull())
      .addColumn("anonymous_pull", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("repository_attributes_pk", ["repository", "tag"])
      .execute();
    await db.schema
      .createTable("audit_events")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("at", "bigint", (c) => c.notNull())
      .addColumn("event", "text", (c) => c.notNull())
      .addColumn("identity", "text", (c) => c.notNull())
      .addColumn("action", "text", (c) => c.notNull())
      .addColumn("repository", "text")
      .addColumn("outcome", "text", (c) => c.notNull())
      .addColumn("client", "text")
      .addColumn("detail", "text")
      .execute();
    await db.schema.createIndex("audit_events_at").on("audit_events").column("at").execute();
    await db.schema
      .createTable("signing_keys")
      .addColumn("kid", "text", (c) => c.primaryKey())
      .addColumn("algorithm", "text", (c) => c.notNull())
      .addColumn("private_jwk", "text", (c) => c.notNull())
      .addColumn("public_jwk", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("retired_at", "bigint")
      .execute();
    await sql`insert into principals (id, kind, name, roles, enabled, created_at)
              select 'admin', 'admin', 'admin', '["owner"]', 1, created_at from users where name = 'admin'`.execute(db);
    await sql`insert into secrets (principal_id, slot, hash, created_at)
              select 'admin', 1, password_hash, created_at from users where name = 'admin'`.execute(db);
    await db.schema.dropTable("users").execute();
  },
};

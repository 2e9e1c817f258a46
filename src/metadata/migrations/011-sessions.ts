import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Portal sessions, kept on the server so signing out (or an expiry) ends them everywhere at once.
 * A row is found by the SHA-256 of the cookie's value (`id_hash`), never the value itself, so a
 * copy of the database opens no session. `credential` is the stamp of the secret that signed in:
 * the session dies with that secret, as tokens do. `csrf` is the synchronizer token the portal
 * echoes in `X-Berth-CSRF` on every state-changing request.
 */
export const sessions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("sessions")
      .addColumn("id_hash", "text", (c) => c.primaryKey())
      .addColumn("principal_id", "text", (c) => c.notNull())
      .addColumn("credential", "text", (c) => c.notNull())
      .addColumn("csrf", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("sessions_expires_at").on("sessions").column("expires_at").execute();
  },
};

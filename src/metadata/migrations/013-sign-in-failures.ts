import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Failed sign-ins per limit key (a name from an address, or an address: auth/rate-limit.ts), kept
 * in the database so instances behind one load balancer count one limit, not one each.
 * `failures`: the times (ms) of the failures still inside the sliding minute, as a JSON array.
 */
export const signInFailures: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("sign_in_failures")
      .addColumn("key", "text", key((c) => c.primaryKey()))
      .addColumn("failures", "text", (c) => c.notNull())
      .addColumn("blocked_until", "bigint", (c) => c.notNull())
      .addColumn("strikes", "integer", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("sign_in_failures_updated_at").on("sign_in_failures").column("updated_at").execute();
  },
};

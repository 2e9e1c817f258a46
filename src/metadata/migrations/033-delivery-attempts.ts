import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Each delivery's newest attempts (webhook-types.ts DeliveryAttempt: when, response status,
 * latency, error), as JSON on its row, at most RECENT_ATTEMPTS: written by the statement that
 * already records the attempt, so a batch costs no more writes (docs/lifecycle.md, "What a
 * delivery costs the registry"). Rows from before start with none.
 */
export const deliveryAttempts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("webhook_deliveries").addColumn("recent_attempts", "text", (c) => c.notNull().defaultTo("[]")).execute();
  },
};

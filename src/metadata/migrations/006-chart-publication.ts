import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * When the registry first recorded each chart version, by its own clock: `created_at` is what the
 * chart's pusher wrote (an OCI annotation), so it cannot decide which repository a chart name in a
 * merged view belongs to (services/charts/chart-index.ts). An overwrite keeps the first time.
 * Rows from before this migration take their `created_at`, the best there is.
 */
export const chartPublication: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("charts").addColumn("published_at", "bigint", (c) => c.notNull().defaultTo(0)).execute();
    await sql`update charts set published_at = created_at`.execute(db);
  },
};

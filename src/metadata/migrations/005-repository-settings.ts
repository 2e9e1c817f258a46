import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Locks and anonymous pull became their own permission (`attributes/write` in scope maps, the
 * owner role), apart from `metadata/write`, which keeps provenance metadata writable. A scope map
 * written before could change attributes with `metadata/write`: each rule that had it gains
 * `attributes/write`, so no existing token loses what it could do. Roles need nothing: `acrpush`
 * loses locks by design, `owner` holds both.
 */
export const repositorySettings: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const rows = await sql<{ name: string; rules: string }>`select name, rules from scope_maps`.execute(db);
    for (const row of rows.rows) {
      const rules = JSON.parse(row.rules) as { repository: string; actions: string[] }[];
      let changed = false;
      for (const rule of rules) {
        if (rule.actions.includes("metadata/write") && !rule.actions.includes("attributes/write")) {
          rule.actions.push("attributes/write");
          changed = true;
        }
      }
      if (changed) await sql`update scope_maps set rules = ${JSON.stringify(rules)} where name = ${row.name}`.execute(db);
    }
  },
};

// Tag immutability rules (migrations/018-tag-rules.ts).
import type { Kysely, Transaction } from "kysely";
import type { TagRule } from "../domain/tag-rules.ts";
import type { Database } from "./schema.ts";
import type { TagRuleRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

export class TagRules implements TagRuleRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async list(): Promise<TagRule[]> {
    const rows = await this.db.selectFrom("tag_rules").selectAll().orderBy("created_at").orderBy("id").execute();
    return rows.map((r) => ({ id: r.id, repository: r.repository, tags: r.tags, created: new Date(Number(r.created_at)), createdBy: r.created_by }));
  }

  async add(rule: TagRule): Promise<void> {
    await this.db.insertInto("tag_rules").values({ id: rule.id, repository: rule.repository, tags: rule.tags, created_at: rule.created.getTime(), created_by: rule.createdBy }).execute();
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("tag_rules").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

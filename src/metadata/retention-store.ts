// Retention policies (migrations/019-retention.ts) and the inventory a retention plan reads.
import type { Kysely, Transaction } from "kysely";
import type { RepositoryInventory, RetentionPolicy } from "../domain/retention.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { Database } from "./schema.ts";
import type { RetentionRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

export class RetentionStore implements RetentionRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async list(): Promise<RetentionPolicy[]> {
    const rows = await this.db.selectFrom("retention_policies").selectAll().orderBy("created_at").orderBy("id").execute();
    return rows.map((r) => ({
      id: r.id,
      repository: r.repository,
      untaggedDays: r.untagged_days === null ? null : Number(r.untagged_days),
      keepNewest: r.keep_newest === null ? null : Number(r.keep_newest),
      tags: r.tags,
      created: new Date(Number(r.created_at)),
      createdBy: r.created_by,
    }));
  }

  async add(p: RetentionPolicy): Promise<void> {
    await this.db
      .insertInto("retention_policies")
      .values({ id: p.id, repository: p.repository, untagged_days: p.untaggedDays, keep_newest: p.keepNewest, tags: p.tags, created_at: p.created.getTime(), created_by: p.createdBy })
      .execute();
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("retention_policies").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async inventory(repository: RepositoryName): Promise<RepositoryInventory> {
    const [manifests, children, tags] = await Promise.all([
      this.db.selectFrom("manifests").select(["digest", "created_at", "subject"]).where("repository", "=", repository).execute(),
      this.db.selectFrom("manifest_refs").select(["manifest_digest", "target_digest"]).where("repository", "=", repository).where("kind", "=", "manifest").execute(),
      this.db.selectFrom("tags").select(["tag", "digest", "updated_at"]).where("repository", "=", repository).execute(),
    ]);
    const childrenOf = new Map<string, string[]>();
    for (const r of children) childrenOf.set(r.manifest_digest, [...(childrenOf.get(r.manifest_digest) ?? []), r.target_digest]);
    return {
      repository,
      manifests: manifests.map((m) => ({ digest: m.digest, pushed: new Date(Number(m.created_at)), subject: m.subject, children: childrenOf.get(m.digest) ?? [] })),
      tags: tags.map((t) => ({ tag: t.tag, digest: t.digest, pushed: new Date(Number(t.updated_at)) })),
    };
  }
}

// Storage quotas (migrations/020-quotas.ts) and what their scopes hold. Usage is counted when
// asked, never kept: the distinct digests (blob links, manifests, and what soft delete's records
// keep: trash, trash_refs) of the scope's repositories, summed once each. So a layer two repositories share counts once in every quota that holds both,
// deletes and gc lower it by dropping the rows they drop, and no counter can drift under
// concurrent pushes. docs/lifecycle.md has the cost measured on a large store.
import { sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from "kysely";
import { REGISTRY_SCOPE, type Quota } from "../domain/quotas.ts";
import type { Digest } from "../domain/digest.ts";
import { holdLock } from "./locks.ts";
import type { Database } from "./schema.ts";
import type { QuotaCount, QuotaRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

export class Quotas implements QuotaRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async list(): Promise<Quota[]> {
    const rows = await this.db.selectFrom("quotas").selectAll().orderBy("scope").execute();
    return rows.map((r) => ({ scope: r.scope, limit: Number(r.limit_bytes), created: new Date(Number(r.created_at)), createdBy: r.created_by }));
  }

  async set(quota: Quota): Promise<void> {
    await this.db
      .insertInto("quotas")
      .values({ scope: quota.scope, limit_bytes: quota.limit, created_at: quota.created.getTime(), created_by: quota.createdBy })
      .onConflict((c) => c.column("scope").doUpdateSet({ limit_bytes: quota.limit }))
      .execute();
  }

  async remove(scope: string): Promise<boolean> {
    const result = await this.db.deleteFrom("quotas").where("scope", "=", scope).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async hold(scope: string): Promise<void> {
    await holdLock(this.db, `quota:${scope}`);
  }

  async usage(scope: string): Promise<number> {
    // UNION (not UNION ALL) keeps each (digest, size) once: a blob linked by many repositories of
    // the scope, a manifest stored in several, a layer both live and named by a deleted manifest's
    // record. What admissions ask: plain distinct rows, measured about twice as fast as count's
    // grouping on the whole registry (docs/lifecycle.md).
    const held = this.db
      .selectFrom("blob_links as l")
      .innerJoin("blobs as b", "b.digest", "l.digest")
      .select(["b.digest as digest", "b.size as size"])
      .where(inScope("l.repository", scope))
      .union((db) => db.selectFrom("manifests as m").select(["m.digest as digest", "m.size as size"]).where(inScope("m.repository", scope)))
      .union((db) => db.selectFrom("trash as t").select(["t.digest as digest", trashedSize("t").as("size")]).where(inScope("t.repository", scope)))
      .union((db) => db.selectFrom("trash_refs as r").innerJoin("blobs as rb", "rb.digest", "r.target_digest").select(["rb.digest as digest", "rb.size as size"]).where(inScope("r.repository", scope)));
    const row = await this.db
      .selectFrom(held.as("u"))
      .select(sql<number | string | null>`sum(u.size)`.as("used"))
      .executeTakeFirst();
    return Number(row?.used ?? 0);
  }


  async count(scope: string): Promise<QuotaCount> {
    // usage's rows, each digest once, with `live` marking digests a live row holds; the rest are
    // held only by soft delete's records (trash: the manifest's own bytes; trash_refs: the blobs
    // it names, whose rows gc keeps while a record names them), restorable until purged. Grouping
    // costs more than usage's distinct rows, so only the quota list (and set) asks for it.
    const held = this.db
      .selectFrom("blob_links as l")
      .innerJoin("blobs as b", "b.digest", "l.digest")
      .select(["b.digest as digest", "b.size as size", sql<number>`1`.as("live")])
      .where(inScope("l.repository", scope))
      .unionAll((db) => db.selectFrom("manifests as m").select(["m.digest as digest", "m.size as size", sql<number>`1`.as("live")]).where(inScope("m.repository", scope)))
      .unionAll((db) => db.selectFrom("trash as t").select(["t.digest as digest", trashedSize("t").as("size"), sql<number>`0`.as("live")]).where(inScope("t.repository", scope)))
      .unionAll((db) =>
        db
          .selectFrom("trash_refs as r")
          .innerJoin("blobs as rb", "rb.digest", "r.target_digest")
          .select(["rb.digest as digest", "rb.size as size", sql<number>`0`.as("live")])
          .where(inScope("r.repository", scope)),
      );
    const unique = this.db
      .selectFrom(held.as("h"))
      .select(["h.digest", sql<number>`max(h.size)`.as("size"), sql<number>`max(h.live)`.as("live")])
      .groupBy("h.digest");
    const row = await this.db
      .selectFrom(unique.as("u"))
      .select([sql<number | string | null>`sum(u.size)`.as("used"), sql<number | string | null>`sum(case when u.live = 0 then u.size else 0 end)`.as("restorable")])
      .executeTakeFirst();
    return { used: Number(row?.used ?? 0), restorable: Number(row?.restorable ?? 0) };
  }

  async staged(scope: string): Promise<number> {
    const row = await this.db.selectFrom("uploads").select(sql<number | string | null>`sum(${sql.ref("offset")})`.as("staged")).where(inScope("repository", scope)).executeTakeFirst();
    return Number(row?.staged ?? 0);
  }

  async ceiling(scope: string): Promise<number | null> {
    if (scope !== REGISTRY_SCOPE) return null;
    // Every linked blob has its row (commitBlob records before it links; a mount needs the row),
    // so the sum over all rows (unlinked ones gc has not dropped yet included) is at least the
    // usage; manifests stored twice count twice here. One pass over each table, no distinct.
    const blobs = await this.db.selectFrom("blobs").select(sql<number | string | null>`sum(size)`.as("total")).executeTakeFirst();
    const manifests = await this.db.selectFrom("manifests").select(sql<number | string | null>`sum(size)`.as("total")).executeTakeFirst();
    // Deleted manifests kept restorable count with their bytes (their blobs' rows are in blobs).
    const trashed = await this.db.selectFrom("trash as t").select(sql<number | string | null>`sum(${trashedSize("t")})`.as("total")).executeTakeFirst();
    return Number(blobs?.total ?? 0) + Number(manifests?.total ?? 0) + Number(trashed?.total ?? 0);
  }

  async holds(scope: string, digest: Digest): Promise<boolean> {
    const link = await this.db.selectFrom("blob_links").select("digest").where("digest", "=", digest).where(inScope("repository", scope)).limit(1).executeTakeFirst();
    if (link) return true;
    const manifest = await this.db.selectFrom("manifests").select("digest").where("digest", "=", digest).where(inScope("repository", scope)).limit(1).executeTakeFirst();
    if (manifest) return true;
    // What a deleted manifest's record keeps counts in the usage too (count above), so it adds nothing either.
    const trashed = await this.db.selectFrom("trash").select("digest").where("digest", "=", digest).where(inScope("repository", scope)).limit(1).executeTakeFirst();
    if (trashed) return true;
    const named = await this.db.selectFrom("trash_refs").select("target_digest").where("target_digest", "=", digest).where(inScope("repository", scope)).limit(1).executeTakeFirst();
    return named !== undefined;
  }
}

/**
 * A soft-deleted manifest's size in bytes, from its trash row (`trash.size`, migration 022: the
 * bytes themselves live in `trash_bodies`, never read to count). The one place that reads it.
 */
function trashedSize(table: string): RawBuilder<number> {
  return sql<number>`${sql.ref(`${table}.size`)}`;
}

/**
 * The scope as a condition on a repository column: "*" all, "team/*" team itself and the byte
 * range ["team/", "team0") ("0" follows "/" in byte order; the columns compare by bytes,
 * portable.ts), anything else one name. A range, not LIKE: names may hold "_", and the primary
 * keys' index serves a range.
 */
function inScope(column: string, scope: string): RawBuilder<SqlBool> {
  const ref = sql.ref(column);
  if (scope === REGISTRY_SCOPE) return sql<SqlBool>`1 = 1`;
  if (scope.endsWith("/*")) {
    const base = scope.slice(0, -2);
    return sql<SqlBool>`(${ref} = ${base} or (${ref} >= ${`${base}/`} and ${ref} < ${`${base}0`}))`;
  }
  return sql<SqlBool>`${ref} = ${scope}`;
}

import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { refreshSummaries } from "../read-model-backfill.ts";
import type { Database } from "../schema.ts";
import { byteOrdered } from "./portable.ts";

/**
 * A repository summary's counts (catalog-store.ts) kept by what changes them instead of counted
 * again by every change: counting them cost a push time in proportion to the repository's
 * manifests (the distinct blobs' bytes above all: 7 ms a push at 3,000 manifests, docs/
 * performance.md). The bytes of a repository's distinct blobs need to know when a blob gains its
 * first reference there and loses its last: `repository_blob_refs` holds, per repository and
 * blob, how many of its manifests name the blob, and the blob's size when first named (so what is
 * subtracted is what was added). A counter row is the unit PostgreSQL locks, so a push and a
 * delete naming one blob side by side each see the other's count. Filled from manifest_refs here;
 * every summary is then counted once more, so the counts start from the rows themselves.
 */
export const summaryCounts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("repository_blob_refs")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("refs", "integer", (c) => c.notNull())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("repository_blob_refs_pk", ["repository", "digest"])
      .execute();
    const typed = db as Kysely<Database>;
    await typed
      .insertInto("repository_blob_refs")
      .columns(["repository", "digest", "refs", "size"])
      .expression(
        typed
          .selectFrom("manifest_refs as r")
          .leftJoin("blobs as b", "b.digest", "r.target_digest")
          .select((eb) => ["r.repository", "r.target_digest", eb.fn.countAll<number>().as("refs"), eb.fn.coalesce(eb.fn.max("b.size"), sql.lit(0)).as("size")])
          .where("r.kind", "=", "blob")
          .groupBy(["r.repository", "r.target_digest"]),
      )
      .execute();
    await refreshSummaries(typed);
  },
};

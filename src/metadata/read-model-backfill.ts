// Fills the portal's read models from what a database already holds (migration 010), with the
// same code that keeps them afterwards: summaries (CatalogStore.refresh) and search entries
// (searchEntries over each provenance row).
import type { Kysely } from "kysely";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import { CatalogStore } from "./catalog-store.ts";
import { SearchIndex } from "./catalog-search.ts";
import { toRecord } from "./provenance-store.ts";
import type { ProvenanceRecord } from "./provenance-types.ts";
import type { Database } from "./schema.ts";
import { searchEntries } from "./search-entries.ts";

/**
 * Fills the read models from what the database already holds (migration 010): a summary per
 * repository with a manifest or tag, and search entries from every provenance row.
 */
export async function backfillReadModels(db: Kysely<Database>): Promise<void> {
  const search = new SearchIndex(db);
  const lookup = async (repository: string, digest: Digest): Promise<ProvenanceRecord | null> => {
    const row = await db.selectFrom("provenance").selectAll().where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    return row ? toRecord(row) : null;
  };
  let after = { repository: "", digest: "" };
  for (;;) {
    const rows = await db
      .selectFrom("provenance")
      .selectAll()
      .where((eb) => eb.or([eb("repository", ">", after.repository), eb.and([eb("repository", "=", after.repository), eb("digest", ">", after.digest)])]))
      .orderBy("repository")
      .orderBy("digest")
      .limit(200)
      .execute();
    for (const row of rows) {
      const record = toRecord(row);
      await search.replace(record.repository, record.digest, await searchEntries(record, (d) => lookup(row.repository, d)));
    }
    if (rows.length < 200) break;
    after = rows.at(-1)!;
  }
  await refreshSummaries(db);
}

/** Counts every repository's summary from its rows (migrations 010 and 031). */
export async function refreshSummaries(db: Kysely<Database>): Promise<void> {
  const catalog = new CatalogStore(db);
  const names = new Set([
    ...(await db.selectFrom("manifests").select("repository").distinct().execute()).map((r) => r.repository),
    ...(await db.selectFrom("tags").select("repository").distinct().execute()).map((r) => r.repository),
  ]);
  for (const name of names) await catalog.refresh(name as RepositoryName);
}

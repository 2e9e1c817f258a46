// Migration 031 on a database written before it: each repository's blob reference counts are
// filled from manifest_refs, every summary is counted again from the rows (one left wrong, as a
// race on PostgreSQL could leave it before 031, comes out right), and the counts kept from then on
// follow a delete. On SQLite (a file) and PostgreSQL (a throwaway cluster).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { migrations } from "../../src/metadata/migrations/index.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import { usePostgres } from "../support/postgres.ts";
import { digestOf, repo } from "./metadata-fixtures.ts";

const cluster = usePostgres();
const [A, B] = [digestOf("layer a"), digestOf("layer b")];
const [M1, M2] = [digestOf("manifest one"), digestOf("manifest two")];

async function before031(db: Kysely<Database>): Promise<void> {
  const upTo030 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "031"));
  const first = await new Migrator({ db, provider: { getMigrations: async () => upTo030 } }).migrateToLatest();
  assert.equal(first.error, undefined);
  await db.insertInto("blobs").values([{ digest: A, size: 100, created_at: 1 }, { digest: B, size: 200, created_at: 1 }]).execute();
  const manifest = (digest: string, size: number, at: number) => ({ repository: "team/app", digest, media_type: "application/vnd.oci.image.manifest.v1+json", size, body: Buffer.alloc(size), subject: null, artifact_type: null, annotations: null, created_at: at });
  await db.insertInto("manifests").values([manifest(M1, 10, 1000), manifest(M2, 20, 2000)]).execute();
  await db.insertInto("manifest_refs").values([
    { repository: "team/app", manifest_digest: M1, target_digest: A, kind: "blob" },
    { repository: "team/app", manifest_digest: M1, target_digest: B, kind: "blob" },
    { repository: "team/app", manifest_digest: M2, target_digest: B, kind: "blob" },
  ]).execute();
  await db.insertInto("tags").values([{ repository: "team/app", tag: "v1", digest: M1, updated_at: 1000 }, { repository: "team/app", tag: "v2", digest: M2, updated_at: 2000 }]).execute();
  await db.insertInto("repository_summaries").values({ name: "team/app", kind: "artifact", artifact_type: null, tags: 99, manifests: 99, size: 1, pushed_at: 0, newest_tag: null, newest_digest: null, build_user: null, build_sha: null, build_dockerfile: null }).execute();
}

async function check(db: Kysely<Database>): Promise<void> {
  const store = await KyselyMetadataStore.open(db); // runs 031
  try {
    const refs = await db.selectFrom("repository_blob_refs").select(["digest", "refs", "size"]).orderBy("digest").execute();
    assert.deepEqual(refs.map((r) => [r.digest, Number(r.refs), Number(r.size)]), [[A, 1, 100], [B, 2, 200]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
    const counted = await store.catalog.summary(repo("team/app"));
    assert.deepEqual([counted?.tags, counted?.manifests, counted?.size, counted?.newest?.tag], [2, 2, 10 + 20 + 100 + 200, "v2"]);
    await store.transaction(async (tx) => {
      await tx.tags.deleteAllFor(repo("team/app"), M1);
      await tx.manifests.delete(repo("team/app"), M1);
      await tx.changes.append({ kind: "manifest.deleted", repository: "team/app", digest: M1 });
    });
    const kept = await store.catalog.summary(repo("team/app"));
    assert.deepEqual([kept?.tags, kept?.manifests, kept?.size], [1, 1, 20 + 200], "layer a, named by the deleted manifest alone, leaves; b stays");
  } finally {
    await store.close();
  }
}

test("SQLite: migration 031 fills the blob reference counts and counts every summary again", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-031-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "berth.db");
  const before = new Kysely<Database>({ dialect: openSqlite(file).dialect });
  await before031(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openSqlite(file).dialect }));
});

test("PostgreSQL: migration 031 fills the blob reference counts and counts every summary again", async () => {
  const url = await cluster().database();
  const before = new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect });
  await before031(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect }));
});

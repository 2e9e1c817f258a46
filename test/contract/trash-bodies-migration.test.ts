// Migration 022 on a database that already holds soft delete's records (written by 021): each
// record's exact bytes move to trash_bodies, trash.size keeps their length, trash has no body
// column left, and the store lists and restores them as if they were written after it. On
// SQLite (a file) and PostgreSQL (a throwaway cluster).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Kysely, sql } from "kysely";
import { Migrator } from "kysely/migration";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { migrations } from "../../src/metadata/migrations/index.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import { usePostgres } from "../support/postgres.ts";
import { digestOf, repo } from "./metadata-fixtures.ts";

const cluster = usePostgres();
const T0 = 1_700_000_000_000;
const BODY = Buffer.concat([Buffer.from('{"manifest":"kept","bytes":"\u00e9'), Buffer.from([0, 255, 1]), Buffer.from('"}')]);

async function upgrade(db: Kysely<Database>): Promise<void> {
  const upTo021 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "022"));
  const first = await new Migrator({ db, provider: { getMigrations: async () => upTo021 } }).migrateToLatest();
  assert.equal(first.error, undefined);
  await sql`insert into trash (id, repository, digest, kind, tags, media_type, artifact_type, body, stored_as, deleted_at, expires_at, deleted_by)
    values ('r1', 'team/app', ${digestOf("kept")}, 'manifest', '["v1"]', 'application/vnd.oci.image.manifest.v1+json', null, ${BODY}, null, ${T0}, ${T0 + 3_600_000}, null)`.execute(db);
  await sql`insert into trash_refs (trash_id, repository, target_digest) values ('r1', 'team/app', ${digestOf("layer")})`.execute(db);
}

async function check(db: Kysely<Database>): Promise<void> {
  const store = await KyselyMetadataStore.open(db); // runs 022 and what follows
  try {
    const [entry] = await store.trash.list(repo("team/app"), new Date(T0), { limit: 10 });
    assert.deepEqual([entry?.id, entry?.size, entry?.tags], ["r1", BODY.length, ["v1"]]);
    assert.deepEqual(await store.trash.body("r1"), BODY, "the exact bytes moved");
    const columns = (await db.introspection.getTables()).find((t) => t.name === "trash")!.columns.map((c) => c.name);
    assert.ok(!columns.includes("body") && columns.includes("size"), columns.join(", "));
  } finally {
    await store.close();
  }
}

test("SQLite: migration 022 moves the kept manifests' bytes to trash_bodies and records their size", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-022-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "berth.db");
  const before = new Kysely<Database>({ dialect: openSqlite(file).dialect });
  await upgrade(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openSqlite(file).dialect }));
});

test("PostgreSQL: migration 022 moves the kept manifests' bytes to trash_bodies and records their size", async () => {
  const url = await cluster().database();
  const before = new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect });
  await upgrade(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect }));
});

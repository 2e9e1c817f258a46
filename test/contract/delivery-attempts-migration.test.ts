// Migration 033 on a database written before it: a delivery kept from then reads with no recent
// attempts (nothing is made up), and an attempt recorded after it is kept. On SQLite (a file) and
// PostgreSQL (a throwaway cluster).
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

const cluster = usePostgres();

async function before033(db: Kysely<Database>): Promise<void> {
  const upTo032 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "033"));
  const first = await new Migrator({ db, provider: { getMigrations: async () => upTo032 } }).migrateToLatest();
  assert.equal(first.error, undefined);
  await db.insertInto("webhooks").values({ name: "ci", url: "https://hooks.example.com/x", actions: '["push"]', scope: "*", headers: "{}", format: "acr", enabled: 1, secret: "s", created_at: 1, updated_at: 1 }).execute();
  // recent_attempts is not a column yet: a row as 017-032 wrote it, delivered after two attempts.
  await insertOldDelivery(db);
}

/** Inserts through an untyped builder: the typed schema already names the column 033 adds. */
async function insertOldDelivery(db: Kysely<Database>): Promise<void> {
  await (db as unknown as Kysely<Record<string, Record<string, unknown>>>)
    .insertInto("webhook_deliveries")
    .values({ webhook: "ci", event_id: 7, action: "push", created_at: 1000, status: "delivered", attempts: 2, next_at: 3000, request_headers: "{}", body: "{}", response_status: 204, latency_ms: 5, error: null, finished_at: 3000, lease_owner: null })
    .execute();
}

async function check(db: Kysely<Database>): Promise<void> {
  const store = await KyselyMetadataStore.open(db); // runs 033
  try {
    const [old] = await store.webhooks.deliveries("ci", 10);
    assert.deepEqual([old?.attempts, old?.status, old?.recentAttempts], [2, "delivered", []], "kept as it was, with no attempts made up");
    assert.equal(await store.webhooks.redeliver("ci", old!.id, new Date(4000)), true);
    const [leased] = await store.webhooks.leaseDue("ci", "A", new Date(4000), new Date(9000), 10);
    const attempt = { at: new Date(4100), responseStatus: 204, latencyMs: 3, error: null };
    await store.webhooks.record("ci", "A", [{ id: leased!.id, outcome: { status: "delivered", attempts: 1, nextAt: new Date(4103), responseStatus: 204, latencyMs: 3, error: null, finishedAt: new Date(4103), recentAttempts: [attempt] } }], [], 10);
    assert.deepEqual((await store.webhooks.delivery("ci", old!.id))?.recentAttempts, [attempt]);
  } finally {
    await store.close();
  }
}

test("SQLite: migration 033 gives kept deliveries no recent attempts, and keeps those recorded after it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-033-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "berth.db");
  const before = new Kysely<Database>({ dialect: openSqlite(file).dialect });
  await before033(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openSqlite(file).dialect }));
});

test("PostgreSQL: migration 033 gives kept deliveries no recent attempts, and keeps those recorded after it", async () => {
  const url = await cluster().database();
  const before = new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect });
  await before033(before);
  await before.destroy();
  await check(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect }));
});

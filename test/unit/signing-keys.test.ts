// Startup on an empty database: processes that start at once make one first token-signing key,
// not one each (issue 14.8), on SQLite and on PostgreSQL. Several TokenServices stand in for the
// processes; their loads interleave at every await, as processes' do. On PostgreSQL each has its
// own store (its own pool of connections), as a process has; on SQLite they share one connection
// (node:sqlite blocks the thread while a second connection waits for the write lock).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely } from "kysely";
import { TokenService, type SigningKeyStore } from "../../src/auth/token-service.ts";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import type { MetadataStore } from "../../src/metadata/types.ts";
import { usePostgres } from "../support/postgres.ts";

const cluster = usePostgres();

/** A fresh SQLite store, closed and removed after the test. */
async function sqliteStore(t: { after(fn: () => Promise<void>): void }): Promise<KyselyMetadataStore> {
  const dir = await mkdtemp(join(tmpdir(), "berth-keys-"));
  const store = await KyselyMetadataStore.open(new Kysely<Database>({ dialect: openSqlite(join(dir, "berth.db")).dialect }));
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

async function severalStartAtOnce(stores: readonly MetadataStore[]): Promise<void> {
  const options = { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 };
  const services = stores.map((store) => new TokenService(store, options));
  await Promise.all(services.map((s) => s.load()));
  const store = stores[0]!;
  const keys = await store.signingKeys.active();
  assert.equal(keys.length, 1, `active keys after ${services.length} starts: ${keys.map((k) => k.kid).join(", ")}`);
  assert.equal((await store.changes.since(0, 100)).filter((e) => e.change.kind === "signing-key.added").length, 1);
  // Whichever process signs, every other verifies.
  const token = await services[0]!.issueAccess("admin", "admin", "berth", [{ type: "registry", name: "catalog", action: "pull" }], null);
  for (const s of services) assert.notEqual(await s.verifyAccess(token, "berth"), null);
  // A later start finds the key and adds none.
  await new TokenService(stores.at(-1)!, options).load();
  assert.equal((await store.signingKeys.active()).length, 1);
}

test("TokenService.load: several starting at once on an empty database add one first key, and every one signs with it (SQLite)", async (t) => {
  const store = await sqliteStore(t);
  await severalStartAtOnce([store, store, store, store]);
});

test("TokenService.load: several starting at once on an empty database add one first key, and every one signs with it (PostgreSQL, a pool each)", async (t) => {
  const url = await cluster().database();
  const stores = await Promise.all(Array.from({ length: 4 }, () => KyselyMetadataStore.open(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 2 }).dialect }))));
  t.after(() => Promise.all(stores.map((s) => s.close())));
  await severalStartAtOnce(stores);
});

test("TokenService: a token signed with a key another instance just added verifies before the announcement arrives (keys read again on an unknown key id, at most once a second)", async (t) => {
  const store = await sqliteStore(t);
  const options = { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 };
  const [a, b] = [new TokenService(store, options), new TokenService(store, options)];
  await a.load();
  await b.load();
  await new Promise((r) => setTimeout(r, 1_000)); // past the once-a-second bound since b's load
  const kid = await a.rotate(); // b is not told (no feed here)
  const token = await a.issueAccess("admin", "admin", "berth", [{ type: "registry", name: "catalog", action: "pull" }], null);
  assert.equal(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid, kid);
  assert.notEqual(await b.verifyAccess(token, "berth"), null);

  // A made-up key id: refused, and only the first of many within a second reads the keys.
  let reads = 0;
  const keys = store.signingKeys;
  const counting: SigningKeyStore = {
    signingKeys: Object.assign(Object.create(keys) as typeof keys, { active: () => (reads++, keys.active()) }),
    transaction: (work) => store.transaction(work),
  };
  const c = new TokenService(counting, options);
  await c.load();
  reads = 0;
  await new Promise((r) => setTimeout(r, 1_000));
  const [header, payload, signature] = token.split(".");
  const forged = [Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header!, "base64url").toString()), kid: "made-up" })).toString("base64url"), payload, signature].join(".");
  const answers = await Promise.all(Array.from({ length: 20 }, () => c.verifyAccess(forged, "berth")));
  assert.deepEqual(new Set(answers), new Set([null]));
  assert.equal(reads, 1);
});

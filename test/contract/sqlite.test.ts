// The metadata store contract (metadata-contract.ts) on the embedded default: KyselyMetadataStore
// over node:sqlite, as app.ts openStores() opens it, on a fresh database file per test.
// PostgreSQL joins with one more metadataContract("postgresql", factory) line. Then what only
// SQLite needs: a lease written without a WAL sync.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Kysely, sql, type Transaction } from "kysely";
import type { Digest } from "../../src/domain/digest.ts";
import type { RepositoryName } from "../../src/domain/names.ts";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite, UNSYNCED, UNSYNCED_NEXT_TRANSACTION } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import { metadataContract } from "./metadata-contract.ts";

metadataContract("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "berth-contract-sqlite-"));
  const db = new Kysely<Database>({ dialect: openSqlite(join(dir, "berth.db")).dialect });
  const store = await KyselyMetadataStore.open(db);
  return {
    store,
    // A second store over the same connection: node:sqlite blocks the thread while a connection
    // waits for SQLite's write lock, so a second connection in this process would wait on the
    // first forever. SQLite runs one write transaction at a time either way; two real processes
    // on one database are test/e2e/two-processes.test.ts.
    another: () => KyselyMetadataStore.open(db),
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test("a lease is written without waiting for the disk, and every other commit still syncs (synchronous stays FULL)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-contract-sqlite-"));
  const { dialect, raw } = openSqlite(join(dir, "berth.db"));
  const statements: string[] = [];
  const db = new Kysely<Database>({ dialect, log: (event) => void statements.push(event.query.sql) });
  const store = await KyselyMetadataStore.open(db);
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const synchronous = () => (raw.prepare("pragma synchronous").get() as { synchronous: number }).synchronous;
  assert.equal(synchronous(), 2);
  const now = new Date();
  await store.uploads.create({ id: "u", repository: "r" as RepositoryName, offset: 0, algorithm: "sha256", startedAt: now, updatedAt: now, handle: null, lease: null });
  const until = 30_000;
  statements.length = 0;
  assert.equal((await store.uploads.lease("u", "a", until, { repository: "r" }))?.lease?.owner, "a");
  assert.equal((await store.uploads.lease("u", "a", until))?.lease?.owner, "a", "without a repository too");
  assert.equal(await store.uploads.markVerified("u", "a", `sha256:${"0".repeat(64)}` as Digest), true);
  assert.equal(await store.uploads.advance("u", 0, 5, { handle: "h", writer: "w", release: "a" }), true);
  assert.deepEqual(
    statements.map((text) => text.endsWith(UNSYNCED)),
    [true, true, true, false],
    "the leases and the verified mark go unsynced, the advance a client is told about does not",
  );
  assert.equal(synchronous(), 2, "FULL again after the lease");
  await assert.rejects(store.transaction(async (tx) => {
    assert.ok(await tx.uploads.lease("u", "a", until), "inside a transaction, as is");
    throw new Error("rolled back");
  }));
  assert.equal(synchronous(), 2);
});

test("a statement marked UNSYNCED runs under synchronous = NORMAL, outside a transaction only, and FULL is back right after", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-contract-sqlite-"));
  const { dialect } = openSqlite(join(dir, "berth.db"));
  const db = new Kysely<Database>({ dialect });
  t.after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  // pragma_synchronous: the level in force while the statement itself runs.
  const level = async (executor: Kysely<Database> | Transaction<Database>, marked: boolean) =>
    (await sql<{ synchronous: number }>`select synchronous from pragma_synchronous ${sql.raw(marked ? UNSYNCED : "")}`.execute(executor)).rows[0]!.synchronous;
  assert.equal(await level(db, true), 1);
  assert.equal(await level(db, false), 2);
  assert.equal(await level(db, true), 1, "again: the pragmas are prepared once");
  await db.transaction().execute(async (tx) => {
    assert.equal(await level(tx, true), 2, "a transaction's commit syncs: left alone");
  });
  assert.equal(await level(db, false), 2);
});

test("UNSYNCED_NEXT_TRANSACTION lowers the transaction begun right after it, and no other statement; FULL is back after its commit or rollback", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-contract-sqlite-"));
  const { dialect } = openSqlite(join(dir, "berth.db"));
  const db = new Kysely<Database>({ dialect });
  t.after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const level = async (executor: Kysely<Database> | Transaction<Database>) => (await sql<{ synchronous: number }>`select synchronous from pragma_synchronous`.execute(executor)).rows[0]!.synchronous;
  const lowered = (work: (tx: Transaction<Database>) => Promise<void>) =>
    db.connection().execute(async (connection) => {
      await sql.raw(UNSYNCED_NEXT_TRANSACTION).execute(connection);
      await connection.transaction().execute(work);
    });
  await lowered(async (tx) => assert.equal(await level(tx), 1, "the transaction begun right after it"));
  assert.equal(await level(db), 2, "FULL after its commit");
  await assert.rejects(lowered(async (tx) => {
    assert.equal(await level(tx), 1);
    throw new Error("rolled back");
  }));
  assert.equal(await level(db), 2, "FULL after its rollback");
  await sql.raw(UNSYNCED_NEXT_TRANSACTION).execute(db);
  assert.equal(await level(db), 2, "a statement other than BEGIN runs at FULL: the level is back first");
  await db.transaction().execute(async (tx) => assert.equal(await level(tx), 2, "and the next transaction syncs"));
});

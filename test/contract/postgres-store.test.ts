// What only PostgreSQL needs beyond the shared contract (postgres.test.ts): instances that start
// together on an empty database, values read back as on SQLite (numbers, exact bytes), and the
// locks SQLite's single writer gave for free (src/metadata/locks.ts), shown on the gc/push race
// the research note found (docs/scale.md). One throwaway cluster for the file.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { Kysely, sql } from "kysely";
import pg from "pg";
import { BlobStore, blobKey } from "../../src/blobs/blob-store.ts";
import { FilesystemDriver } from "../../src/blobs/drivers/filesystem.ts";
import { digestBytes } from "../../src/domain/digest.ts";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { migrations } from "../../src/metadata/migrations/index.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { commitBlob } from "../../src/services/blob-commit.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { manifestRecord, repo } from "./metadata-fixtures.ts";

const cluster = usePostgres();

function open(url: string): Promise<KyselyMetadataStore> {
  return KyselyMetadataStore.open(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 4 }).dialect }));
}

test("instances starting together on an empty database migrate it once (Kysely's migration lock), and all open", async (t) => {
  const url = await cluster().database();
  const stores = await Promise.all(Array.from({ length: 4 }, () => open(url)));
  t.after(() => Promise.all(stores.map((s) => s.close())));
  const applied = await query<{ name: string; n: number }>(url, "select name, count(*)::int as n from kysely_migration group by name order by name");
  assert.deepEqual(applied, Object.keys(migrations).map((name) => ({ name, n: 1 })));
  await stores[0]!.repositories.ensure(repo("team/app"));
  assert.equal(await stores[3]!.repositories.exists(repo("team/app")), true);
});

test("bigint reads back as a number, in the pool (sizes past 2^32, counts, change ids); bytes as bytes", async (t) => {
  const url = await cluster().database();
  const { dialect } = openPostgres({ url, poolSize: 2 });
  const db = new Kysely<Database>({ dialect });
  const store = await KyselyMetadataStore.open(db);
  t.after(() => store.close());
  const digest = digestBytes(Buffer.from("big"));
  await store.blobs.record(digest, 5_000_000_000);
  const raw = await db.selectFrom("blobs").select(["size", "created_at"]).where("digest", "=", digest).executeTakeFirstOrThrow();
  assert.equal(typeof raw.size, "number");
  assert.equal(raw.size, 5_000_000_000);
  assert.equal(typeof raw.created_at, "number");
  const counted = await sql<{ n: unknown }>`select count(*) as n from blobs`.execute(db);
  assert.equal(counted.rows[0]!.n, 1);
  // A manifest body is stored as received, every byte (bytea), not as text.
  const body = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x80, 0x7d]);
  const record = { ...manifestRecord("team/app", "x"), body, digest: digestBytes(body), size: body.length };
  await store.repositories.ensure(repo("team/app"));
  await store.manifests.put(record, { blobs: [], children: [] });
  assert.deepEqual((await store.manifests.get(repo("team/app"), record.digest))?.body, body);
  const [column] = await query<{ data_type: string }>(url, "select data_type from information_schema.columns where table_name = 'manifests' and column_name = 'body'");
  assert.equal(column?.data_type, "bytea");
});

/**
 * gc's sweep of a blob nothing references, paused between its check and its delete (inside its
 * transaction), while another instance pushes the same digest. The pause lasts until the push has
 * either finished or is waiting for a lock (seen in pg_locks), so both orders the locks allow are
 * reached without guessing at timings.
 */
async function sweepDuringPush(t: TestContext): Promise<{ row: number | null; linked: boolean; file: boolean; pushWaited: boolean }> {
  const url = await cluster().database();
  const dir = await mkdtemp(join(tmpdir(), "berth-pg-race-"));
  const gcStore = await open(url);
  const pushStore = await open(url);
  t.after(async () => {
    await gcStore.close();
    await pushStore.close();
    await rm(dir, { recursive: true, force: true });
  });
  let armed = false;
  let pushDone = false;
  let pushWaited = false;
  // Resolved when gc's sweep reaches the blob's delete, inside its transaction: the push starts
  // then. (It used to poll pg_stat_activity for a session idle in transaction, which another
  // session could be: CI saw the push go first and never wait.)
  let reachedDelete!: () => void;
  const inDelete = new Promise<void>((resolve) => (reachedDelete = resolve));
  class PausingDriver extends FilesystemDriver {
    override async delete(key: string): Promise<void> {
      if (armed && key.startsWith("blobs/")) {
        reachedDelete();
        for (;;) {
          if (pushDone) break;
          const [waiting] = await query<{ n: number }>(url, "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted");
          if (waiting!.n > 0) {
            pushWaited = true;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      return super.delete(key);
    }
  }
  const blobs = new BlobStore(new PausingDriver(dir));
  t.after(() => blobs.close());
  const bytes = Buffer.from("a layer both gc and a push care about");
  const digest = digestBytes(bytes);
  // The blob as an earlier push left it, no longer linked: gc may collect it.
  await commitBlob(gcStore, blobs, repo("team/old"), await blobs.receive(Readable.from([bytes]), digest));
  await gcStore.blobLinks.unlink(repo("team/old"), digest);
  // The push starts once gc has checked the blob and is about to delete it.
  const staged = await blobs.receive(Readable.from([bytes]), digest);
  armed = true;
  const gcRun = collectGarbage(gcStore, blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: 86_400, dryRun: false, now: new Date(Date.now() + 1000) });
  const pushing = (async () => {
    // Wait until gc's transaction is inside delete (the driver pauses there), then push.
    await inDelete;
    await commitBlob(pushStore, blobs, repo("team/app"), staged);
    pushDone = true;
  })();
  await Promise.all([gcRun, pushing]);
  let file = true;
  await readFile(join(dir, blobKey(digest))).catch(() => (file = false));
  return { row: await pushStore.blobs.size(digest), linked: await pushStore.blobLinks.isLinked(repo("team/app"), digest), file, pushWaited };
}

test("gc sweeping a blob while another instance pushes the same digest ends consistent: the push waits for gc's decision, then records and publishes the blob again", async (t) => {
  const end = await sweepDuringPush(t);
  assert.equal(end.pushWaited, true, "the push waited for the digest's lock");
  assert.deepEqual({ row: end.row, linked: end.linked, file: end.file }, { row: 37, linked: true, file: true });
});

test("the same interleaving without the digest's lock leaves a link to a forgotten blob (what the lock prevents)", async (t) => {
  const store = await open(await cluster().database());
  const blobsPart = Object.getPrototypeOf(store.blobs) as { hold(digest: string): Promise<void> };
  await store.close();
  const hold = blobsPart.hold;
  blobsPart.hold = async () => {};
  t.after(() => {
    blobsPart.hold = hold;
  });
  const end = await sweepDuringPush(t);
  assert.equal(end.pushWaited, false);
  assert.deepEqual({ row: end.row, linked: end.linked, file: end.file }, { row: null, linked: true, file: false });
});

/**
 * Two writers and a reader of the change log: T1 appends and stays open, T2 appends and commits,
 * the reader reads (seeing T2's entry) and moves its cursor past it, then T1 commits. The reader's
 * next read from its cursor must bring T1's entry.
 */
async function entryCommittedLate(t: TestContext): Promise<{ firstRead: string[]; nextRead: string[] }> {
  const url = await cluster().database();
  const writer = await open(url);
  const other = await open(url);
  t.after(async () => {
    await writer.close();
    await other.close();
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let appended!: () => void;
  const inside = new Promise<void>((resolve) => (appended = resolve));
  const t1 = writer.transaction(async (tx) => {
    await tx.changes.append({ kind: "signing-key.added", kid: "T1" });
    appended();
    await gate;
  });
  await inside;
  await other.changes.append({ kind: "signing-key.added", kid: "T2" });
  const first = await other.changes.since(0, 100);
  release();
  await t1;
  const next = await other.changes.since(first.at(-1)!.id, 100);
  const kid = (e: { change: unknown }) => (e.change as { kid: string }).kid;
  return { firstRead: first.map(kid), nextRead: next.map(kid) };
}

test("change log: an entry whose transaction commits after a later-numbered one's is still read after the reader's cursor (ids are final at commit)", async (t) => {
  assert.deepEqual(await entryCommittedLate(t), { firstRead: ["T2"], nextRead: ["T1"] });
});

test("change log: without numbering at commit, the same reader never reads T1's entry (what seal() prevents)", async (t) => {
  const { ChangeStore } = await import("../../src/metadata/change-store.ts");
  const seal = ChangeStore.prototype.seal;
  ChangeStore.prototype.seal = async () => {};
  t.after(() => {
    ChangeStore.prototype.seal = seal;
  });
  assert.deepEqual(await entryCommittedLate(t), { firstRead: ["T2"], nextRead: [] });
});

test("gc: one at a time across instances; a second is refused while the first holds the lock, and runs once it ends", async (t) => {
  const url = await cluster().database();
  const dir = await mkdtemp(join(tmpdir(), "berth-pg-gc-"));
  const store = await open(url);
  const blobs = new BlobStore(new FilesystemDriver(dir));
  t.after(async () => {
    await store.close();
    await blobs.close();
    await rm(dir, { recursive: true, force: true });
  });
  const options = { gracePeriodSeconds: 0, uploadExpirySeconds: 86_400, dryRun: false };
  // Another instance's gc, as it holds the lock: a session lock on its own connection.
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.after(() => other.end());
  await other.query("select pg_advisory_lock(hashtextextended('gc', 0))");
  await assert.rejects(collectGarbage(store, blobs, options), /another gc is running/);
  await other.query("select pg_advisory_unlock(hashtextextended('gc', 0))");
  assert.equal((await collectGarbage(store, blobs, options)).blobsDeleted, 0);
  // A finished run let go of the lock: the other instance takes it.
  assert.equal((await other.query("select pg_try_advisory_lock(hashtextextended('gc', 0)) as taken")).rows[0].taken, true);
});

test("change announcements: a commit that appended is announced to a listener on another connection, a rolled-back one is not, and a reconnect reports once", async (t) => {
  const { ChangeAnnouncements } = await import("../../src/metadata/postgres/change-announcements.ts");
  const url = await cluster().database();
  const store = await open(url);
  const warnings: string[] = [];
  const announcements = new ChangeAnnouncements(url, { warn: (_o, message) => void warnings.push(message) });
  t.after(async () => {
    await announcements.close();
    await store.close();
  });
  let heard = 0;
  let next: (() => void) | null = null;
  announcements.subscribe(() => {
    heard++;
    next?.();
  });
  const announced = () => new Promise<void>((resolve) => (next = resolve));
  const connected = announced();
  await announcements.start();
  await connected; // the report on connect
  assert.equal(heard, 1);
  await assert.rejects(store.transaction(async (tx) => {
    await tx.changes.append({ kind: "signing-key.added", kid: "rolled back" });
    throw new Error("rolled back");
  }));
  const committed = announced();
  const started = performance.now();
  await store.changes.append({ kind: "signing-key.added", kid: "kept" });
  await committed;
  t.diagnostic(`announced ${(performance.now() - started).toFixed(1)} ms after the append began`);
  assert.equal(heard, 2, "the rolled-back append was not announced; the committed one was");
  // The server ends the listening connection: the listener reconnects and reports once.
  const reconnected = announced();
  await query(url, "select pg_terminate_backend(pid) from pg_stat_activity where query = 'listen berth_changes'");
  await reconnected;
  assert.equal(heard, 3);
  assert.ok(warnings.some((w) => w.includes("reconnecting")), warnings.join("; "));
});

test("change log: a transaction's entries keep their append order when numbered at commit", async (t) => {
  const store = await open(await cluster().database());
  t.after(() => store.close());
  const kids = Array.from({ length: 25 }, (_, i) => `k${String(24 - i).padStart(2, "0")}`); // not in id-sortable text order
  await store.transaction(async (tx) => {
    for (const kid of kids) await tx.changes.append({ kind: "signing-key.added", kid });
  });
  const read = await store.changes.since(0, 100);
  assert.deepEqual(read.map((e) => (e.change as { kid: string }).kid), kids);
  assert.ok(read.every((e, i) => i === 0 || e.id > read[i - 1]!.id));
});

// Row-lock order on PostgreSQL (src/metadata/locks.ts): two requests that write the same rows
// take them in one order, so neither waits for a row the other holds while holding one it wants
// (PostgreSQL ends one with 40P01, "deadlock detected": a 500). Each test drives the two requests
// through HTTP and makes the dangerous interleaving happen every time: a transaction of the test's
// own holds a row both want, the requests queue behind it, then it rolls back.
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import pg from "pg";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { api } from "../support/identity-api.ts";
import { OCI_MANIFEST, OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { until } from "../support/until.ts";
import { WEBHOOKS_HERE } from "../support/webhook-berth.ts";

const cluster = usePostgres();

/** A transaction of the test's own, and how many other sessions of its database wait for a lock. */
async function holder(t: TestContext, url: string): Promise<{ client: pg.Client; waiters: () => Promise<number> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.after(() => client.end());
  const pid = (client as unknown as { processID: number }).processID;
  const waiters = async () => (await query<{ n: number }>(url, "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1", [pid]))[0]!.n;
  return { client, waiters };
}

/** A response's status and body, as an assertion message shows them, and the deadlocks Berth logged. */
async function shown(berth: RunningBerth, ...responses: Response[]): Promise<string> {
  const bodies = await Promise.all(responses.map(async (r) => `${r.status} ${await r.clone().text()}`));
  const logged = berth.output().match(/"message":"[^"]*deadlock[^"]*"/g) ?? [];
  return [...bodies, ...logged].join("; ");
}

test("PostgreSQL: a restore and a purge of a digest's two deleted records, both waiting for one record's row, end without a deadlock: 200 and 404, the content back and no record left", { timeout: 180_000 }, async (t) => {
  const url = await cluster().database();
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, BERTH_DELETION_RESTORABLE_FOR: "86400" } });
  t.after(() => berth.dispose());
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  // Two records of one digest: its tag t1 deleted alone (the older), then the manifest by digest
  // with t2 (the newer). The restore forgot them newest first, record by record (refs, body, row);
  // the purge forgot both in three statements, each meeting the older record's rows first (in the
  // table, and in the key's order: the repository is made again until both orders agree).
  let found: { repo: string; digest: string; older: string; newer: string } | null = null;
  for (let attempt = 0; attempt < 12 && !found; attempt++) {
    const repo = `team/trash-${attempt}`;
    const image = buildImage([randomLayer(512)], `image ${attempt}`);
    await pushImage(client, repo, "t1", image);
    assert.equal((await client.raw("PUT", `/v2/${repo}/manifests/t2`, { headers: { "content-type": OCI_MANIFEST }, body: image.manifest })).status, 201);
    assert.equal((await client.raw("DELETE", `/v2/${repo}/manifests/t1`)).status, 202);
    assert.equal((await client.raw("DELETE", `/v2/${repo}/manifests/${image.digest}`)).status, 202);
    const [older, newer] = (await query<{ id: string }>(url, "select id from trash where repository = $1 order by deleted_at", [repo])).map((r) => r.id);
    assert.ok(older && newer, "two records kept");
    const byCtid = (await query<{ id: string }>(url, "select trash_id as id from trash_refs where trash_id in ($1, $2) order by ctid", [older, newer])).map((r) => r.id);
    const byKey = (await query<{ id: string }>(url, "select trash_id as id from trash_refs where trash_id in ($1, $2) order by trash_id", [older, newer])).map((r) => r.id);
    assert.equal(new Set(byKey).size, 2, "both records name the image's blobs");
    if (byCtid[0] === older && byKey[0] === older) found = { repo, digest: image.digest, older, newer };
  }
  assert.ok(found, "no attempt made the older record first in the table and in the key's order");
  const { repo, digest, older, newer } = found;

  const { client: other, waiters } = await holder(t, url);
  await other.query("begin");
  await other.query("select id from trash where id = $1 for update", [newer]);
  const restoring = client.raw("POST", `/api/v1/deleted/${repo}`, { headers: { "content-type": "application/json" }, body: JSON.stringify({ reference: digest }) });
  let early: string | null = null;
  void restoring.then(async (r) => (early = `${r.status} ${await r.clone().text()}`));
  await until("the restore waiting for the newer record's row", async () => { if (early) throw new Error(`answered: ${early}`); return (await waiters()) >= 1; });
  const purging = client.raw("DELETE", `/api/v1/deleted/${repo}?reference=${digest}`);
  await until("the purge waiting too", async () => (await waiters()) >= 2);
  await other.query("rollback");
  const [restored, purged] = await Promise.all([restoring, purging]);
  assert.deepEqual({ restore: restored.status, purge: purged.status }, { restore: 200, purge: 404 }, await shown(berth, restored, purged));
  const tags = await query<{ tag: string; digest: string }>(url, "select tag, digest from tags where repository = $1 order by tag", [repo]);
  assert.deepEqual(tags, ["t1", "t2"].map((tag) => ({ tag, digest })));
  assert.deepEqual(await query(url, "select id from trash where id in ($1, $2)", [older, newer]), []);
  assert.deepEqual(await query(url, "select trash_id from trash_refs where trash_id in ($1, $2)", [older, newer]), []);
});

/** A webhook receiver that answers 204, or holds its answers while `held` until release(). */
async function gatedReceiver(t: TestContext): Promise<{ url: string; paths: string[]; hold: () => void; release: () => void }> {
  const paths: string[] = [];
  const waiting: ServerResponse[] = [];
  let held = false;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      paths.push(req.url ?? "/");
      if (held) waiting.push(res);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    hold: () => void (held = true),
    release: () => { held = false; for (const res of waiting.splice(0)) res.writeHead(204).end(); },
  };
}

test("PostgreSQL: a webhook's delete beside the worker recording a sent batch and trimming old deliveries, both waiting for one delivery's row, ends without a deadlock: 200", { timeout: 180_000 }, async (t) => {
  const url = await cluster().database();
  const receiver = await gatedReceiver(t);
  // New deliveries wait an hour for their batch (none is due until the test makes it so); one
  // finished delivery is kept, so recording a batch deletes the older finished ones.
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, ...WEBHOOKS_HERE, BERTH_WEBHOOKS_BATCH_DELAY: "3600", BERTH_WEBHOOKS_KEEP_DELIVERIES: "1" } });
  t.after(() => berth.dispose());
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  await api(berth, "POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/ci`, actions: ["push"] });
  const rows = () => query<{ id: number; status: string }>(url, "select id, status from webhook_deliveries where webhook = 'ci' order by id");
  const due = (ids: number[]) => query(url, "update webhook_deliveries set next_at = 0 where id = any($1)", [ids]);
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(200)], "hook-1"));
  await until("the first delivery queued", async () => (await rows()).length === 1);
  const [done] = (await rows()).map((r) => Number(r.id));
  await due([done!]);
  await until("the first delivery sent", async () => (await rows())[0]?.status === "delivered");
  for (const n of [2, 3]) await pushImage(client, "team/app", `v${n}`, buildImage([randomLayer(200)], `hook-${n}`));
  await until("two more queued", async () => (await rows()).length === 3);
  const [, first, second] = (await rows()).map((r) => Number(r.id));
  // One batch of both; the receiver holds its answer to the first while the test locks its row.
  receiver.hold();
  await due([first!, second!]);
  await until("the batch's first delivery sent", () => receiver.paths.length === 2);

  // The worker records the batch (its rows in id order, then deletes the older finished one); a
  // delete of the webhook deletes its rows in the queue index's order: finished ones first.
  const { client: other, waiters } = await holder(t, url);
  await other.query("begin");
  await other.query("select id from webhook_deliveries where id = $1 for update", [first]);
  receiver.release();
  await until("the worker recording, waiting for the first delivery's row", async () => (await waiters()) >= 1);
  const deleting = client.raw("DELETE", "/api/v1/webhooks/ci");
  await until("the delete waiting too", async () => (await waiters()) >= 2);
  await other.query("rollback");
  const deleted = await deleting;
  await until("no one waiting", async () => (await waiters()) === 0);
  assert.equal(deleted.status, 200, await shown(berth, deleted));
  assert.doesNotMatch(berth.output(), /deadlock detected/, await shown(berth, deleted));
  assert.equal(receiver.paths.length, 3);
  assert.deepEqual(await rows(), []);
});

test("PostgreSQL: a start that lowers deletion.restorableFor, beside a writer holding deleted records in id order, ends without a deadlock: both records shortened, the writer unharmed", { timeout: 180_000 }, async (t) => {
  const url = await cluster().database();
  const postgres = { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url };
  const berth = await startBerth({ env: { ...postgres, BERTH_DELETION_RESTORABLE_FOR: "86400" } });
  t.after(() => berth.dispose());
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  // Two records, the first kept (first in the table, which one UPDATE walks) holding the larger
  // id: the start's UPDATE took it and then waited for the smaller one, which every other writer
  // of records holds first (Trash.hold), while that writer wanted the larger one next.
  let found: { first: string; second: string } | null = null;
  for (let attempt = 0; attempt < 12 && !found; attempt++) {
    const repo = `team/window-${attempt}`;
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const image = buildImage([randomLayer(256)], `window ${attempt} ${n}`);
      await pushImage(client, repo, `t${n}`, image);
      assert.equal((await client.raw("DELETE", `/v2/${repo}/manifests/${image.digest}`)).status, 202);
      ids.push((await query<{ id: string }>(url, "select id from trash where repository = $1 and digest = $2", [repo, image.digest]))[0]!.id);
    }
    const byCtid = (await query<{ id: string }>(url, "select id from trash where repository = $1 order by ctid", [repo])).map((r) => r.id);
    if (ids[0]! > ids[1]! && byCtid[0] === ids[0]) found = { first: ids[0]!, second: ids[1]! };
  }
  assert.ok(found, "no attempt kept the larger id first in the table");
  const { first, second } = found;

  const { client: writer, waiters } = await holder(t, url);
  await writer.query("begin");
  await writer.query("select id from trash where id = $1 for update", [second]);
  const starting = startBerth({ env: { ...postgres, BERTH_DELETION_RESTORABLE_FOR: "3600" } }).then(
    (started) => {
      t.after(() => started.dispose());
      return "started";
    },
    (err: unknown) => `failed: ${String(err).slice(0, 2000)}`,
  );
  await until("the start waiting for the smaller record's row", async () => (await waiters()) >= 1, 60_000);
  // The writer goes on to the larger record, as a restore or purge of both does.
  const next = await writer.query("select id from trash where id = $1 for update", [first]).then(
    () => "held",
    (err: unknown) => `failed: ${String(err)}`,
  );
  await writer.query("rollback").catch(() => undefined);
  assert.deepEqual({ writer: next, start: await starting }, { writer: "held", start: "started" });
  const windows = await query<{ id: string; ms: string }>(url, "select id, (expires_at - deleted_at)::text as ms from trash where id in ($1, $2) order by id", [first, second]);
  assert.deepEqual(windows.map((w) => w.ms), ["3600000", "3600000"]);
});

test("PostgreSQL: a blob's DELETE beside a purge of the two deleted records naming it, both waiting for one record's reference, ends without a deadlock: no 5xx, the records gone", { timeout: 180_000 }, async (t) => {
  const url = await cluster().database();
  // The plans of a large table: a purge's `trash_id in (…)` walks the key's index (record id
  // order), not the table (a small table's sequential scan meets the rows as the blob's DELETE does).
  const name = new URL(url).pathname.slice(1);
  for (const off of ["enable_seqscan", "enable_bitmapscan"]) await query(url, `alter database "${name}" set ${off} = off`);
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, BERTH_DELETION_RESTORABLE_FOR: "86400" } });
  t.after(() => berth.dispose());
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  // Two records naming one layer: the one deleted first is first in the table (where the blob's
  // DELETE meets its references, by the layer's index) and holds the larger id (the purge meets
  // them by record id: the other first). Unheld, each took one reference and waited for the other's.
  let found: { repo: string; layer: string; first: string; second: string } | null = null;
  for (let attempt = 0; attempt < 12 && !found; attempt++) {
    const repo = `team/shared-${attempt}`;
    const layer = randomLayer(512);
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const image = buildImage([layer], `shared ${attempt} ${n}`);
      await pushImage(client, repo, `t${n}`, image);
      assert.equal((await client.raw("DELETE", `/v2/${repo}/manifests/${image.digest}`)).status, 202);
      ids.push((await query<{ id: string }>(url, "select id from trash where repository = $1 and digest = $2", [repo, image.digest]))[0]!.id);
    }
    const byCtid = (await query<{ id: string }>(url, "select trash_id as id from trash_refs where repository = $1 and target_digest = $2 order by ctid", [repo, layer.digest])).map((r) => r.id);
    if (ids[0]! > ids[1]! && byCtid[0] === ids[0]) found = { repo, layer: layer.digest, first: ids[0]!, second: ids[1]! };
  }
  assert.ok(found, "no attempt kept the larger id first in the table");
  const { repo, layer, first, second } = found;

  const { client: other, waiters } = await holder(t, url);
  await other.query("begin");
  await other.query("select trash_id from trash_refs where trash_id = $1 and target_digest = $2 for update", [second, layer]);
  const purging = client.raw("DELETE", `/api/v1/deleted/${repo}`);
  let early: string | null = null;
  void purging.then(async (r) => (early = `${r.status} ${await r.clone().text()}`));
  await until("the purge waiting for the second record's reference", async () => { if (early) throw new Error(`answered: ${early}`); return (await waiters()) >= 1; });
  const deleting = client.raw("DELETE", `/v2/${repo}/blobs/${layer}`);
  await until("the blob's DELETE waiting too", async () => (await waiters()) >= 2);
  await other.query("rollback");
  const [purged, deleted] = await Promise.all([purging, deleting]);
  const outcome = { purge: purged.status, blobDelete: deleted.status < 500 ? "no 5xx" : deleted.status };
  assert.deepEqual(outcome, { purge: 200, blobDelete: "no 5xx" }, await shown(berth, purged, deleted));
  assert.doesNotMatch(berth.output(), /deadlock detected/, await shown(berth, purged, deleted));
  assert.deepEqual(await query(url, "select id from trash where id in ($1, $2)", [first, second]), []);
  assert.deepEqual(await query(url, "select trash_id from trash_refs where trash_id in ($1, $2)", [first, second]), []);
});

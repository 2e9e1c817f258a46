// Outside attack s8 on webhooks end to end (finding 5, /work/notes/attack-s8-findings.md), kept as
// regression tests: `berth serve` killed while deliveries wait their batch delay (held), and on
// PostgreSQL a webhook deleted while the fan-out queues its deliveries (the fan-out share-locks the
// webhook rows it queues for; a delete takes the row first, then its deliveries, in one transaction).
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { startBerth } from "../support/berth.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { startPostgres } from "../support/postgres.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

// At least once: deliveries queued and waiting their batch delay when `berth serve` is killed are
// sent after the restart, each event once at least, in order.
test("held: attack-s8 webhooks: kill -9 while deliveries wait their batch delay (3 s): after the restart each is delivered, in event order", { timeout: 120_000 }, async (t) => {
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const berth = await startBerth({ env: { BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", BERTH_WEBHOOKS_INTERVAL: "0.1", BERTH_WEBHOOKS_BATCH_DELAY: "3" } });
  t.after(() => berth.dispose());
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${berth.url}${path}`, { method, headers: { authorization: berth.basicAuth, ...(body !== undefined && { "content-type": "application/json" }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await api("POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/ci`, actions: ["push"] });
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  for (const n of [1, 2, 3, 4]) await pushImage(client, "team/app", `v${n}`, buildImage([randomLayer(200)], `kill-${n}`));
  for (;;) {
    const list = (await api("GET", "/api/v1/webhooks/ci/deliveries")) as { deliveries: { status: string }[] };
    if (list.deliveries.filter((d) => d.status === "pending").length === 4) break;
    await sleep(20);
  }
  assert.equal(receiver.received.length, 0, "nothing sent before the batch delay");
  await berth.kill();
  await berth.restart();
  await receiver.waitFor(4, 60_000);
  const events = ((await api("GET", "/api/v1/events?limit=100")) as { events: { id: number; action: string }[] }).events.filter((e) => e.action === "push").map((e) => e.id).sort((x, y) => x - y);
  const got = receiver.received.map((r) => Number(r.headers["berth-event"]));
  assert.deepEqual([...new Set(got)], events, "each event delivered, in order");
});

// On PostgreSQL the fan-out read the webhooks, then inserted their deliveries, in a transaction
// that locked no webhook row; a webhook deleted in between (its deliveries deleted first, then its
// row) got the fan-out's deliveries after it was gone. They waited under its name, and a webhook
// made again with that name (another receiver, another owner's) was sent them: events from before
// it was made. Here the fan-out's insert is held by a conflicting insert of the test's own,
// uncommitted (the unique (webhook, event_id) index makes it wait), while the webhook is deleted;
// then the test rolls back and makes the webhook again. The fan-out now share-locks the webhooks it
// queues for, so the delete waits for it (and then removes what it queued); before, it answered at
// once and the webhook was made again while the fan-out still held its deliveries.
test("attack-s8 webhooks on PostgreSQL: a webhook deleted while the fan-out is queueing its deliveries, then made again under the same name with another URL, is not sent the events from before it was made", { timeout: 120_000 }, async (t) => {
  const postgres = await startPostgres();
  t.after(() => postgres.stop());
  const url = await postgres.database();
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", BERTH_WEBHOOKS_INTERVAL: "0.1", BERTH_WEBHOOKS_BATCH_DELAY: "0" } });
  t.after(() => berth.dispose());
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${berth.url}${path}`, { method, headers: { authorization: berth.basicAuth, ...(body !== undefined && { "content-type": "application/json" }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await api("POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/old`, actions: ["push"] });
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(200)], "pg-1"));
  await receiver.waitFor(1);

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Ended once its transaction is rolled back: PostgreSQL stops first at teardown (hooks run in
  // order), and a client still connected then fails the test with "Connection terminated".
  let ended = false;
  t.after(() => (ended ? undefined : db.end()));
  const last = Number((await db.query("select coalesce(max(id), 0) as id from changes")).rows[0].id);
  await db.query("begin");
  for (let id = last + 1; id <= last + 20; id++) {
    await db.query("insert into webhook_deliveries (webhook, event_id, action, created_at, status, attempts, next_at, request_headers, body) values ('ci', $1, 'push', 0, 'failed', 0, 0, '{}', '')", [id]);
  }
  await pushImage(client, "team/app", "v2", buildImage([randomLayer(200)], "pg-2"));
  // The fan-out is waiting on the insert of the push's delivery (pg_stat_activity shows it).
  for (;;) {
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    const rows = (await probe.query("select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%webhook_deliveries%'")).rows as { n: number }[];
    await probe.end();
    if (rows[0]!.n > 0) break;
    await sleep(50);
  }
  let deleted = false;
  const deleting = api("DELETE", "/api/v1/webhooks/ci").then(() => (deleted = true));
  // Either the delete answers, or it waits for a lock (the fan-out's on the webhook's row).
  for (;;) {
    if (deleted) break;
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    const rows = (await probe.query(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'delete from "webhooks"%'`)).rows as { n: number }[];
    await probe.end();
    if (rows[0]!.n > 0) break;
    await sleep(50);
  }
  if (deleted) await api("POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/new`, actions: ["push"] });
  await db.query("rollback");
  await db.end();
  ended = true;
  await deleting;
  const listed = (await api("GET", "/api/v1/webhooks")) as { webhooks: { name: string }[] };
  if (!listed.webhooks.some((w) => w.name === "ci")) await api("POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/new`, actions: ["push"] });
  await pushImage(client, "team/app", "v3", buildImage([randomLayer(200)], "pg-3"));
  await receiver.waitFor(2);
  await sleep(1500);
  const events = ((await api("GET", "/api/v1/events?limit=100")) as { events: { id: number; action: string }[] }).events.filter((e) => e.action === "push").map((e) => e.id).sort((x, y) => x - y);
  const sent = receiver.received.map((r) => `${r.path} ${String(r.headers["berth-event"])}`);
  assert.deepEqual(sent, [`/old ${events[0]}`, `/new ${events[2]}`], "the new webhook gets only the push after it was made");
});

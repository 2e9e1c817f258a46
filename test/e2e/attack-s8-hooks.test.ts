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
import { query, startPostgres } from "../support/postgres.ts";
import { api } from "../support/identity-api.ts";
import { killWhileBatchWaits, pushEventIds, WEBHOOKS_HERE } from "../support/webhook-berth.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

// At least once: deliveries queued and waiting their batch delay when `berth serve` is killed are
// sent after the restart, each event once at least, in order.
test("held: attack-s8 webhooks: kill -9 while deliveries wait their batch delay (3 s): after the restart each is delivered, in event order", { timeout: 120_000 }, killWhileBatchWaits);

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
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, ...WEBHOOKS_HERE, BERTH_WEBHOOKS_BATCH_DELAY: "0" } });
  t.after(() => berth.dispose());
  await api(berth, "POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/old`, actions: ["push"] });
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
    const rows = await query<{ n: number }>(url, "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%webhook_deliveries%'");
    if (rows[0]!.n > 0) break;
    await sleep(50);
  }
  let deleted = false;
  const deleting = api(berth, "DELETE", "/api/v1/webhooks/ci").then(() => (deleted = true));
  // Either the delete answers, or it waits for a lock (the fan-out's on the webhook's row).
  for (;;) {
    if (deleted) break;
    const rows = await query<{ n: number }>(url, `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'delete from "webhooks"%'`);
    if (rows[0]!.n > 0) break;
    await sleep(50);
  }
  if (deleted) await api(berth, "POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/new`, actions: ["push"] });
  await db.query("rollback");
  await db.end();
  ended = true;
  await deleting;
  const listed = (await api(berth, "GET", "/api/v1/webhooks")) as { webhooks: { name: string }[] };
  if (!listed.webhooks.some((w) => w.name === "ci")) await api(berth, "POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/new`, actions: ["push"] });
  await pushImage(client, "team/app", "v3", buildImage([randomLayer(200)], "pg-3"));
  // Until the new webhook got v3's push (the old one's v2, which may come, would also make two
  // deliveries: then a fixed delay was all that waited for the new one's); then a while for
  // anything that should not come.
  for (const deadline = Date.now() + 60_000; !receiver.received.some((r) => r.path === "/new"); await sleep(20)) assert.ok(Date.now() < deadline, "the new webhook got nothing within 60 s");
  await sleep(1500);
  const events = await pushEventIds(berth);
  const sent = receiver.received.map((r) => `${r.path} ${String(r.headers["berth-event"])}`);
  // The old webhook may or may not get v2's push: it was pushed while the webhook existed, and the
  // delivery thread can send it between the fan-out's commit and the delete's. What must never
  // happen is the new webhook getting it.
  assert.deepEqual(sent.filter((s) => s.startsWith("/new ")), [`/new ${events[2]}`], `the new webhook gets only the push after it was made: ${sent.join(", ")}`);
  assert.deepEqual(sent.filter((s) => s.startsWith("/old ")).slice(0, 1), [`/old ${events[0]}`], sent.join(", "));
  assert.ok(sent.filter((s) => s.startsWith("/old ")).every((s) => s === `/old ${events[0]}` || s === `/old ${events[1]}`), `the old webhook gets nothing pushed after its delete: ${sent.join(", ")}`);
});

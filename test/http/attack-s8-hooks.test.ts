// Outside attack s8 on webhooks (findings 3, 4; /work/notes/attack-s8-findings.md), kept as
// regression tests: what a delivery is sent with (custom headers, format) and whether it is sent
// at all (scope, actions) follow the webhook's current row at each batch, not the fan-out's copy;
// its attempt's record keeps what went out. Also what held: order under concurrent pushes, a
// webhook disabled or deleted while its batch waits. The worker is ticked as `berth serve` ticks
// it; a real receiver answers.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { api, concurrentPushesInOrder, deletedWhileBatchWaits, disabledWhileBatchWaits, pending, pushEvents, receiver, setUp, until } from "../support/webhook-app.ts";

// docs/lifecycle.md: "The webhook's row is read again before each delivery, so a change, a rotated
// secret or a disable applies to the next one." A receiver whose token changed refuses the old one
// (401) until the webhook's header carries the new one.
test("attack-s8 webhooks: a custom header updated while a delivery waits for its retry (the receiver refused the old token) goes out with the next attempt", async (t) => {
  const hook = await receiver(t, (_, headers) => (headers["x-token"] === "new" ? 204 : 401));
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 0 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push"], headers: { "X-Token": "old" } });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "hdr"));
  await until("a first attempt refused", () => hook.got.length >= 1);
  await api(app, "PATCH", "/api/v1/webhooks/ci", { headers: { "X-Token": "new" } });
  const before = hook.got.length;
  await until("the next attempt", () => hook.got.length > before);
  const next = hook.got[before]!;
  t.diagnostic(`attempts: ${hook.got.map((g) => `${String(g.headers["x-token"])}→${g.status}`).join(", ")}`);
  assert.equal(next.headers["x-token"], "new", "the attempt after the update carries the updated header");
  // The attempt's record (`berth webhook deliveries`) keeps what went out.
  let recorded: { status: string; requestHeaders: Record<string, string> } | undefined;
  await until("the delivery recorded", async () => {
    const list = (await api(app, "GET", "/api/v1/webhooks/ci/deliveries")) as { deliveries: { status: string; requestHeaders: Record<string, string> }[] };
    recorded = list.deliveries.find((d) => d.status === "delivered");
    return recorded !== undefined;
  });
  assert.equal(recorded!.requestHeaders["X-Token"], "new");
});

test("attack-s8 webhooks: a custom header updated while a new delivery waits batchDelay goes out with that delivery", async (t) => {
  const hook = await receiver(t);
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 3 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push"], headers: { "X-Token": "old" } });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "hdr2"));
  await until("the delivery queued", async () => (await pending(app, "ci")) === 1);
  assert.equal(hook.got.length, 0, "sent before its batch delay");
  await api(app, "PATCH", "/api/v1/webhooks/ci", { headers: { "X-Token": "new" } });
  await until("the delivery", () => hook.got.length >= 1);
  assert.equal(hook.got[0]!.headers["x-token"], "new");
});

test("attack-s8 webhooks: a format changed while a new delivery waits batchDelay: the delivery goes out in the new format, and its record keeps the body and content type sent", async (t) => {
  const bodies: { type: string | undefined; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push({ type: req.headers["content-type"], body: Buffer.concat(chunks).toString() });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }));
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 3 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ci`, actions: ["push"], format: "acr" });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "fmt"));
  await until("the delivery queued", async () => (await pending(app, "ci")) === 1);
  await api(app, "PATCH", "/api/v1/webhooks/ci", { format: "cloudevents" });
  await until("the delivery", () => bodies.length >= 1);
  assert.equal(bodies[0]!.type, "application/cloudevents+json; charset=utf-8");
  const sent = JSON.parse(bodies[0]!.body) as { specversion?: string; subject?: string };
  assert.equal(sent.specversion, "1.0");
  assert.equal(sent.subject, "team/app:v1");
  let recorded: { status: string; body: string; requestHeaders: Record<string, string> } | undefined;
  await until("the delivery recorded", async () => {
    const list = (await api(app, "GET", "/api/v1/webhooks/ci/deliveries")) as { deliveries: { status: string; body: string; requestHeaders: Record<string, string> }[] };
    recorded = list.deliveries.find((d) => d.status === "delivered");
    return recorded !== undefined;
  });
  assert.equal(recorded!.body, bodies[0]!.body);
  assert.equal(recorded!.requestHeaders["content-type"], "application/cloudevents+json; charset=utf-8");
});

test("attack-s8 webhooks: an action removed while a new delivery waits batchDelay: the delivery is not sent, and its record says why", async (t) => {
  const hook = await receiver(t);
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 3 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push", "delete"] });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "act"));
  await until("the delivery queued", async () => (await pending(app, "ci")) === 1);
  await api(app, "PATCH", "/api/v1/webhooks/ci", { actions: ["delete"] });
  let finished: { status: string; attempts: number; error: string | null } | undefined;
  await until("the delivery finished", async () => {
    const list = (await api(app, "GET", "/api/v1/webhooks/ci/deliveries")) as { deliveries: { status: string; attempts: number; error: string | null }[] };
    finished = list.deliveries.find((d) => d.status !== "pending");
    return finished !== undefined;
  });
  assert.equal(hook.got.length, 0, "sent an event the webhook no longer covers");
  assert.equal(finished!.status, "failed");
  assert.equal(finished!.attempts, 0);
  assert.match(finished!.error ?? "", /not sent/);
});

test("held: attack-s8 webhooks: 24 pushes at once to 12 repositories, three webhooks (all, one namespace, cloudevents): each gets its events once, in event order", concurrentPushesInOrder);

test("held: attack-s8 webhooks: disabled while its batch waits, nothing is sent; enabled again, the waiting deliveries and the newer ones go in order", disabledWhileBatchWaits);

test("held: attack-s8 webhooks: deleted while its batch waits, nothing is sent; a webhook made again under the same name is not sent the old webhook's deliveries", deletedWhileBatchWaits);

test("attack-s8 webhooks: a failed delivery redelivered after its webhook's header was updated goes out with the updated header", async (t) => {
  const hook = await receiver(t, (_, headers) => (headers["x-token"] === "new" ? 204 : 401));
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 0, "webhooks.maxAttempts": 1 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push"], headers: { "X-Token": "old" } });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "redeliver"));
  let failed: { id: number; status: string } | undefined;
  await until("the delivery failed", async () => {
    const list = (await api(app, "GET", "/api/v1/webhooks/ci/deliveries")) as { deliveries: { id: number; status: string }[] };
    failed = list.deliveries.find((d) => d.status === "failed");
    return failed !== undefined;
  });
  await api(app, "PATCH", "/api/v1/webhooks/ci", { headers: { "X-Token": "new" } });
  const before = hook.got.length;
  await api(app, "POST", `/api/v1/webhooks/ci/deliveries/${failed!.id}/redeliver`);
  await until("the redelivery", () => hook.got.length > before);
  assert.equal(hook.got[before]!.headers["x-token"], "new", "the redelivery carries the webhook's current header");
});

test("attack-s8 webhooks: a webhook whose scope is narrowed while its batch waits is not sent the events of repositories it no longer covers", async (t) => {
  const hook = await receiver(t);
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 3 });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push"], scope: "*" });
  await pushImage(client, "secret/app", "v1", buildImage([randomLayer(1000)], "scope-1"));
  await until("the delivery queued", async () => (await pending(app, "ci")) === 1);
  await api(app, "PATCH", "/api/v1/webhooks/ci", { scope: "team/*" });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(1000)], "scope-2"));
  await until("a delivery", () => hook.got.length >= 1);
  await sleep(1000);
  const ids = await pushEvents(app);
  assert.deepEqual(hook.got.map((g) => g.event), [ids[1]], "only team/app's push, which the webhook covers when it is sent");
});

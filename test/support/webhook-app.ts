// Webhook tests on the in-process app (test/http/attack-s8*.test.ts): the worker ticked as
// `berth serve` ticks it, a receiver on this machine that answers by a rule of the test's and
// records each request, and the management API calls those tests make.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AUTH, freshApp, type TestApp } from "./app.ts";
import { buildImage, pushImage, randomLayer } from "./oci-images.ts";
import { OciClient } from "./oci-client.ts";
import { until as poll } from "./until.ts";

/** Deliveries to 127.0.0.1 allowed; retries and timeouts short. */
export const SETTINGS = {
  "webhooks.allowedHosts": ["127.0.0.1"],
  "webhooks.allowPrivateAddresses": true,
  "webhooks.backoffBase": 0.05,
  "webhooks.backoffCap": 0.2,
  "webhooks.timeout": 1,
};

export interface Got { path: string; headers: IncomingHttpHeaders; event: number; status: number }

/** A receiver that answers each request by `answer(path, headers)` and records it. */
export async function receiver(t: TestContext, answer: (path: string, headers: IncomingHttpHeaders) => number = () => 204) {
  const got: Got[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const status = answer(req.url ?? "/", req.headers);
      got.push({ path: req.url ?? "/", headers: req.headers, event: Number(req.headers["berth-event"]), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

/** The app with SETTINGS and `settings`, listening, its webhook worker ticked every 25 ms; an OCI client on it. */
export async function setUp(t: TestContext, settings: Record<string, unknown>) {
  const app = await freshApp(t, { ...SETTINGS, ...settings });
  const base = await app.listen();
  const timer = setInterval(() => void app.berth.webhooks.tick().catch(() => undefined), 25);
  t.after(() => clearInterval(timer));
  return { app, client: new OciClient({ baseUrl: base.href, authorization: AUTH }) };
}

/** A management API call as the admin; asserts a 2xx. */
export async function api(app: TestApp, method: string, url: string, body?: unknown) {
  const res = await app.request(method, url, body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${res.body.toString()}`);
  return res.json();
}

/** `until` at the worker's pace: polled every 20 ms, for 30 s at most. */
export function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  return poll(what, check, 30_000, 20);
}

/** How many of the webhook's deliveries wait to be sent. */
export async function pending(app: TestApp, name: string): Promise<number> {
  const list = (await api(app, "GET", `/api/v1/webhooks/${name}/deliveries?limit=1000`)) as { deliveries: { status: string }[] };
  return list.deliveries.filter((d) => d.status === "pending").length;
}

/** The push events' ids, in order. */
export async function pushEvents(app: TestApp): Promise<number[]> {
  const page = (await api(app, "GET", "/api/v1/events?limit=1000")) as { events: { id: number; action: string }[] };
  return page.events.filter((e) => e.action === "push").map((e) => e.id).sort((x, y) => x - y);
}

// The scenarios that held (session 8's attack), run by test/http/attack-s8.test.ts and attack-s8-hooks.test.ts.

/** 24 pushes at once to 12 repositories, three webhooks (all, one namespace, cloudevents): each gets its events once, in event order. */
export async function concurrentPushesInOrder(t: TestContext): Promise<void> {
  const hook = await receiver(t);
  const { app, client } = await setUp(t, { "webhooks.batchDelay": 0.5 });
  await api(app, "POST", "/api/v1/webhooks", { name: "all", url: `${hook.url}/all`, actions: ["push"] });
  await api(app, "POST", "/api/v1/webhooks", { name: "team", url: `${hook.url}/team`, actions: ["push"], scope: "team/*" });
  await api(app, "POST", "/api/v1/webhooks", { name: "ce", url: `${hook.url}/ce`, actions: ["push"], format: "cloudevents" });
  const repos = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? `team/r${i}` : `other/r${i}`));
  await Promise.all(repos.flatMap((repo, i) => [0, 1].map((n) => pushImage(client, repo, `v${n}`, buildImage([randomLayer(500)], `${i}-${n}`)))));
  const all = await pushEvents(app);
  const page = (await api(app, "GET", "/api/v1/events?limit=1000")) as { events: { id: number; action: string; target: { repository?: string } }[] };
  const teamIds = page.events.filter((e) => e.action === "push" && e.target.repository?.startsWith("team/")).map((e) => e.id).sort((x, y) => x - y);
  await until("every delivery", () => hook.got.length >= all.length * 2 + teamIds.length);
  await sleep(1500); // nothing more comes (a repeat would show here)
  for (const [path, expected] of [["/all", all], ["/ce", all], ["/team", teamIds]] as const) {
    assert.deepEqual(hook.got.filter((g) => g.path === path).map((g) => g.event), expected, `${path}: every event once, in order`);
  }
}

/** The batch delay of the "while its batch waits" scenarios, in seconds. */
const BATCH_WAIT_S = 8;

/** A webhook disabled while its batch waits is sent nothing; enabled again, the waiting deliveries and the newer ones go, in order. */
export async function disabledWhileBatchWaits(t: TestContext): Promise<void> {
  const hook = await receiver(t);
  // A batch delay far longer than the steps before the disable take (three pushes, a poll, a
  // PATCH): with 1 s, a loaded machine sent the first delivery before the disable landed.
  const { app, client } = await setUp(t, { "webhooks.batchDelay": BATCH_WAIT_S });
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/ci`, actions: ["push"] });
  for (const n of [1, 2, 3]) await pushImage(client, "team/app", `v${n}`, buildImage([randomLayer(300)], `dis-${n}`));
  await until("three deliveries queued", async () => (await pending(app, "ci")) === 3);
  await api(app, "PATCH", "/api/v1/webhooks/ci", { enabled: false });
  await pushImage(client, "team/app", "v4", buildImage([randomLayer(300)], "dis-4"));
  await sleep(BATCH_WAIT_S * 1000 + 1500); // past the batch delay: a disabled webhook sends nothing
  assert.equal(hook.got.length, 0, "a disabled webhook was sent deliveries");
  await api(app, "PATCH", "/api/v1/webhooks/ci", { enabled: true });
  await pushImage(client, "team/app", "v5", buildImage([randomLayer(300)], "dis-5"));
  const ids = await pushEvents(app);
  // What was queued before the disable goes; v4's push happened while disabled (not wanted then); v5's goes.
  await until("the deliveries after enabling", () => hook.got.length >= 4);
  await sleep(1500);
  const events = hook.got.map((g) => g.event);
  assert.deepEqual(events, [...events].sort((x, y) => x - y), "in event order");
  assert.deepEqual(events, [ids[0], ids[1], ids[2], ids[4]], "the three queued before the disable, then the one after enabling");
}

/** A webhook deleted while its batch waits is sent nothing; one made again under its name is not sent the old one's deliveries. */
export async function deletedWhileBatchWaits(t: TestContext): Promise<void> {
  const hook = await receiver(t);
  const { app, client } = await setUp(t, { "webhooks.batchDelay": BATCH_WAIT_S }); // as above
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/old`, actions: ["push"] });
  for (const n of [1, 2]) await pushImage(client, "team/app", `v${n}`, buildImage([randomLayer(300)], `del-${n}`));
  await until("two deliveries queued", async () => (await pending(app, "ci")) === 2);
  await api(app, "DELETE", "/api/v1/webhooks/ci");
  await api(app, "POST", "/api/v1/webhooks", { name: "ci", url: `${hook.url}/new`, actions: ["push"] });
  await pushImage(client, "team/app", "v3", buildImage([randomLayer(300)], "del-3"));
  const ids = await pushEvents(app);
  await until("the new webhook's delivery", () => hook.got.length >= 1);
  await sleep(2000);
  assert.deepEqual(hook.got.map((g) => `${g.path} ${g.event}`), [`/new ${ids[2]}`], "only the event after the new webhook was made, to it");
}

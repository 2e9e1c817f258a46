// Webhooks through the management API and a real receiver: every format validated (CloudEvents by
// the cloudevents SDK), every delivery signed, the actor taken from the request, the allow list,
// retries with growing backoff in order, 410 disabling with an audit line, a hanging receiver
// cut off by the timeout while pushes go on. The delivery worker is ticked here as `berth serve`
// ticks it (test/e2e/webhooks.test.ts runs the real server with real clients).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import { HTTP, type CloudEvent } from "cloudevents";
import { AUTH, freshApp, type TestApp } from "../support/app.ts";
import { OciClient, OCI_MANIFEST, sha256 } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, testBlob } from "../support/oci-images.ts";
import { signedBy, WebhookReceiver, type Received } from "../support/webhook-receiver.ts";
import { SHUTDOWN_GRACE_MS } from "../../src/http/server.ts";
import { WebhookWorker } from "../../src/services/events/webhook-worker.ts";

const FAST = {
  "webhooks.allowedHosts": ["127.0.0.1"],
  "webhooks.allowPrivateAddresses": true,
  "webhooks.backoffBase": 0.05,
  "webhooks.backoffCap": 0.4,
  "webhooks.timeout": 1,
};

async function setUp(t: TestContext, settings: Record<string, unknown> = FAST): Promise<{ app: TestApp; receiver: WebhookReceiver; client: OciClient }> {
  const app = await freshApp(t, settings);
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const base = await app.listen();
  const timer = setInterval(() => void app.berth.webhooks.tick().catch(() => undefined), 25);
  t.after(() => clearInterval(timer));
  return { app, receiver, client: new OciClient({ baseUrl: base.href, authorization: AUTH }) };
}

async function createHook(app: TestApp, body: Record<string, unknown>): Promise<{ secret: string }> {
  const res = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 201, res.body.toString());
  return res.json();
}

const json = (r: Received) => JSON.parse(r.body);

test("the API: create (secret once), list and show without it, update, delete; owners only; URLs outside the allow list refused", async (t) => {
  const { app, receiver } = await setUp(t);
  const created = await createHook(app, { name: "ci", url: `${receiver.url}/ci`, actions: ["push"], scope: "team/*", headers: { "X-Token": "t1" } });
  assert.match(created.secret, /^[A-Za-z0-9_-]{43}$/);
  const listed = (await app.request("GET", "/api/v1/webhooks")).json();
  assert.equal(listed.webhooks.length, 1);
  assert.equal(JSON.stringify(listed).includes(created.secret), false, "the secret is never listed");
  const shown = (await app.request("GET", "/api/v1/webhooks/ci")).json();
  assert.deepEqual([shown.format, shown.enabled, shown.scope, shown.headers], ["acr", true, "team/*", { "X-Token": "t1" }]);
  const patched = await app.request("PATCH", "/api/v1/webhooks/ci", { body: JSON.stringify({ enabled: false, rotateSecret: true }), headers: { "content-type": "application/json" } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json().enabled, false);
  assert.notEqual(patched.json().secret, created.secret, "a rotated secret is shown once");

  const outside = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "x", url: "http://hooks.example.com/x", actions: ["push"] }), headers: { "content-type": "application/json" } });
  assert.equal(outside.status, 400);
  assert.match(outside.json().errors[0].message, /hooks\.example\.com is not in webhooks\.allowedHosts/);
  const badAction = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "x", url: `${receiver.url}/x`, actions: ["pull"] }), headers: { "content-type": "application/json" } });
  assert.equal(badAction.status, 400);
  const reserved = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "x", url: `${receiver.url}/x`, actions: ["push"], headers: { "Berth-Signature": "forged" } }), headers: { "content-type": "application/json" } });
  assert.equal(reserved.status, 400);
  assert.equal((await app.request("GET", "/api/v1/webhooks")).json().webhooks.length, 1, "refusals changed nothing");

  const user = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "pusher", roles: ["acrpush"], password: "pusher-password-1" }), headers: { "content-type": "application/json" } });
  assert.equal(user.status, 201);
  const asPusher = `Basic ${Buffer.from("pusher:pusher-password-1").toString("base64")}`;
  assert.equal((await app.request("GET", "/api/v1/webhooks", { auth: asPusher })).status, 403);
  assert.equal((await app.request("POST", "/api/v1/webhooks", { auth: asPusher, body: JSON.stringify({ name: "mine", url: `${receiver.url}/m`, actions: ["push"] }), headers: { "content-type": "application/json" } })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/events", { auth: asPusher })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/webhooks", { auth: null })).status, 401);

  assert.equal((await app.request("DELETE", "/api/v1/webhooks/ci")).status, 200);
  assert.equal((await app.request("GET", "/api/v1/webhooks/ci")).status, 404);
  const audit = (await app.request("GET", "/api/v1/audit?event=webhook.created")).json();
  assert.equal(audit.events[0].detail.webhook, "ci");
});

test("by default a webhook may not reach loopback or private addresses", async (t) => {
  const app = await freshApp(t);
  for (const url of ["http://127.0.0.1:9/x", "http://[::1]:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data", "http://localhost:9/x"]) {
    const res = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "probe", url, actions: ["push"] }), headers: { "content-type": "application/json" } });
    assert.equal(res.status, 400, url);
    assert.match(res.json().errors[0].message, /loopback, private or reserved address/, url);
  }
});

test("a push is delivered in each format, signed, naming the pusher; CloudEvents parse with the SDK", async (t) => {
  const { app, receiver, client } = await setUp(t);
  const acr = await createHook(app, { name: "acr", url: `${receiver.url}/acr`, actions: ["push", "delete"], format: "acr" });
  const dist = await createHook(app, { name: "dist", url: `${receiver.url}/dist`, actions: ["push", "delete"], format: "distribution" });
  const ce = await createHook(app, { name: "ce", url: `${receiver.url}/ce`, actions: ["push", "delete"], format: "cloudevents" });
  await createHook(app, { name: "other", url: `${receiver.url}/other`, actions: ["push"], scope: "elsewhere/*" });
  const image = buildImage([randomLayer(1000)], "formats");
  await pushImage(client, "team/app", "v1", image);
  await receiver.waitFor(3);

  const [a] = receiver.on("/acr");
  assert.ok(a && signedBy(acr.secret, a), "signed with the webhook's secret");
  assert.equal(signedBy(dist.secret, a), false, "and no other");
  assert.equal(a.headers["content-type"], "application/json");
  const acrBody = json(a);
  assert.equal(acrBody.action, "push");
  assert.deepEqual(acrBody.target, { mediaType: OCI_MANIFEST, size: image.manifest.length, digest: image.digest, length: image.manifest.length, repository: "team/app", tag: "v1" });
  assert.equal(acrBody.request.method, "PUT");
  assert.match(acrBody.request.useragent, /node|undici/i, "the pusher's user agent");
  assert.deepEqual(acrBody.actor, { name: "admin", kind: "admin" });
  assert.ok(!Number.isNaN(Date.parse(acrBody.timestamp)));

  const [d] = receiver.on("/dist");
  assert.ok(d && signedBy(dist.secret, d));
  assert.equal(d.headers["content-type"], "application/vnd.docker.distribution.events.v1+json");
  const envelope = json(d);
  assert.equal(envelope.events.length, 1);
  const e = envelope.events[0];
  assert.deepEqual([e.action, e.target.repository, e.target.digest, e.target.tag, e.target.mediaType, e.target.size, e.actor.name, e.request.addr], ["push", "team/app", image.digest, "v1", OCI_MANIFEST, image.manifest.length, "admin", "127.0.0.1"]);
  assert.equal(e.id, acrBody.id, "one event, one id in every format");

  const [c] = receiver.on("/ce");
  assert.ok(c && signedBy(ce.secret, c));
  const cloudEvent = HTTP.toEvent({ headers: c.headers as Record<string, string>, body: c.body });
  const one = (Array.isArray(cloudEvent) ? cloudEvent[0] : cloudEvent) as CloudEvent<unknown>;
  one.validate();
  assert.equal(one.specversion, "1.0");
  assert.equal(one.type, "io.berth.registry.push");
  assert.equal(one.subject, "team/app:v1");
  assert.equal(one.id, acrBody.id);
  assert.equal((one.data as { target: { digest: string } }).target.digest, image.digest);

  assert.equal(receiver.on("/other").length, 0, "out of scope: nothing");

  // The delete of the tag, then of the manifest: one event each, in order.
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  await receiver.waitFor(9);
  const deletes = receiver.on("/acr").slice(1).map(json);
  assert.deepEqual(deletes.map((x) => [x.action, x.target.tag, x.target.digest, x.request.method]), [["delete", "v1", image.digest, "DELETE"], ["delete", undefined, image.digest, "DELETE"]]);
  assert.ok(Number(deletes[0].id) < Number(deletes[1].id));

  // The receiver has answered; Berth records the answer right after (waited for up to 10 s, as
  // below: 2.5 s was within reach of a loaded machine's slowdown).
  let deliveries = (await app.request("GET", "/api/v1/webhooks/acr/deliveries")).json().deliveries;
  for (let n = 0; n < 400 && deliveries.some((x: { status: string }) => x.status === "pending"); n++) {
    await new Promise((r) => setTimeout(r, 25));
    deliveries = (await app.request("GET", "/api/v1/webhooks/acr/deliveries")).json().deliveries;
  }
  assert.deepEqual(deliveries.map((x: { status: string; responseStatus: number }) => [x.status, x.responseStatus]), [["delivered", 204], ["delivered", 204], ["delivered", 204]]);
  assert.ok(deliveries.every((x: { latencyMs: number }) => x.latencyMs >= 0));
});

test("a referrer is its own event, its kind read from the artifactType; an identity change links its audit line", async (t) => {
  const { app, receiver, client } = await setUp(t);
  await createHook(app, { name: "all", url: `${receiver.url}/all`, actions: ["referrer", "identity"], format: "cloudevents" });
  const image = buildImage([randomLayer(100)], "subject");
  await pushImage(client, "team/app", "v1", image);
  const sbom = testBlob(Buffer.from('{"spdxVersion":"SPDX-2.3"}'), "application/spdx+json");
  await client.pushBlob("team/app", sbom.data);
  const empty = testBlob(Buffer.from("{}"), "application/vnd.oci.empty.v1+json");
  await client.pushBlob("team/app", empty.data);
  const referrer = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/spdx+json",
    config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.data.length },
    layers: [{ mediaType: sbom.mediaType, digest: sbom.digest, size: sbom.data.length }],
    subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length },
  }));
  await client.putManifest("team/app", sha256(referrer), referrer, OCI_MANIFEST);
  const user = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "reader", roles: ["acrpull"] }), headers: { "content-type": "application/json" } });
  assert.equal(user.status, 201);
  await receiver.waitFor(2);
  const [r, i] = receiver.on("/all").map(json);
  assert.equal(r.type, "io.berth.registry.referrer");
  assert.deepEqual([r.data.target.subject, r.data.target.artifactType, r.data.target.referrerKind, r.data.target.digest], [image.digest, "application/spdx+json", "sbom", sha256(referrer)]);
  assert.equal(i.type, "io.berth.registry.identity");
  const audit = (await app.request("GET", "/api/v1/audit?event=identity.created")).json().events;
  assert.equal(i.data.target.audit, audit[0].id, "the event names the audit line");
  assert.equal(i.data.actor.name, "admin");

  const stream = (await app.request("GET", "/api/v1/events?action=push")).json();
  assert.deepEqual(stream.events.map((e: { target: { tag?: string } }) => e.target.tag), ["v1"]);
  assert.equal(stream.events[0].actor.kind, "admin");
  assert.ok(stream.next >= stream.events[0].id);

  // Newest first, paged backwards with before=: every entry once, the same ones in reverse.
  const oldest = (await app.request("GET", "/api/v1/events?limit=1000")).json().events.map((e: { id: number }) => e.id);
  const backwards: number[] = [];
  for (let before: number | undefined; ;) {
    const page = (await app.request("GET", `/api/v1/events?order=newest&limit=2${before ? `&before=${before}` : ""}`)).json();
    backwards.push(...page.events.map((e: { id: number }) => e.id));
    if (page.next === 0) break;
    before = page.next;
  }
  assert.ok(oldest.length >= 3);
  assert.deepEqual(backwards, [...oldest].reverse());
  for (const query of ["order=newest&after=3", "before=3", "order=sideways"]) assert.equal((await app.request("GET", `/api/v1/events?${query}`)).status, 400, query);
});

test("a receiver answering 500 is retried with growing waits, in order; 410 disables the webhook with an audit line", async (t) => {
  const { app, receiver, client } = await setUp(t);
  await createHook(app, { name: "flaky", url: `${receiver.url}/flaky`, actions: ["push"] });
  receiver.answer = 500;
  for (const tag of ["a", "b", "c"]) await pushImage(client, "r", tag, buildImage([randomLayer(10)], tag));
  await receiver.waitFor(4); // the first delivery, failed four times
  receiver.answer = 204;
  for (let n = 0; n < 400 && !receiver.on("/flaky").some((x) => json(x).target.tag === "c"); n++) await new Promise((r) => setTimeout(r, 25));
  const got = receiver.on("/flaky").map((x) => ({ tag: json(x).target.tag as string, at: x.at }));
  const tries = got.filter((x) => x.tag === "a");
  assert.ok(tries.length >= 5, "a was tried until it went through");
  assert.deepEqual(got.slice(tries.length).map((x) => x.tag), ["b", "c"], "b and c waited for a");
  const waits = tries.slice(1).map((x, n) => x.at - tries[n]!.at);
  assert.ok(waits[2]! > waits[0]!, `waits grow: ${waits.join(", ")} ms`);
  // The receiver has c before Berth records the batch that sent it (the answers come back from the delivery thread): waited for.
  const oldest = async () => (await app.request("GET", "/api/v1/webhooks/flaky/deliveries")).json().deliveries.at(-1);
  for (let n = 0; n < 400 && (await oldest()).status !== "delivered"; n++) await new Promise((r) => setTimeout(r, 25));
  const first = await oldest();
  assert.ok(first.attempts >= 5);
  assert.equal(first.status, "delivered");
  // Each attempt kept (at most the newest 10): when it went, what came back, how long it took.
  const recent = first.recentAttempts as { at: string; responseStatus: number | null; latencyMs: number; error: string | null }[];
  assert.equal(recent.length, Math.min(first.attempts, 10));
  assert.deepEqual(recent.map((a) => a.responseStatus), [...Array<number>(recent.length - 1).fill(500), 204]);
  assert.deepEqual(recent.map((a) => a.error), [...Array<string>(recent.length - 1).fill("the receiver answered 500"), null]);
  const sentAt = recent.map((a) => Date.parse(a.at));
  assert.deepEqual(sentAt, [...sentAt].sort((a, b) => a - b), "oldest first");
  assert.ok(recent.every((a) => Number.isInteger(a.latencyMs) && a.latencyMs >= 0));
  assert.ok(sentAt.at(-1)! <= Date.parse(first.finishedAt), "the last went before the delivery was finished");

  receiver.answer = 410;
  const before = receiver.on("/flaky").length;
  await pushImage(client, "r", "d", buildImage([randomLayer(10)], "d"));
  await receiver.waitFor(before + 1);
  for (let n = 0; n < 200 && (await app.request("GET", "/api/v1/webhooks/flaky")).json().enabled; n++) await new Promise((r) => setTimeout(r, 25));
  assert.equal((await app.request("GET", "/api/v1/webhooks/flaky")).json().enabled, false);
  const audit = (await app.request("GET", "/api/v1/audit?event=webhook.disabled")).json().events;
  assert.equal(audit[0].detail.webhook, "flaky");
  assert.match(audit[0].detail.reason, /410/);
  await pushImage(client, "r", "e", buildImage([randomLayer(10)], "e"));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(receiver.on("/flaky").length, before + 1, "a disabled webhook is sent nothing");
});

test("a 410 from a webhook's old URL does not disable it when its URL changed while the request was out: the delivery goes to the new URL", async (t) => {
  const { app, receiver, client } = await setUp(t);
  // The old receiver: the webhook's URL is changed (committed) before it answers 410 Gone.
  const old = createServer((req, res) => {
    req.resume();
    req.on("end", () => void (async () => {
      const moved = await app.request("PATCH", "/api/v1/webhooks/moving", { body: JSON.stringify({ url: `${receiver.url}/new` }), headers: { "content-type": "application/json" } });
      assert.equal(moved.status, 200, moved.body.toString());
      res.writeHead(410).end();
    })());
  });
  await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => (old.closeAllConnections(), old.close(() => resolve()))));
  // A long URL: the attempt's error names it, and is kept at its bounded length all the same (probe s11).
  await createHook(app, { name: "moving", url: `http://127.0.0.1:${(old.address() as AddressInfo).port}/old/${"a".repeat(2000)}`, actions: ["push"] });
  await pushImage(client, "r", "a", buildImage([randomLayer(10)], "a"));
  await receiver.waitFor(1);
  assert.equal(json(receiver.on("/new")[0]!).target.tag, "a", "the delivery went again, to the new URL");
  const hook = (await app.request("GET", "/api/v1/webhooks/moving")).json();
  assert.equal(hook.enabled, true, "the webhook as changed is not disabled by the old URL's answer");
  assert.deepEqual((await app.request("GET", "/api/v1/audit?event=webhook.disabled")).json().events, []);
  // The old URL's 410 was no failure of the webhook as it is: one attempt counted (the one that
  // went through), so maxAttempts and the backoff are not spent on it; the request is listed all the same.
  const delivery = async () => (await app.request("GET", "/api/v1/webhooks/moving/deliveries")).json().deliveries[0];
  for (let n = 0; n < 400 && (await delivery()).status !== "delivered"; n++) await new Promise((r) => setTimeout(r, 25));
  const d = await delivery();
  assert.equal(d.status, "delivered");
  assert.equal(d.attempts, 1, "the 410 from the URL the webhook no longer has is not counted as a failed attempt");
  assert.deepEqual(d.recentAttempts.map((a: { responseStatus: number }) => a.responseStatus), [410, 204]);
  assert.match(d.recentAttempts[0].error, /the receiver answered 410/);
  assert.ok(d.recentAttempts[0].error.length <= 300, `an attempt's error is kept at 300 characters at most, not ${d.recentAttempts[0].error.length}`);
});

test("a delivery keeps its newest 10 attempts, however often it was tried", async (t) => {
  const { app, receiver, client } = await setUp(t, { ...FAST, "webhooks.backoffCap": 0.1, "webhooks.maxAttempts": 13 });
  await createHook(app, { name: "down", url: `${receiver.url}/down`, actions: ["push"] });
  receiver.answer = 503;
  await pushImage(client, "r", "a", buildImage([randomLayer(10)], "a"));
  const delivery = async () => (await app.request("GET", "/api/v1/webhooks/down/deliveries")).json().deliveries[0];
  for (let n = 0; n < 1200 && (await delivery())?.status !== "failed"; n++) await new Promise((r) => setTimeout(r, 25));
  const d = await delivery();
  assert.deepEqual([d.status, d.attempts], ["failed", 13]);
  assert.equal(receiver.on("/down").length, 13);
  assert.equal(d.recentAttempts.length, 10, "bounded: the newest 10 of 13");
  assert.ok(d.recentAttempts.every((a: { responseStatus: number }) => a.responseStatus === 503));
  // The newest ten: the oldest kept (the 4th) went after the 3rd had arrived and been answered.
  const arrived = receiver.on("/down").map((x) => x.at);
  assert.ok(Date.parse(d.recentAttempts[0].at) > arrived[2]!, `the oldest kept, sent ${d.recentAttempts[0].at}, is the 4th (the 3rd arrived at ${new Date(arrived[2]!).toISOString()})`);
});

test("a backlog goes in order, in batches over one kept-alive connection; each recorded delivered, the kept ones trimmed to keepDeliveries", async (t) => {
  const { app, receiver, client } = await setUp(t, { ...FAST, "webhooks.keepDeliveries": 5 });
  await createHook(app, { name: "backlog", url: `${receiver.url}/backlog`, actions: ["push"] });
  await receiver.stop();
  const tags = Array.from({ length: 12 }, (_, n) => `b${n}`);
  for (const tag of tags) await pushImage(client, "r", tag, buildImage([randomLayer(10)], tag));
  await receiver.start();
  const connected = receiver.connections;
  await receiver.waitFor(12, 30_000);
  assert.deepEqual(receiver.on("/backlog").map((x) => json(x).target.tag), tags, "in the order pushed, each once");
  // One connection for the backlog; a second only if the first sat idle past its 4 s under load.
  assert.ok(receiver.connections - connected <= 2, `${receiver.connections - connected} connections for 12 deliveries`);
  const settled = async () => (await app.request("GET", "/api/v1/webhooks/backlog/deliveries")).json().deliveries as { status: string; attempts: number; responseStatus: number }[];
  for (let n = 0; n < 400 && (await settled()).some((d) => d.status !== "delivered"); n++) await new Promise((r) => setTimeout(r, 25));
  const kept = await settled();
  assert.equal(kept.length, 5, "trimmed to the newest 5 finished");
  assert.ok(kept.every((d) => d.status === "delivered" && d.responseStatus === 204));
});

test("a new delivery waits webhooks.batchDelay, and what is queued meanwhile goes with it; order holds across batches", async (t) => {
  const { app, receiver, client } = await setUp(t, { ...FAST, "webhooks.batchDelay": 0.3 });
  await createHook(app, { name: "held", url: `${receiver.url}/held`, actions: ["push"] });
  const tags = Array.from({ length: 10 }, (_, n) => `h${n}`);
  for (const tag of tags) await pushImage(client, "r", tag, buildImage([randomLayer(10)], tag));
  await receiver.waitFor(10, 30_000);
  assert.deepEqual(receiver.on("/held").map((x) => json(x).target.tag), tags, "in the order pushed, each once, however the batches fell");
  const kept = (await app.request("GET", "/api/v1/webhooks/held/deliveries")).json().deliveries as { eventId: number; createdAt: string }[];
  const queuedAt = new Map(kept.map((d) => [String(d.eventId), Date.parse(d.createdAt)]));
  const first = receiver.on("/held")[0]!;
  // The first was sent no sooner than the delay after it was queued (a lower bound: load only adds to it).
  assert.ok(first.at - queuedAt.get(String(first.headers["berth-event"]))! >= 300, `sent ${first.at - queuedAt.get(String(first.headers["berth-event"]))!} ms after it was queued`);
});

test("a retry waits its backoff, not the batch delay", async (t) => {
  // A day of batch delay: only the retry rule can send anything.
  const { app, receiver, client } = await setUp(t, { ...FAST, "webhooks.batchDelay": 86_400 });
  await createHook(app, { name: "slow-start", url: `${receiver.url}/slow-start`, actions: ["push"] });
  await pushImage(client, "r", "one", buildImage([randomLayer(10)], "one"));
  const deliveries = async () => (await app.request("GET", "/api/v1/webhooks/slow-start/deliveries")).json().deliveries as { id: number; attempts: number }[];
  for (let n = 0; n < 200 && (await deliveries()).length === 0; n++) await new Promise((r) => setTimeout(r, 25));
  const [queued] = await deliveries();
  assert.equal(queued?.attempts, 0, "queued, held by the batch delay");
  // As if its first attempt had failed: a redelivery is a new delivery (held too), so the row is set by the store.
  await app.berth.stores.metadata.webhooks.record("slow-start", "test", [{ id: queued.id, outcome: { status: "pending", attempts: 1, nextAt: new Date(), responseStatus: 500, latencyMs: 1, error: "the receiver answered 500", finishedAt: null } }], [], 100);
  await receiver.waitFor(1, 30_000);
  assert.equal(json(receiver.on("/slow-start")[0]!).target.tag, "one");
});

test("the worker's job moving to another instance: the next holder queues at once (a look that found nothing leaves no claim on the log)", async (t) => {
  const app = await freshApp(t, FAST);
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const client = new OciClient({ baseUrl: (await app.listen()).href, authorization: AUTH });
  await createHook(app, { name: "moved", url: `${receiver.url}/moved`, actions: ["push"] });
  const settings = { policy: { allowedHosts: ["127.0.0.1"], allowPrivateAddresses: true }, source: { host: "berth.test", url: null }, timeoutMs: 1000, backoffBaseMs: 50, backoffCapMs: 400, maxAttempts: 250, keepDeliveries: 100, batchDelayMs: 0 };
  const quiet = { warn: () => undefined, error: () => undefined };
  // Instance one looks (nothing new), then loses the job; instance two holds it from the next push on.
  const one = new WebhookWorker(app.berth.stores.metadata, settings, quiet);
  const two = new WebhookWorker(app.berth.stores.metadata, settings, quiet);
  t.after(() => Promise.all([one.stop(SHUTDOWN_GRACE_MS), two.stop(SHUTDOWN_GRACE_MS)]).then(() => undefined));
  assert.equal(await one.fanOut(), 0);
  await pushImage(client, "r", "after", buildImage([randomLayer(10)], "after"));
  assert.ok((await two.fanOut()) > 0, "the new holder reads the log at once, not after the last holder's claim runs out");
  await two.tick();
  await receiver.waitFor(1, 30_000);
  assert.equal(json(receiver.on("/moved")[0]!).target.tag, "after");
});

test("a hanging receiver is cut off at the timeout and retried; pushes go on meanwhile", async (t) => {
  const { app, receiver, client } = await setUp(t);
  await createHook(app, { name: "slow", url: `${receiver.url}/slow`, actions: ["push"] });
  receiver.answer = "hang";
  await pushImage(client, "r", "one", buildImage([randomLayer(10)], "one"));
  for (let n = 0; n < 200; n++) {
    const [d] = (await app.request("GET", "/api/v1/webhooks/slow/deliveries")).json().deliveries;
    if (d?.attempts >= 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const [d] = (await app.request("GET", "/api/v1/webhooks/slow/deliveries")).json().deliveries;
  assert.equal(d.status, "pending");
  assert.equal(d.responseStatus, null);
  assert.match(d.error, /no answer within 1000 ms/);
  // Pushes while the receiver hangs: each is answered; none waits for the delivery.
  for (const tag of ["two", "three"]) await pushImage(client, "r", tag, buildImage([randomLayer(10)], tag));
  receiver.answer = 204;
  await receiver.waitFor(3, 30_000);
  assert.deepEqual(receiver.on("/slow").map((x) => json(x).target.tag), ["one", "two", "three"]);
});

// A header value Node.js will not send (past ASCII, or a control character) is refused where it is
// set; one kept from before that check fails its own deliveries and ping with Node.js's reason,
// and nothing else: no 500, no other webhook's batch failed with it.
test("a header value Node.js cannot send is a 400 naming the header at create and update; one kept from before fails only its own deliveries and ping", async (t) => {
  const { app, receiver, client } = await setUp(t);
  const send = (method: string, url: string, body: unknown) => app.request(method, url, { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  for (const value of ["price in \u20ac", "caf\u00e9", "a\u007fb", "a\u0001b", "a\rb"]) {
    const res = await send("POST", "/api/v1/webhooks", { name: "bad", url: `${receiver.url}/bad`, actions: ["push"], headers: { "X-Price": value } });
    assert.equal(res.status, 400, `${JSON.stringify(value)}: ${res.body.toString()}`);
    assert.match(res.json().errors[0].message, /X-Price/);
  }
  for (const name of ["X Price", "X-Pr\u00efce", "X:Price", ""]) {
    const res = await send("POST", "/api/v1/webhooks", { name: "bad", url: `${receiver.url}/bad`, actions: ["push"], headers: { [name]: "v" } });
    assert.equal(res.status, 400, `${JSON.stringify(name)}: ${res.body.toString()}`);
  }
  await createHook(app, { name: "good", url: `${receiver.url}/good`, actions: ["push"], headers: { "X-Fine": "visible ASCII, a space and a\ttab" } });
  const patched = await send("PATCH", "/api/v1/webhooks/good", { headers: { "X-Fine": "\u20ac" } });
  assert.equal(patched.status, 400, patched.body.toString());
  assert.deepEqual((await app.request("GET", "/api/v1/webhooks/good")).json().headers, { "X-Fine": "visible ASCII, a space and a\ttab" }, "a refused update changes nothing");

  // Kept before the check: written to the store as an older Berth would have.
  const now = new Date();
  await app.berth.stores.metadata.webhooks.create({ name: "kept", url: `${receiver.url}/kept`, actions: ["push"], scope: "*", headers: { "X-Price": "price in \u20ac" }, format: "acr", enabled: true, secret: "s", createdAt: now, updatedAt: now });
  const ping = await app.request("POST", "/api/v1/webhooks/kept/ping", { body: "{}", headers: { "content-type": "application/json" } });
  assert.equal(ping.status, 200, ping.body.toString());
  assert.equal(ping.json().status, "failed");
  assert.match(ping.json().error, /Invalid character in header content/);

  for (const tag of ["a", "b", "c"]) await pushImage(client, "r", tag, buildImage([randomLayer(10)], tag));
  await receiver.waitFor(3);
  assert.deepEqual(receiver.on("/good").map((x) => json(x).target.tag), ["a", "b", "c"], "the good webhook's batches went, each on its first attempt");
  assert.equal(receiver.on("/kept").length, 0);
  const tried = async () => (await app.request("GET", "/api/v1/webhooks/kept/deliveries")).json().deliveries.filter((d: { action: string; attempts: number }) => d.action === "push" && d.attempts > 0);
  while ((await tried()).length === 0) await new Promise((r) => setTimeout(r, 25));
  assert.match((await tried())[0].error, /Invalid character in header content/);
  const good = (await app.request("GET", "/api/v1/webhooks/good/deliveries")).json().deliveries;
  assert.ok(good.every((d: { attempts: number }) => d.attempts <= 1), `no good delivery failed: ${JSON.stringify(good)}`);
  // A redelivered ping goes through the worker: an attempt failed with the same reason.
  const redelivered = await app.request("POST", `/api/v1/webhooks/kept/deliveries/${ping.json().id}/redeliver`, { body: "{}", headers: { "content-type": "application/json" } });
  assert.equal(redelivered.status, 200, redelivered.body.toString());
  const again = async () => (await app.request("GET", "/api/v1/webhooks/kept/deliveries")).json().deliveries.find((d: { id: number }) => d.id === ping.json().id);
  while ((await again()).attempts <= redelivered.json().attempts) await new Promise((r) => setTimeout(r, 25));
  assert.match((await again()).error, /Invalid character in header content/);
});

// Retention over HTTP: what /api/v1/retention-policies accepts and refuses (400 naming the fault,
// owners only), and a run: the dry run lists what the real run then deletes, protected items are
// skipped with their reason, and the real run is one retention event with its actor.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";

/** Untagged policies may take what was pushed a moment ago (these tests push and run at once; the grace period has its own test). */
const NO_GRACE = { "retention.gracePeriod": 0 };
import { platformImage } from "../support/provenance-images.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

const JSON_TYPE = { "content-type": "application/json" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

function post(app: TestApp, url: string, body: unknown, auth?: string) {
  return app.request("POST", url, { body: JSON.stringify(body), headers: JSON_TYPE, ...(auth && { auth }) });
}

async function pushImage(app: TestApp, repo: string, tag: string, user: string): Promise<string> {
  const image = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": user });
  for (const b of [image.layer, image.config]) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await putManifest(app, repo, tag, image.manifest.bytes)).status, 201);
  return image.manifest.digest;
}

test("POST /api/v1/retention-policies takes a pattern and untaggedDays or keepNewest (+ tags); refuses anything else with 400 naming the fault", async (t) => {
  const app = await freshApp(t, NO_GRACE);
  const good = [
    { repository: "team/*", untaggedDays: 7 },
    { repository: "*", untaggedDays: 0 },
    { repository: "team/app", keepNewest: 10, tags: "v*" },
    { repository: "charts/*", keepNewest: 3, tags: "semver" },
    { repository: "team/app", keepNewest: 1 },
  ];
  for (const body of good) assert.equal((await post(app, "/api/v1/retention-policies", body)).status, 201, JSON.stringify(body));
  const bad: [unknown, RegExp][] = [
    [{ repository: "Team/App", untaggedDays: 7 }, /invalid repository pattern "Team\/App"/],
    [{ repository: "team/**", untaggedDays: 7 }, /invalid repository pattern/],
    [{ repository: "team/*", untaggedDays: -1 }, /untaggedDays is a whole number of days from 0/],
    [{ repository: "team/*", untaggedDays: 1.5 }, /untaggedDays is a whole number/],
    [{ repository: "team/*", untaggedDays: 3651 }, /untaggedDays is a whole number/],
    [{ repository: "team/*", keepNewest: 0 }, /keepNewest is a whole number from 1/],
    [{ repository: "team/*", keepNewest: -3 }, /keepNewest is a whole number from 1/],
    [{ repository: "team/*", keepNewest: 5, untaggedDays: 5 }, /exactly one of untaggedDays .* or keepNewest/],
    [{ repository: "team/*" }, /exactly one of untaggedDays/],
    [{ repository: "team/*", untaggedDays: 5, tags: "v*" }, /tags applies to keepNewest policies only/],
    [{ repository: "team/*", keepNewest: 5, tags: "[" }, /invalid tag pattern/],
    [{ repository: "team/*", keepNewest: 5, tags: "*a*a*a*a" }, /more than 3 \*/],
    [{ repository: "team/*", keepNewest: 5, extra: true }, /Unrecognized key/],
    [{ repository: "team/*", keepNewest: "5" }, /keepNewest/],
  ];
  for (const [body, message] of bad) {
    const res = await post(app, "/api/v1/retention-policies", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.errorCode(), "INVALID_REQUEST");
    assert.match(res.json().errors[0].message, message, JSON.stringify(body));
  }
  const listed = (await app.request("GET", "/api/v1/retention-policies")).json();
  assert.deepEqual(
    listed.policies.map((p: { repository: string; untaggedDays: number | null; keepNewest: number | null; tags: string | null }) => [p.repository, p.untaggedDays, p.keepNewest, p.tags]),
    [["team/*", 7, null, null], ["*", 0, null, null], ["team/app", null, 10, "v*"], ["charts/*", null, 3, "semver"], ["team/app", null, 1, "*"]],
  );
  const gone = await app.request("DELETE", "/api/v1/retention-policies/no-such-policy");
  assert.equal(gone.status, 404);
  assert.equal(gone.errorCode(), "RETENTION_POLICY_UNKNOWN");
  assert.equal((await post(app, "/api/v1/retention-runs", { dryRun: "yes" })).status, 400);
  assert.equal((await post(app, "/api/v1/retention-runs", { dryRun: true, extra: 1 })).status, 400);
  assert.equal((await app.request("GET", "/api/v1/retention-policies")).json().policies.length, 5, "no refused request changed anything");
});

test("only an unscoped owner may see, change or run retention: a pusher gets 403, no credentials 401", async (t) => {
  const app = await freshApp(t, NO_GRACE);
  const policy = (await post(app, "/api/v1/retention-policies", { repository: "*", untaggedDays: 0 })).json();
  const pusher = (await post(app, "/api/v1/users", { name: "pusher", roles: ["acrpush"] })).json();
  for (const auth of [basic("pusher", pusher.password), null]) {
    const answers = [
      await app.request("GET", "/api/v1/retention-policies", { auth }),
      await app.request("POST", "/api/v1/retention-policies", { body: JSON.stringify({ repository: "*", untaggedDays: 0 }), headers: JSON_TYPE, auth }),
      await app.request("DELETE", `/api/v1/retention-policies/${policy.id}`, { auth }),
      await app.request("POST", "/api/v1/retention-runs", { body: JSON.stringify({ dryRun: true }), headers: JSON_TYPE, auth }),
    ];
    for (const res of answers) assert.equal(res.status, auth === null ? 401 : 403, String(res.body));
  }
  assert.equal((await app.request("GET", "/api/v1/retention-policies")).json().policies.length, 1);
});

test("a dry run lists what the real run deletes, item for item; a delete-locked tag is skipped with its reason; the run is one event", async (t) => {
  const app = await freshApp(t, NO_GRACE);
  const digests: string[] = [];
  for (const [i, tag] of ["v1", "v2", "v3", "v4"].entries()) digests.push(await pushImage(app, "team/app", tag, `user-${i}`));
  const other = await pushImage(app, "other/app", "v1", "other");
  assert.equal((await app.request("DELETE", "/v2/other/app/manifests/v1")).status, 202, "other/app: an untagged manifest no policy names");
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=v2", { body: JSON.stringify({ deleteEnabled: false }), headers: JSON_TYPE })).status, 200);
  const keep = (await post(app, "/api/v1/retention-policies", { repository: "team/*", keepNewest: 1, tags: "v*" })).json();
  const untagged = (await post(app, "/api/v1/retention-policies", { repository: "team/app", untaggedDays: 0 })).json();

  const dry = await post(app, "/api/v1/retention-runs", { dryRun: true });
  assert.equal(dry.status, 200);
  const planned = dry.json();
  assert.equal(planned.dryRun, true);
  const strip = (items: { outcome: string }[]) => items.map(({ outcome: _, ...rest }) => rest);
  // v4 is newest; v1 and v3 go (oldest first), v2 is locked; then v1's and v3's manifests, untagged
  // now (manifests that depend on nothing going, in digest order).
  assert.deepEqual(
    planned.items.map((i: { tag?: string; digest: string; outcome: string }) => [i.tag ?? i.digest, i.outcome]),
    [["v1", "planned"], ["v2", "skipped"], ["v3", "planned"], ...[digests[0]!, digests[2]!].sort().map((d) => [d, "planned"])],
  );
  assert.match(planned.items[1].protected, /team\/app:v2 cannot be deleted \(deleteEnabled is false\)/);
  assert.equal(planned.items[0].reason, `tag v1 is the 4th newest of 'v*' (policy ${keep.id} keeps 1)`);
  assert.equal(planned.items[3].reason, `untagged, pushed 0 days ago (policy ${untagged.id}: untagged, any age)`);
  for (const tag of ["v1", "v3"]) assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${tag}`)).status, 200, "a dry run deletes nothing");

  const real = (await post(app, "/api/v1/retention-runs", {})).json();
  assert.equal(real.dryRun, false);
  assert.deepEqual(strip(real.items), strip(planned.items), "the real run executes the dry run's plan");
  assert.deepEqual(real.items.map((i: { outcome: string }) => i.outcome), ["deleted", "skipped", "deleted", "deleted", "deleted"]);
  assert.deepEqual(real.summary, {
    tagsDeleted: 2, manifestsDeleted: 2, skipped: 1,
    policies: [{ id: keep.id, tagsDeleted: 2, manifestsDeleted: 0, skipped: 1 }, { id: untagged.id, tagsDeleted: 0, manifestsDeleted: 2, skipped: 0 }],
  });
  for (const [ref, status] of [["v1", 404], ["v2", 200], ["v3", 404], ["v4", 200], [digests[0], 404], [digests[1], 200], [digests[2], 404], [digests[3], 200]] as const) {
    assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${ref}`)).status, status, ref);
  }
  assert.equal((await app.request("HEAD", `/v2/other/app/manifests/${other}`)).status, 200, "no policy names other/app");

  const events = (await app.request("GET", "/api/v1/events?action=retention")).json().events;
  assert.equal(events.length, 1, "the dry run is no event");
  assert.equal(events[0].actor.name, "admin");
  assert.deepEqual(events[0].target.retention, { trigger: "demand", ...real.summary });
  const deletes = (await app.request("GET", "/api/v1/events?action=delete&repository=team/app")).json().events;
  assert.equal(deletes.length, 4, "each delete is its own delete event too, through ManifestService");

  const again = (await post(app, "/api/v1/retention-runs", {})).json();
  assert.deepEqual(again.items.map((i: { tag?: string; outcome: string }) => [i.tag, i.outcome]), [["v2", "skipped"]], "a second run finds only the locked tag");
});

test("a webhook subscribed to retention receives each real run once, in each format, and no dry run", async (t) => {
  const app = await freshApp(t, { ...NO_GRACE, "webhooks.allowedHosts": ["127.0.0.1"], "webhooks.allowPrivateAddresses": true });
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const timer = setInterval(() => void app.berth.webhooks.tick().catch(() => undefined), 25);
  t.after(() => clearInterval(timer));
  for (const format of ["acr", "distribution", "cloudevents"]) {
    assert.equal((await post(app, "/api/v1/webhooks", { name: format, url: `${receiver.url}/${format}`, actions: ["retention"], format })).status, 201);
  }
  await pushImage(app, "team/app", "v1", "a");
  await pushImage(app, "team/app", "v1", "b");
  await post(app, "/api/v1/retention-policies", { repository: "team/*", untaggedDays: 0 });
  await post(app, "/api/v1/retention-runs", { dryRun: true });
  const run = (await post(app, "/api/v1/retention-runs", {})).json();
  await receiver.waitFor(3);
  const byPath = new Map(receiver.received.map((r) => [r.path, JSON.parse(r.body)]));
  const expected = { trigger: "demand", ...run.summary };
  assert.equal(byPath.get("/acr").action, "retention");
  assert.deepEqual(byPath.get("/acr").berth.retention, expected);
  assert.equal(byPath.get("/distribution").events[0].action, "retention");
  assert.deepEqual(byPath.get("/distribution").events[0].berth.retention, expected);
  assert.equal(byPath.get("/cloudevents").type, "io.berth.registry.retention");
  assert.deepEqual(byPath.get("/cloudevents").data.target.retention, expected);
  assert.equal(run.summary.manifestsDeleted, 1);
  assert.deepEqual(receiver.received.map((r) => r.path).sort(), ["/acr", "/cloudevents", "/distribution"], "one delivery per webhook: pushes and deletes are other actions");
  assert.equal((await app.request("GET", "/api/v1/events?action=retention")).json().events.length, 1, "the dry run is no event, so nothing more is owed");
});

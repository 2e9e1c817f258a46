// What the portal's Settings and Identities pages read besides attributes (issue 15): the
// configuration's read-only settings (anonymous pull, push and pull policies, verification), every
// stored attribute row (so an owner finds a tag the listings hide), and the audit trail filtered
// on the server. Owners only: anyone else is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, type TestApp } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const res = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles, password: `${name}-secret-1` }), headers: JSON_TYPE });
  assert.equal(res.status, 201, String(res.body));
  return basic(name, `${name}-secret-1`);
}

test("GET /api/v1/settings: the configuration's anonymous pull, push policies, verification, as running; owners only", async (t) => {
  const policy = { name: "ci-labels", repositories: ["team/*"], requireLabels: ["build.user", "build.sha"], requireAnnotations: ["org.opencontainers.image.source"] };
  const app = await freshApp(t, { "provenance.pushPolicies": [policy], "auth.anonymousPull": true });
  const res = await app.request("GET", "/api/v1/settings");
  assert.equal(res.status, 200, String(res.body));
  assert.deepEqual(res.json(), {
    anonymousPull: true, pushPolicies: [policy], pullPolicies: [], verification: { notation: false, cosign: false }, source: "configuration",
  });
  const plain = await freshApp(t);
  assert.deepEqual((await plain.request("GET", "/api/v1/settings")).json().pushPolicies, []);
  assert.equal((await plain.request("GET", "/api/v1/settings")).json().anonymousPull, false);

  const puller = await user(app, "puller", ["acrpull"]);
  assert.equal((await app.request("GET", "/api/v1/settings", { auth: puller })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/settings", { auth: null })).status, 401);
  assert.equal((await app.request("PUT", "/api/v1/settings", { body: "{}", headers: JSON_TYPE })).status, 404, "nothing here changes them");
});

test("GET /api/v1/attributes: every locked, hidden or opened repository and tag, so an owner finds a read-locked tag the tags page leaves out", async (t) => {
  const app = await freshApp(t);
  assert.deepEqual((await app.request("GET", "/api/v1/attributes")).json(), { attributes: [] });
  const patch = async (url: string, body: Record<string, boolean>) => assert.equal((await app.request("PATCH", url, { body: JSON.stringify(body), headers: JSON_TYPE })).status, 200);
  await patch("/api/v1/repositories/team/app/attributes?tag=private", { readEnabled: false });
  await patch("/api/v1/repositories/team/app/attributes", { anonymousPull: true });
  await patch("/api/v1/repositories/other/x/attributes", { listEnabled: false });
  const rows = (await app.request("GET", "/api/v1/attributes")).json().attributes;
  assert.deepEqual(rows, [
    { repository: "other/x", tag: null, readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: false, anonymousPull: false },
    { repository: "team/app", tag: null, readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: true, anonymousPull: true },
    { repository: "team/app", tag: "private", readEnabled: false, writeEnabled: true, deleteEnabled: true, listEnabled: true, anonymousPull: null },
  ]);
  // Unlocked through the same attributes endpoint, the row stays (all enabled) and says so.
  await patch("/api/v1/repositories/team/app/attributes?tag=private", { readEnabled: true });
  assert.equal((await app.request("GET", "/api/v1/attributes")).json().attributes[2].readEnabled, true);
  const puller = await user(app, "puller", ["acrpull"]);
  assert.equal((await app.request("GET", "/api/v1/attributes", { auth: puller })).status, 403);
});

test("GET /api/v1/audit: filtered on the server by identity, event, action, outcome, repository and time range; a bad filter is a 400", async (t) => {
  const app = await freshApp(t);
  await user(app, "alice", ["acrpull"]);
  const before = new Date(Date.now() - 1000).toISOString();
  await user(app, "bob", ["acrpush"]);
  assert.equal((await app.request("GET", "/v2/", { auth: basic("alice", "wrong-password") })).status, 401);
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes", { body: JSON.stringify({ deleteEnabled: false }), headers: JSON_TYPE })).status, 200);
  const events = async (query: string) => {
    const res = await app.request("GET", `/api/v1/audit?${query}`);
    assert.equal(res.status, 200, `${query}: ${res.body}`);
    return res.json().events as { event: string; identity: string; action: string; outcome: string; repository: string | null; at: string }[];
  };
  const all = await events("limit=1000");
  assert.ok(all.length >= 4, JSON.stringify(all));

  const byAdmin = await events("identity=admin&limit=1000");
  assert.ok(byAdmin.length > 0 && byAdmin.every((e) => e.identity === "admin"));
  assert.deepEqual(byAdmin, all.filter((e) => e.identity === "admin"), "the same events, in the same order, as filtering the whole trail");
  const failed = await events("outcome=failure");
  assert.ok(failed.length > 0 && failed.every((e) => e.outcome === "failure"));
  assert.deepEqual(await events("event=attributes.changed&repository=team/app"), all.filter((e) => e.event === "attributes.changed" && e.repository === "team/app"));
  assert.equal((await events("event=attributes.changed&repository=team/other")).length, 0);
  const created = await events("action=create&limit=1000");
  assert.deepEqual(created, all.filter((e) => e.action === "create"));
  // A time range: from inclusive, to exclusive.
  const since = await events(`from=${encodeURIComponent(before)}&limit=1000`);
  assert.deepEqual(since, all.filter((e) => e.at >= before));
  const first = all.at(-1)!;
  assert.deepEqual(await events(`to=${encodeURIComponent(first.at)}`), [], "nothing before the first event");
  assert.deepEqual(await events(`from=${encodeURIComponent("2000-01-01T00:00:00Z")}&to=${encodeURIComponent("2000-01-02T00:00:00+01:00")}`), []);

  for (const bad of ["from=yesterday", "outcome=maybe", `from=${encodeURIComponent(before)}&to=${encodeURIComponent(before)}`, "actor=admin"]) {
    const res = await app.request("GET", `/api/v1/audit?${bad}`);
    assert.equal(res.status, 400, `${bad}: ${res.body}`);
    assert.equal(res.errorCode(), "INVALID_REQUEST");
  }
  assert.equal((await app.request("GET", "/api/v1/audit?identity=admin", { auth: basic("bob", "bob-secret-1") })).status, 403);
});

// Every endpoint of src/api-contract/endpoints.ts driven once: freshApp's request checks each
// answer against its declared shape (strict objects), and the last assertion makes sure no
// declared endpoint went undriven, so a new endpoint needs a line here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ENDPOINTS, findEndpoint } from "../../src/api-contract/endpoints.ts";
import { freshApp, imageManifest, PASSWORD, putManifest, type TestResponse } from "../support/app.ts";
import { chartYamlFor, provenanceFor, provenanceSum, validChart } from "../support/chart-fixtures.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

const JSON_HEADERS = { "content-type": "application/json" };

test("every declared /api endpoint answers its declared shape", async (t) => {
  // Webhooks may reach the test's receiver on the loopback address.
  // Soft delete on, so the deletes below are restorable through /api/v1/deleted.
  const app = await freshApp(t, { "webhooks.allowedHosts": ["127.0.0.1"], "webhooks.allowPrivateAddresses": true, "deletion.restorableFor": 3600 });
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const driven = new Set<string>();
  async function call(method: string, url: string, body?: unknown, status = 200): Promise<TestResponse> {
    const raw = Buffer.isBuffer(body);
    const res = await app.request(method, url, body === undefined ? {} : { body: raw ? body : JSON.stringify(body), headers: raw ? {} : JSON_HEADERS });
    assert.equal(res.status, status, `${method} ${url}: ${res.body.toString().slice(0, 300)}`);
    const endpoint = findEndpoint(method, url);
    if (endpoint) driven.add(`${endpoint.method} ${endpoint.path}`);
    return res;
  }

  await call("GET", "/api/v1/admin");
  await call("PATCH", "/api/v1/admin", { enabled: true });
  await call("POST", "/api/v1/admin/passwords/2", {});

  await call("POST", "/api/v1/users", { name: "alice", roles: ["acrpull"] }, 201);
  await call("GET", "/api/v1/users");
  await call("POST", "/api/v1/users/alice/password", {});
  await call("DELETE", "/api/v1/users/alice");

  const sp = (await call("POST", "/api/v1/service-principals", { name: "ci", role: "acrpush", scope: "team/*", expiresIn: 3600 }, 201)).json();
  await call("GET", "/api/v1/service-principals");
  await call("POST", `/api/v1/service-principals/${sp.id}/secret`, {});
  await call("DELETE", `/api/v1/service-principals/${sp.id}`);

  const rules = [{ repository: "team/*", actions: ["content/read", "metadata/read"] }];
  await call("PUT", "/api/v1/scope-maps/readers", { description: "read team", rules }, 201);
  await call("PUT", "/api/v1/scope-maps/readers", { rules });
  await call("GET", "/api/v1/scope-maps");
  await call("GET", "/api/v1/scope-maps/readers");
  await call("POST", "/api/v1/tokens", { name: "puller", scopeMap: "readers" }, 201);
  await call("GET", "/api/v1/tokens");
  await call("PATCH", "/api/v1/tokens/puller", { enabled: false });
  await call("POST", "/api/v1/tokens/puller/passwords/2", { expiresIn: 3600 });
  await call("DELETE", "/api/v1/tokens/puller/passwords/2");
  await call("DELETE", "/api/v1/tokens/puller");
  await call("DELETE", "/api/v1/scope-maps/readers");

  const rule = (await call("POST", "/api/v1/tag-rules", { repository: "team/*", tags: "release-*" }, 201)).json();
  await call("GET", "/api/v1/tag-rules");
  await call("DELETE", `/api/v1/tag-rules/${rule.id}`);

  await call("PUT", "/api/v1/quotas", { scope: "team/*", limit: "10GiB" });
  await call("GET", "/api/v1/quotas");
  await call("DELETE", "/api/v1/quotas/team/*");

  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  const policy = (await call("POST", "/api/v1/retention-policies", { repository: "team/*", keepNewest: 5, tags: "v*" }, 201)).json();
  await call("GET", "/api/v1/retention-policies");
  await call("POST", "/api/v1/retention-runs", { dryRun: true });
  await call("POST", "/api/v1/retention-runs", {});
  assert.equal((await call("GET", "/api/v1/events?action=retention")).json().events.length, 1, "a real run is one retention event");
  await call("DELETE", `/api/v1/retention-policies/${policy.id}`);
  await call("GET", "/api/v1/repositories/team/app/attributes");
  await call("PATCH", "/api/v1/repositories/team/app/attributes?tag=v1", { deleteEnabled: false });
  await call("GET", "/api/v1/provenance/team/app/v1");
  await call("PUT", "/api/v1/metadata/team/app/owner", { value: "team-a" });
  await call("PUT", `/api/v1/metadata/team/app@${image.digest}/approved`, { value: "yes" });
  await call("GET", "/api/v1/metadata/team/app/owner");
  await call("GET", `/api/v1/metadata/team/app@${image.digest}/_values`);
  await call("GET", "/api/v1/metadata/team/app/_history?key=owner");
  await call("DELETE", "/api/v1/metadata/team/app/owner");

  const chart = await validChart({ name: "demo", version: "0.1.0", appVersion: "1.0" });
  await call("POST", "/api/repo/charts", chart, 201);
  await call("POST", "/api/repo/prov", provenanceFor(chartYamlFor({ name: "demo", version: "0.1.0" }), { "demo-0.1.0.tgz": provenanceSum(chart) }), 201);
  await call("GET", "/api/v1/charts");
  await call("GET", "/api/repo/charts");
  await call("HEAD", "/api/repo/charts/demo");
  await call("GET", "/api/repo/charts/demo");
  await call("HEAD", "/api/helm/v1/repo/charts/demo/0.1.0");
  await call("GET", "/api/helm/v1/repo/charts/demo/0.1.0");
  await call("DELETE", "/api/repo/charts/demo/0.1.0");
  await call("GET", "/api/v1/audit?limit=5");
  await call("GET", "/api/v1/audit?identity=admin&outcome=success&from=2026-01-01T00:00:00Z");
  await call("GET", "/api/v1/attributes");
  await call("GET", "/api/v1/settings");

  // The portal's read API, and its deletes (the chart pushed above lives in repo/demo).
  await call("POST", "/api/repo/charts", chart, 201);
  await call("GET", "/api/v1/charts?n=1");
  await call("GET", "/api/v1/charts/repo/demo?version=0.1.0");
  await call("GET", "/api/v1/repositories?q=team&sort=pushed");
  await call("GET", "/api/v1/repositories/team/app");
  await call("GET", "/api/v1/repositories/team/app/tags?sort=time_desc");
  await call("GET", "/api/v1/repositories/team/app/manifests?untagged=false");
  await call("GET", `/api/v1/repositories/team/app/manifests/${image.digest}`);
  await call("GET", "/api/v1/search?label=build.sha=e80e6ef&unsigned=true");
  await call("GET", "/api/v1/search?unverified=true");
  assert.equal((await putManifest(app, "team/app", "v2", image.body)).status, 201);
  await call("DELETE", "/api/v1/repositories/team/app/tags/v2");
  await call("PATCH", "/api/v1/repositories/team/app/attributes?tag=v1", { deleteEnabled: true });
  await call("DELETE", `/api/v1/repositories/team/app/manifests/${image.digest}`);
  assert.equal((await putManifest(app, "team/app", "v3", image.body)).status, 201);
  await call("DELETE", "/api/v1/repositories/team/app");
  const deleted = (await call("GET", "/api/v1/deleted/team/app")).json();
  assert.ok(deleted.deleted.some((d: { tags: string[] }) => d.tags.includes("v3")));
  await call("POST", "/api/v1/deleted/team/app", { reference: "v3" });
  const page = (await call("GET", "/api/v1/deleted/team/app?n=1")).json();
  assert.equal(page.deleted.length, 1);
  await call("GET", `/api/v1/deleted/team/app?n=1&last=${page.next}`);
  const purged = (await call("DELETE", `/api/v1/deleted/team/app?reference=${page.deleted[0].digest}`)).json();
  assert.ok(purged.purged.length >= 1);
  await call("DELETE", "/api/v1/deleted/team/app");

  // Webhooks and the event stream.
  await call("POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/hook`, actions: ["push", "delete"], format: "cloudevents" }, 201);
  await call("GET", "/api/v1/webhooks");
  await call("GET", "/api/v1/webhooks/ci");
  await call("PATCH", "/api/v1/webhooks/ci", { scope: "team/*", rotateSecret: true });
  const ping = (await call("POST", "/api/v1/webhooks/ci/ping", {})).json();
  assert.deepEqual([ping.status, ping.responseStatus], ["delivered", 204]);
  await call("GET", "/api/v1/webhooks/ci/deliveries?limit=5");
  await call("POST", `/api/v1/webhooks/ci/deliveries/${ping.id}/redeliver`, {});
  await call("DELETE", "/api/v1/webhooks/ci");
  await call("GET", "/api/v1/events?after=0&limit=50&action=push");

  // The portal's session (the cookie, CSRF and Origin rules: session.test.ts).
  await call("POST", "/api/v1/session", { username: "admin", password: PASSWORD });
  await call("GET", "/api/v1/session");
  await call("DELETE", "/api/v1/session");

  assert.deepEqual(ENDPOINTS.map((e) => `${e.method} ${e.path}`).filter((e) => !driven.has(e)), []);
});

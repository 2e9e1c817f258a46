// What a code review of the change feed and the access model found (2026-12-06), each as a test
// that failed before its fix: Helm deletes past a delete-locked OCI tag, a .prov removal past a
// write lock, anonymous tokens counted as signed in, a failed cache refresh skipping a change, a
// sign-in remembered across a reset it raced, the change feed starting after the caches loaded,
// and pruning the entry an ETag names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { AuditLog } from "../../src/auth/audit.ts";
import { verifyPassword } from "../../src/auth/passwords.ts";
import { SignInLimiter } from "../../src/auth/rate-limit.ts";
import { TokenService } from "../../src/auth/token-service.ts";
import type { ChangeEntry } from "../../src/domain/changes.ts";
import type { ChangeRows } from "../../src/metadata/types.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { ChangeFeed } from "../../src/services/events/feed.ts";
import { chartYamlFor, provenanceFor, provenanceSum, validChart } from "../support/chart-fixtures.ts";
import { freshApp, type TestApp, type TestResponse } from "../support/app.ts";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

async function json(app: TestApp, method: string, url: string, body?: unknown, auth?: string | null): Promise<TestResponse> {
  return app.request(method, url, body === undefined ? { auth } : { body: JSON.stringify(body), headers: { "content-type": "application/json" }, auth });
}

function expectStatus(res: TestResponse, status: number, what: string) {
  assert.equal(res.status, status, `${what} answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
}

async function pushChart(app: TestApp, name: string, version: string): Promise<Buffer> {
  const tgz = await validChart({ name, version });
  expectStatus(await app.request("PUT", `/helm/v1/charts/_blobs/${name}-${version}.tgz`, { body: tgz, headers: { "content-type": "application/octet-stream" } }), 201, "classic push");
  return tgz;
}

test("no Helm delete route removes a manifest that a delete-locked OCI tag points at", async (t) => {
  const app = await freshApp(t);
  await pushChart(app, "demo", "0.1.0");
  await pushChart(app, "demo", "0.2.0");
  for (const version of ["0.1.0", "0.2.0"]) {
    const manifest = await app.request("GET", `/v2/charts/demo/manifests/${version}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expectStatus(await app.request("PUT", `/v2/charts/demo/manifests/prod-${version}`, { body: manifest.body, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } }), 201, "another tag on the chart's manifest");
    expectStatus(await json(app, "PATCH", `/api/v1/repositories/charts/demo/attributes?tag=prod-${version}`, { deleteEnabled: false }), 200, "lock it");
  }
  expectStatus(await app.request("DELETE", "/api/charts/charts/demo/0.1.0"), 403, "ChartMuseum delete");
  expectStatus(await app.request("DELETE", "/helm/v1/charts/_blobs/demo-0.1.0.tgz"), 403, "classic delete of the package");
  expectStatus(await app.request("DELETE", "/helm/v1/charts/_charts/demo/0.2.0"), 403, "classic delete of the version");
  expectStatus(await app.request("DELETE", "/helm/v1/charts/_charts/demo"), 403, "classic delete of the chart");
  for (const version of ["0.1.0", "0.2.0"]) expectStatus(await app.request("HEAD", `/v2/charts/demo/manifests/prod-${version}`), 200, `the locked tag prod-${version}`);
});

test("removing a .prov needs push as well as delete, so neither acrdelete alone nor anyone past a write lock moves the tag", async (t) => {
  const app = await freshApp(t);
  const tgz = await pushChart(app, "signed", "1.0.0");
  const prov = provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0" }), { "signed-1.0.0.tgz": provenanceSum(tgz) });
  expectStatus(await app.request("PUT", "/helm/v1/charts/_blobs/signed-1.0.0.tgz.prov", { body: prov }), 201, "attach the .prov");
  const deleter = basic("deleter", (await json(app, "POST", "/api/v1/users", { name: "deleter", roles: ["acrdelete"] })).json().password);
  const before = (await app.request("HEAD", "/v2/charts/signed/manifests/1.0.0")).headers["docker-content-digest"];
  expectStatus(await app.request("DELETE", "/helm/v1/charts/_blobs/signed-1.0.0.tgz.prov", { auth: deleter }), 403, "acrdelete removes the .prov");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/charts/signed/attributes?tag=1.0.0", { writeEnabled: false }), 200, "write-lock the version");
  expectStatus(await app.request("DELETE", "/helm/v1/charts/_blobs/signed-1.0.0.tgz.prov"), 403, "the admin removes the .prov of a write-locked version");
  assert.equal((await app.request("HEAD", "/v2/charts/signed/manifests/1.0.0")).headers["docker-content-digest"], before, "the tag did not move");
});

test("an anonymous access token is not a sign-in: /metrics (signed-in) and index.yaml still challenge it; GET /v2/ answers it, as distribution does", async (t) => {
  const app = await freshApp(t, { "metrics.access": "signed-in" });
  const token = (await app.request("GET", "/oauth2/token?service=localhost:80", { auth: null, headers: { host: "localhost:80" } })).json().token as string;
  const bearer = { auth: `Bearer ${token}`, headers: { host: "localhost:80" } };
  expectStatus(await app.request("GET", "/metrics", bearer), 401, "/metrics with an anonymous token");
  // The version check answers any valid token (regctl and docker ping with the one they got); it grants nothing.
  expectStatus(await app.request("GET", "/v2/", bearer), 200, "GET /v2/ with an anonymous token");
  expectStatus(await app.request("GET", "/v2/_catalog", bearer), 401, "the catalog with an anonymous token");
  expectStatus(await app.request("GET", "/helm/v1/repo/index.yaml", bearer), 401, "index.yaml with an anonymous token");
});

/** A change log in memory, for the feed alone. */
function memoryLog(entries: ChangeEntry[]): ChangeRows {
  return {
    append: async () => {},
    since: async (cursor, limit) => entries.filter((e) => e.id > cursor).slice(0, limit),
    events: async () => [],
    entries: async (ids) => entries.filter((e) => ids.includes(e.id)),
    latest: async () => entries.at(-1)?.id ?? 0,
    claim: async () => [],
    ack: async () => false,
    release: async () => {},
    prune: async () => 0,
  };
}

test("the feed starts where the caches began loading, and a listener that fails gets its cache rebuilt, not the change skipped", async () => {
  const entries: ChangeEntry[] = [1, 2, 3].map((id) => ({ id, at: new Date(), change: { kind: "attributes.changed", repository: "r", tag: "" } }));
  const feed = new ChangeFeed(memoryLog(entries), createLogger("silent"));
  const seen: number[] = [];
  let reloads = 0;
  let failOnce = true;
  feed.subscribe({
    apply: (batch) => {
      if (failOnce) {
        failOnce = false;
        throw new Error("a transient failure");
      }
      seen.push(...batch.map((e) => e.id));
    },
    reload: () => void reloads++,
  });
  // The caches loaded while change 2 and 3 were committed by another process: start from 1.
  feed.start(1);
  await feed.catchUp();
  feed.stop();
  assert.equal(reloads, 1, "the failed listener's cache was rebuilt");
  assert.equal(feed.cursor, 3);
  entries.push({ id: 4, at: new Date(), change: { kind: "attributes.changed", repository: "r", tag: "" } });
  await feed.catchUp();
  assert.deepEqual(seen, [4]);
});

test("a sign-in checked while an identity change committed is not remembered past it", async (t) => {
  const app = await freshApp(t);
  const password = (await json(app, "POST", "/api/v1/users", { name: "alice", roles: ["acrpull"] })).json().password as string;
  const metadata = app.berth.stores.metadata;
  const tokens = new TokenService(metadata, { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 });
  await tokens.load();
  let checks = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const entered = Promise.withResolvers<void>();
  const authenticator = new Authenticator(metadata, tokens, new AuditLog(metadata.audit, createLogger("silent")), new SignInLimiter(metadata.signInFailures, { perIdentity: 100, perAddress: 100 }), {
    verify: async (pw, hash) => {
      checks++;
      entered.resolve();
      const ok = await verifyPassword(pw, hash);
      await held;
      return ok;
    },
  });
  const ctx = { service: "localhost", client: "127.0.0.1" };
  const inFlight = authenticator.authenticate(basic("alice", password), ctx);
  // Once the check is under way (a fixed delay could end before it started on a loaded machine:
  // the reset would then come first, and remembering the sign-in checked after it would be right).
  await entered.promise;
  authenticator.forget(); // the reset committed meanwhile (the feed calls forget)
  release();
  assert.notEqual(await inFlight, null);
  const before = checks;
  await authenticator.authenticate(basic("alice", password), ctx);
  assert.ok(checks > before, "the sign-in checked across the reset was remembered");
});

test("prune keeps the newest entry of each kind, which names what caches show", async (t) => {
  const app = await freshApp(t);
  const changes = app.berth.stores.metadata.changes;
  await changes.append({ kind: "chart.recorded", repository: "c/d", version: "1.0.0" });
  await changes.append({ kind: "chart.recorded", repository: "c/d", version: "2.0.0" });
  const newest = await changes.latest(["chart.recorded"]);
  await changes.prune(new Date(Date.now() + 60_000));
  assert.equal(await changes.latest(["chart.recorded"]), newest);
  assert.equal((await changes.since(0, 100)).filter((e) => e.change.kind === "chart.recorded").length, 1);
});

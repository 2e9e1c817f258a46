import assert from "node:assert/strict";
import { test } from "node:test";
import { AUTH, freshApp, imageManifest, putManifest } from "../support/app.ts";

test("GET /v2/: 200 {} with the API version header for the admin", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/v2/");
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), {});
  assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
});

test("GET /v2/: 401 with a Bearer challenge naming the token realm and service", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/v2/", { auth: null, headers: { host: "registry.test:5000" } });
  assert.equal(res.status, 401);
  assert.equal(res.headers["www-authenticate"], 'Bearer realm="http://registry.test:5000/oauth2/token",service="registry.test:5000"');
  assert.equal(res.errorCode(), "UNAUTHORIZED");
  const pull = await app.request("GET", "/v2/team/app/manifests/v1", { auth: null, headers: { host: "registry.test:5000" } });
  assert.match(String(pull.headers["www-authenticate"]), /,scope="repository:team\/app:pull"$/);
  const push = await app.request("POST", "/v2/team/app/blobs/uploads/", { auth: null, headers: { host: "registry.test:5000" } });
  assert.match(String(push.headers["www-authenticate"]), /,scope="repository:team\/app:pull,push"$/);
});

test("GET /v2/: 401 for a wrong password, and for a malformed Authorization header", async (t) => {
  const app = await freshApp(t);
  const wrong = `Basic ${Buffer.from("admin:nope").toString("base64")}`;
  assert.equal((await app.request("GET", "/v2/", { auth: wrong })).status, 401);
  assert.equal((await app.request("GET", "/v2/", { auth: "Basic !!!" })).status, 401);
  assert.equal((await app.request("GET", "/v2/", { auth: "Bearer abc" })).status, 401);
});

test("GET /v2/<name>/manifests: pull without credentials is 401 unless anonymous pull is on", async (t) => {
  const closed = await freshApp(t);
  const image = await imageManifest(closed, "team/app");
  assert.equal((await putManifest(closed, "team/app", "v1", image.body)).status, 201);
  const refused = await closed.request("GET", "/v2/team/app/manifests/v1", { auth: null });
  assert.equal(refused.status, 401);
  assert.equal(refused.errorCode(), "UNAUTHORIZED");
  assert.ok(refused.headers["www-authenticate"]);

  const open = await freshApp(t, { "auth.anonymousPull": true });
  const image2 = await imageManifest(open, "team/app");
  await putManifest(open, "team/app", "v1", image2.body);
  assert.equal((await open.request("GET", "/v2/", { auth: null })).status, 200);
  assert.equal((await open.request("GET", "/v2/team/app/manifests/v1", { auth: null })).status, 200);
  assert.equal((await open.request("GET", `/v2/team/app/blobs/${image2.layer}`, { auth: null })).status, 200);
  // Anonymous pull never extends to push, delete or the catalog.
  assert.equal((await open.request("POST", "/v2/team/app/blobs/uploads/", { auth: null })).status, 401);
  assert.equal((await open.request("DELETE", "/v2/team/app/manifests/v1", { auth: null })).status, 401);
  assert.equal((await open.request("GET", "/v2/_catalog", { auth: null })).status, 401);
});

test("GET /v2/_catalog: lists repositories with n, last and Link", async (t) => {
  const app = await freshApp(t);
  for (const repo of ["b/two", "a/one", "c/three"]) {
    const image = await imageManifest(app, repo);
    await putManifest(app, repo, "v1", image.body);
  }
  assert.deepEqual((await app.request("GET", "/v2/_catalog")).json(), { repositories: ["a/one", "b/two", "c/three"] });
  const first = await app.request("GET", "/v2/_catalog?n=2");
  assert.deepEqual(first.json(), { repositories: ["a/one", "b/two"] });
  assert.equal(first.headers.link, '</v2/_catalog?n=2&last=b%2Ftwo>; rel="next"');
  const next = await app.request("GET", "/v2/_catalog?n=2&last=b%2Ftwo");
  assert.deepEqual(next.json(), { repositories: ["c/three"] });
  assert.equal(next.headers.link, undefined);
});

test("unknown endpoints and methods answer the spec's error body, never 500", async (t) => {
  const app = await freshApp(t);
  const unknown = await app.request("GET", "/v2/team/app/unknown/thing");
  assert.equal(unknown.status, 405);
  assert.equal(unknown.errorCode(), "UNSUPPORTED");
  const method = await app.request("POST", "/v2/team/app/manifests/v1");
  assert.equal(method.status, 405);
  assert.match(String(method.headers.allow), /PUT/);
});

test("/healthz and /metrics answer without credentials", async (t) => {
  const app = await freshApp(t);
  assert.equal((await app.request("GET", "/healthz", { auth: null })).status, 200);
  await app.request("GET", "/v2/");
  const metrics = await app.request("GET", "/metrics", { auth: null });
  assert.equal(metrics.status, 200);
  assert.match(metrics.body.toString(), /berth_http_requests_total\{route="base",method="GET",status="200"\}/);
  assert.match(metrics.body.toString(), /berth_blob_upload_duration_seconds/);
});

test("the admin password is stored hashed, never in clear", async (t) => {
  const app = await freshApp(t);
  const [stored] = await app.berth.stores.metadata.secrets.list("admin");
  assert.ok(stored?.hash.startsWith("scrypt$"));
  assert.ok(!stored!.hash.includes("test-admin-password"));
  assert.equal((await app.request("GET", "/v2/", { auth: AUTH })).status, 200);
});

test("access log: one JSON line per request with identity, status and bytes, and no secret", async (t) => {
  const { PassThrough } = await import("node:stream");
  const { buildApp } = await import("../../src/app.ts");
  const { loadConfig } = await import("../../src/config/load.ts");
  const { createLogger } = await import("../../src/observability/logger.ts");
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
  const dataDir = await mkdtemp(join(tmpdir(), "berth-log-"));
  const berth = await buildApp(loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": "a-secret-password" } }), createLogger("info", sink));
  t.after(async () => {
    await berth.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const basic = Buffer.from("admin:a-secret-password").toString("base64");
  await berth.app.inject({ method: "POST", url: `/v2/team/app/blobs/uploads/?digest=sha256:${"0".repeat(64)}`, headers: { authorization: `Basic ${basic}`, "content-type": "application/octet-stream" }, payload: "abc" });
  await berth.app.inject({ method: "GET", url: "/v2/", headers: { authorization: `Basic ${Buffer.from("admin:wrong-password").toString("base64")}` } });
  await new Promise((r) => setImmediate(r));
  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
  assert.equal(requests.length, 2);
  assert.deepEqual(
    requests.map((r) => [r.method, r.path, r.status, r.identity]),
    [["POST", "/v2/team/app/blobs/uploads/", 400, "admin"], ["GET", "/v2/", 401, "anonymous"]],
  );
  for (const r of requests) assert.equal(typeof r.durationMs, "number");
  const all = lines.join("\n");
  for (const secret of ["a-secret-password", basic, "wrong-password"]) assert.ok(!all.includes(secret), `log holds ${secret}`);
});

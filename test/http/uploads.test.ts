import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, sha256 } from "../support/app.ts";

const octets = { "content-type": "application/octet-stream" };

test("POST /blobs/uploads/: 202 with Location, Range 0-0 and Docker-Upload-UUID", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("POST", "/v2/team/app/blobs/uploads/");
  assert.equal(res.status, 202);
  assert.match(String(res.headers.location), /^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
  assert.equal(res.headers.range, "0-0");
  assert.ok(res.headers["docker-upload-uuid"]);
});

test("chunked upload: PATCH chunks in order, GET status is 204 with Range, PUT finishes", async (t) => {
  const app = await freshApp(t);
  const start = await app.request("POST", "/v2/team/app/blobs/uploads/");
  const location = String(start.headers.location);
  const first = await app.request("PATCH", location, { body: "abcde", headers: { ...octets, "content-range": "0-4" } });
  assert.equal(first.status, 202);
  assert.equal(first.headers.range, "0-4");
  const status = await app.request("GET", location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.range, "0-4");
  assert.equal(status.headers.location, location);
  const second = await app.request("PATCH", location, { body: "fgh", headers: { ...octets, "content-range": "5-7" } });
  assert.equal(second.headers.range, "0-7");
  const put = await app.request("PUT", `${location}?digest=${sha256("abcdefghij")}`, { body: "ij", headers: { ...octets, "content-range": "8-9" } });
  assert.equal(put.status, 201);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${sha256("abcdefghij")}`)).body.toString(), "abcdefghij");
  assert.equal((await app.request("GET", location)).status, 404, "a finished upload is gone");
});

test("PATCH out of order: 416 with the current Range, and the upload can continue", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  await app.request("PATCH", location, { body: "abc", headers: { ...octets, "content-range": "0-2" } });
  const skip = await app.request("PATCH", location, { body: "xyz", headers: { ...octets, "content-range": "10-12" } });
  assert.equal(skip.status, 416);
  assert.equal(skip.errorCode(), "BLOB_UPLOAD_INVALID");
  assert.equal(skip.headers.range, "0-2");
  const replay = await app.request("PATCH", location, { body: "abc", headers: { ...octets, "content-range": "0-2" } });
  assert.equal(replay.status, 416);
  assert.equal((await app.request("PATCH", location, { body: "def", headers: { ...octets, "content-range": "3-5" } })).status, 202);
  assert.equal((await app.request("PUT", `${location}?digest=${sha256("abcdef")}`)).status, 201);
});

test("PUT with an out-of-order last chunk: 416", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  await app.request("PATCH", location, { body: "abc", headers: { ...octets, "content-range": "0-2" } });
  const res = await app.request("PUT", `${location}?digest=${sha256("abcxyz")}`, { body: "xyz", headers: { ...octets, "content-range": "4-6" } });
  assert.equal(res.status, 416);
});

test("PATCH whose Content-Length disagrees with Content-Range: 400 SIZE_INVALID", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const res = await app.request("PATCH", location, { body: "abcd", headers: { ...octets, "content-range": "0-9" } });
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "SIZE_INVALID");
  assert.equal((await app.request("GET", location)).headers.range, "0-0", "nothing was recorded");
});

test("PATCH without Content-Range streams the whole blob (crane, oras, docker)", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const data = Buffer.alloc(300_000, 7);
  const patch = await app.request("PATCH", location, { body: data, headers: octets });
  assert.equal(patch.headers.range, `0-${data.length - 1}`);
  assert.equal((await app.request("PUT", `${location}?digest=${sha256(data)}`)).status, 201);
});

test("PUT with the wrong digest: DIGEST_INVALID, and the upload is discarded", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  await app.request("PATCH", location, { body: "abc", headers: octets });
  const res = await app.request("PUT", `${location}?digest=${sha256("abd")}`);
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "DIGEST_INVALID");
  assert.equal((await app.request("GET", location)).status, 404);
  assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${sha256("abc")}`)).status, 404);
});

test("PUT without ?digest=: DIGEST_INVALID", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const res = await app.request("PUT", location);
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "DIGEST_INVALID");
});

test("unknown upload ids: 404 BLOB_UPLOAD_UNKNOWN on GET, PATCH, PUT and DELETE", async (t) => {
  const app = await freshApp(t);
  const location = "/v2/team/app/blobs/uploads/00000000-0000-4000-8000-000000000000";
  for (const method of ["GET", "PATCH", "PUT", "DELETE"]) {
    const res = await app.request(method, method === "PUT" ? `${location}?digest=${sha256("")}` : location, { headers: octets, body: method === "PATCH" ? "x" : undefined });
    assert.equal(res.status, 404, method);
    assert.equal(res.errorCode(), "BLOB_UPLOAD_UNKNOWN", method);
  }
  const garbage = await app.request("GET", "/v2/team/app/blobs/uploads/..%2F..%2Fetc");
  assert.equal(garbage.status, 404);
});

test("an upload belongs to the repository that started it", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/a/blobs/uploads/")).headers.location);
  const stolen = location.replace("/team/a/", "/team/b/");
  assert.equal((await app.request("GET", stolen)).status, 404);
});

test("DELETE upload: 204, then the upload is unknown", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  assert.equal((await app.request("DELETE", location)).status, 204);
  assert.equal((await app.request("GET", location)).status, 404);
});

test("an upload survives a restart: the offset is in the database, the bytes on disk", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  await app.request("PATCH", location, { body: "first-", headers: { ...octets, "content-range": "0-5" } });
  // A second app over the same data directory has none of the first one's memory.
  const { buildApp } = await import("../../src/app.ts");
  const { loadConfig } = await import("../../src/config/load.ts");
  const { createLogger } = await import("../../src/observability/logger.ts");
  const second = await buildApp(loadConfig({ overrides: { "storage.data": app.dataDir, "auth.adminPassword": "test-admin-password" } }), createLogger("silent"));
  t.after(() => second.close());
  const auth = { authorization: `Basic ${Buffer.from("admin:test-admin-password").toString("base64")}` };
  const status = await second.app.inject({ method: "GET", url: location, headers: auth });
  assert.equal(status.statusCode, 204);
  assert.equal(status.headers.range, "0-5");
  await second.app.inject({ method: "PATCH", url: location, headers: { ...auth, ...octets, "content-range": "6-11" }, payload: "second" });
  const put = await second.app.inject({ method: "PUT", url: `${location}?digest=${sha256("first-second")}`, headers: auth });
  assert.equal(put.statusCode, 201);
});

test("idle uploads are purged after the configured expiry", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  assert.equal(await app.berth.uploads.purgeIdle(new Date(Date.now() - 60_000)), 0);
  assert.equal(await app.berth.uploads.purgeIdle(new Date(Date.now() + 1000)), 1);
  assert.equal((await app.request("GET", location)).status, 404);
});

test("the upload row's lease: a live writer elsewhere gets 416 and keeps the upload from purge and gc; a dead one's is taken over once it ran out by the database's clock", async (t) => {
  const app = await freshApp(t);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const id = location.split("/").at(-1)!;
  const uploads = app.berth.stores.metadata.uploads;
  const soon = () => 30_000;
  // Another instance (another host) is streaming a chunk into it.
  assert.equal((await uploads.lease(id, "other-host/1/boot/1", soon())) !== null, true);
  const patch = await app.request("PATCH", location, { body: "abc", headers: { ...octets, "content-range": "0-2" } });
  assert.equal(patch.status, 416);
  assert.equal((await app.request("PUT", `${location}?digest=${sha256("abc")}`, { body: "abc", headers: octets })).status, 416, "nor may a closing PUT");
  assert.equal((await app.request("DELETE", location)).status, 416);
  assert.equal(await app.berth.uploads.purgeIdle(new Date(Date.now() + 60_000)), 0, "however idle its row, a leased upload is not purged");
  const { collectGarbage } = await import("../../src/services/gc.ts");
  const gc = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: 0, dryRun: false, now: new Date(Date.now() + 60_000) });
  assert.equal(gc.uploadsPurged, 0);
  // A writer that died (kill -9 mid-PATCH) stops renewing its lease: a PATCH waits for it to run out, then goes on.
  await uploads.release(id, "other-host/1/boot/1");
  assert.equal((await uploads.lease(id, "dead-process/1", 500)) !== null, true);
  const resumed = await app.request("PATCH", location, { body: "abc", headers: { ...octets, "content-range": "0-2" } });
  assert.equal(resumed.status, 202);
  assert.equal((await uploads.get(id))?.lease, null, "freed with the offset");
  assert.equal((await app.request("PUT", `${location}?digest=${sha256("abc")}`)).status, 201);
});

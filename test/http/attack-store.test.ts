// Attacks on the blob driver redesign (uploads as parts, leases in the upload row, the retried
// closing PUT of issue 13 point 5), as an outside tester would send them. Each test is a finding:
// it fails on the code it was written against.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test, type TestContext } from "node:test";
import { buildApp, type BerthApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { freshApp, PASSWORD, pushBlob, sha256, type TestApp } from "../support/app.ts";

const octets = { "content-type": "application/octet-stream" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** A second Berth over the same data directory: another `berth serve`, or the same one restarted. */
async function secondInstance(t: TestContext, app: TestApp): Promise<BerthApp> {
  const second = await buildApp(loadConfig({ overrides: { "storage.data": app.dataDir, "auth.adminPassword": PASSWORD } }), createLogger("silent"));
  t.after(() => second.close());
  return second;
}

/** A principal that may push and pull team-a/* and nothing else. */
async function teamAPusher(app: TestApp): Promise<string> {
  const res = await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: "a-pusher", role: "acrpush", scope: "team-a/*" }), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 201, res.body.toString());
  const sp = res.json();
  return basic(sp.id, sp.secret);
}

test("attack-store: a closing PUT on an upload of junk does not link another repository's blob of the same size (other process or after a restart)", async (t) => {
  const app = await freshApp(t);
  // A private layer of team-b; its digest and size are all an outsider needs (both are in any
  // manifest that leaked, or in a public one that reuses the layer).
  const secret = randomBytes(4096);
  const digest = await pushBlob(app, "team-b/private", secret);
  const outsider = await teamAPusher(app);
  assert.equal((await app.request("HEAD", `/v2/team-b/private/blobs/${digest}`, { auth: outsider })).status, 403, "the outsider cannot read team-b");
  assert.equal((await app.request("POST", `/v2/team-a/app/blobs/uploads/?mount=${digest}&from=team-b/private`, { auth: outsider })).status, 202, "nor mount from it");

  // Upload as many junk bytes as the secret has, through one process ...
  const location = String((await app.request("POST", "/v2/team-a/app/blobs/uploads/", { auth: outsider })).headers.location);
  const junk = Buffer.alloc(secret.length, 0x41);
  assert.equal((await app.request("PATCH", location, { body: junk, headers: { ...octets, "content-range": `0-${junk.length - 1}` }, auth: outsider })).status, 202);
  // ... and close it through another (a second `berth serve`, or this one after a restart), naming the secret's digest.
  const second = await secondInstance(t, app);
  const put = await second.app.inject({ method: "PUT", url: `${location}?digest=${digest}`, headers: { authorization: outsider } });
  assert.notEqual(put.statusCode, 201, "a closing PUT whose upload holds other bytes must not succeed: DIGEST_INVALID");
  assert.equal(JSON.parse(put.body).errors?.[0]?.code, "DIGEST_INVALID");
  const read = await app.request("GET", `/v2/team-a/app/blobs/${digest}`, { auth: outsider });
  assert.equal(read.status, 404, "team-b's blob must not become readable through team-a");
  assert.notDeepEqual(read.body, secret);
});

test("attack-store: the same in one process: a chunk shorter than its Content-Range makes the next closing PUT link another repository's blob", async (t) => {
  const app = await freshApp(t);
  const secret = randomBytes(4096);
  const digest = await pushBlob(app, "team-b/private", secret);
  const outsider = await teamAPusher(app);
  const location = String((await app.request("POST", "/v2/team-a/app/blobs/uploads/", { auth: outsider })).headers.location);
  const junk = Buffer.alloc(secret.length, 0x41);
  assert.equal((await app.request("PATCH", location, { body: junk, headers: { ...octets, "content-range": `0-${junk.length - 1}` }, auth: outsider })).status, 202);
  // A chunk sent without Content-Length (chunked encoding) that falls short of its Content-Range:
  // 400, and the upload stays at its offset, as it should.
  const short = await app.rawRequest("PATCH", location, { body: "xyz", headers: { ...octets, authorization: outsider, "transfer-encoding": "chunked", "content-range": `${junk.length}-${junk.length + 99}` } });
  assert.equal(short.status, 400, short.body.toString());
  assert.equal((await app.request("GET", location, { auth: outsider })).headers.range, `0-${junk.length - 1}`);
  const put = await app.request("PUT", `${location}?digest=${digest}`, { auth: outsider });
  assert.equal(put.status, 400, "the upload holds junk: DIGEST_INVALID");
  assert.equal(put.errorCode(), "DIGEST_INVALID");
  assert.equal((await app.request("HEAD", `/v2/team-a/app/blobs/${digest}`, { auth: outsider })).status, 404, "team-b's blob must not become readable through team-a");
});

/** Makes the next `blobLinks.link` in any transaction throw (a transient database failure: SQLITE_BUSY past the timeout, a full disk). */
function failNextLink(app: TestApp): void {
  const proto = Object.getPrototypeOf(app.berth.stores.metadata.blobLinks) as { link: (...args: unknown[]) => Promise<void> };
  const original = proto.link;
  proto.link = async function (this: unknown, ...args: unknown[]) {
    proto.link = original;
    await original.apply(this, args);
    throw new Error("injected: database is locked");
  };
}

test("attack-store: a closing PUT whose commit fails keeps the upload's bytes: the status, the retried PUT and the blob agree", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(64 * 1024);
  const digest = sha256(data);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  assert.equal((await app.request("PATCH", location, { body: data, headers: { ...octets, "content-range": `0-${data.length - 1}` } })).status, 202);
  failNextLink(app);
  const first = await app.request("PUT", `${location}?digest=${digest}`);
  assert.ok(first.status >= 500, `the failed commit: ${first.status}`);
  // The upload still reports every byte, so the client retries the PUT, as issue 13 point 5 has it work.
  const status = await app.request("GET", location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.range, `0-${data.length - 1}`);
  const retry = await app.request("PUT", `${location}?digest=${digest}`);
  assert.equal(retry.status, 201, `the retried PUT after a failed commit: ${retry.status} ${retry.body.toString()}`);
  assert.deepEqual((await app.request("GET", `/v2/team/app/blobs/${digest}`)).body, data);
});

test("attack-store: forced overwrites racing deletes over OCI: afterwards the manifest, the tag, index.yaml and the package agree", async (t) => {
  const { validChart } = await import("../support/chart-fixtures.ts");
  const { parse } = await import("yaml");
  const app = await freshApp(t);
  const problems: string[] = [];
  for (let round = 0; round < 8; round++) {
    const first = await validChart({ name: "demo", version: "0.1.0", description: `round ${round} first` });
    const second = await validChart({ name: "demo", version: "0.1.0", description: `round ${round} second` });
    const pushed = await app.request("PATCH", "/helm/v1/repo/_blobs/demo-0.1.0.tgz", { body: first, headers: octets });
    assert.equal(pushed.status, 201, pushed.body.toString());
    const manifest = String((await app.request("HEAD", "/v2/repo/demo/manifests/0.1.0")).headers["docker-content-digest"]);
    const [overwrite, removal] = await Promise.all([
      app.request("PATCH", "/helm/v1/repo/_blobs/demo-0.1.0.tgz", { body: second, headers: octets }),
      app.request("DELETE", `/v2/repo/demo/manifests/${manifest}`),
    ]);
    const tag = await app.request("HEAD", "/v2/repo/demo/manifests/0.1.0");
    const index = parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries?: Record<string, { version: string; digest: string }[]> };
    const listed = index.entries?.demo?.find((v) => v.version === "0.1.0");
    const pkg = await app.request("GET", "/helm/v1/repo/_blobs/demo-0.1.0.tgz");
    const what = `round ${round}: overwrite ${overwrite.status}, delete ${removal.status}, tag ${tag.status}, index ${listed ? "lists" : "omits"} 0.1.0, package ${pkg.status}`;
    if ((tag.status === 200) !== (listed !== undefined) || (tag.status === 200) !== (pkg.status === 200)) problems.push(what);
    else if (listed && sha256(pkg.body) !== `sha256:${listed.digest}`) problems.push(`${what}: index.yaml's digest is not the package served`);
    else if (overwrite.status === 201 && removal.status === 202 && tag.status !== 200 && listed) problems.push(what);
    await app.request("DELETE", "/v2/repo/demo/manifests/0.1.0");
  }
  assert.deepEqual(problems, []);
});

test("attack-store: a server keeps no running hash for uploads finished by another server or purged by berth gc (each is an open hash on a hashing thread with a 16 MiB heap)", async (t) => {
  const app = await freshApp(t);
  const second = await secondInstance(t, app);
  const held = () => (app.berth.stores.blobs as unknown as { hashes: Map<string, unknown> }).hashes.size;
  const big = randomBytes(2 * 1024 * 1024); // hashed on a thread (1 MiB and up)
  for (let i = 0; i < 5; i++) {
    // Moved: a chunk through this server, the rest and the close through the other.
    const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
    assert.equal((await app.request("PATCH", location, { body: big.subarray(0, 1024 * 1024 + i), headers: octets })).status, 202);
    const rest = big.subarray(1024 * 1024 + i);
    assert.equal((await second.app.inject({ method: "PUT", url: `${location}?digest=${sha256(big)}`, headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`, ...octets }, payload: rest })).statusCode, 201);
  }
  // Abandoned after a chunk, then purged by `berth gc` (another process).
  const abandoned = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  assert.equal((await app.request("PATCH", abandoned, { body: big, headers: octets })).status, 202);
  const { collectGarbage } = await import("../../src/services/gc.ts");
  const gc = await collectGarbage(second.stores.metadata, second.stores.blobs, { gracePeriodSeconds: 3600, uploadExpirySeconds: 0, dryRun: false, now: new Date(Date.now() + 1000) });
  assert.equal(gc.uploadsPurged, 1);
  assert.equal((await app.request("GET", abandoned)).status, 404);
  assert.equal(held(), 0, "running hashes kept for uploads that no longer exist or live elsewhere");
});

test("attack-store: a closing PUT that repeats the last chunk (its PATCH's answer was lost) gets the same answer from the server that took the PATCH as from any other", async (t) => {
  const app = await freshApp(t);
  const second = await secondInstance(t, app);
  const auth = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}` };
  const data = randomBytes(8192);
  const answers: number[] = [];
  for (const closer of ["the same server", "another server"]) {
    const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
    assert.equal((await app.request("PATCH", location, { body: data.subarray(0, 4096), headers: octets })).status, 202);
    assert.equal((await app.request("PATCH", location, { body: data.subarray(4096), headers: octets })).status, 202); // its answer never reached the client
    const url = `${location}?digest=${sha256(data)}`;
    const put = closer === "the same server" ? await app.request("PUT", url, { body: data.subarray(4096), headers: octets }) : await second.app.inject({ method: "PUT", url, headers: { ...auth, ...octets }, payload: data.subarray(4096) });
    answers.push("status" in put ? put.status : put.statusCode);
  }
  // docs/storage.md: a retried PUT "with or without Content-Range, with or without the last chunk" gets 201.
  assert.deepEqual(answers, [201, 201], `the same request answered ${answers[0]} by the server that took the PATCH and ${answers[1]} by another`);
});

// Attack 17 (outside tester): retention, soft delete and quotas against a hostile client and a
// careless operator (/work/notes/attack-17-findings.md). Tests marked `todo: "finding: …"` fail on
// the code they were written against and say what should happen; the others pin what held.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { buildApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { Trash } from "../../src/metadata/trash-store.ts";
import { AUTH, freshApp, gc, imageManifest, JSON_TYPE, OCI_INDEX, OCI_MANIFEST, OCTETS, PASSWORD, putManifest, send, sha256, type TestApp, user } from "../support/app.ts";
import { basic } from "../support/identity-api.ts";
import { validChart } from "../support/chart-fixtures.ts";

const DAY = 86_400;

async function tagsOf(app: TestApp, repository: string): Promise<string[]> {
  const res = await app.request("GET", `/v2/${repository}/tags/list`);
  return res.status === 200 ? (res.json().tags ?? []) : [];
}
async function events(app: TestApp, action: string): Promise<{ action: string; actor: unknown; target: Record<string, unknown> }[]> {
  const res = await app.request("GET", `/api/v1/events?after=0&limit=1000&action=${action}`);
  assert.equal(res.status, 200);
  return res.json().events;
}
async function quotaList(app: TestApp): Promise<unknown> {
  return (await app.request("GET", "/api/v1/quotas")).json().quotas;
}
const digestOf = (res: { headers: Record<string, unknown> }) => res.headers["docker-content-digest"];

// ---- findings ---------------------------------------------------------------------------------

test("attack: switching soft delete off (restorableFor 0) forgets what was kept: not listed, not restorable, freed by the next gc", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "berth-attack17-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const start = (seconds: number) => buildApp(loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD, "deletion.restorableFor": seconds } }), createLogger("silent"));
  let berth = await start(DAY);
  t.after(() => berth.close());
  const request = (method: string, url: string, body?: Buffer | string, headers: Record<string, string> = {}) => berth.app.inject({ method: method as "GET", url, headers: { authorization: AUTH, ...headers }, payload: body });
  const config = Buffer.from("{}");
  const secret = Buffer.from(`AWS_SECRET_ACCESS_KEY=leaked ${Math.random()}`);
  for (const blob of [config, secret]) assert.equal((await request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`, blob, OCTETS)).statusCode, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(secret), size: secret.length }] }));
  assert.equal((await request("PUT", "/v2/team/app/manifests/v1", manifest, { "content-type": OCI_MANIFEST })).statusCode, 201);
  assert.equal((await request("DELETE", `/v2/team/app/manifests/${sha256(manifest)}`)).statusCode, 202);
  await berth.close();

  // The operator learns the image leaked a secret and turns soft delete off to be rid of it.
  berth = await start(0);
  const listed = (await request("GET", "/api/v1/deleted/team/app")).json();
  assert.equal(listed.restorableFor, 0);
  assert.deepEqual(listed.deleted, [], "api.md: the list is empty when deletion.restorableFor is 0");
  assert.equal((await request("POST", "/api/v1/deleted/team/app", JSON.stringify({ reference: "v1" }), JSON_TYPE)).statusCode, 404, "nothing restorable while soft delete is off");
  const freed = await collectGarbage(berth.stores.metadata, berth.stores.blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: DAY, dryRun: false });
  assert.ok(freed.deleted.includes(sha256(secret) as never), "gc frees the secret layer");
  assert.equal((await request("GET", `/v2/team/app/blobs/${sha256(secret)}`)).statusCode, 404);
});

test("attack: a soft-deleted image's layers stop being served once gc has run, as after a final delete", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  const puller = await user(app, "puller", ["acrpull", "acrpush"]);
  const freed = await gc(app);
  assert.deepEqual([freed.blobsDeleted, freed.linksRemoved], [0, 2], "the links go, the files stay: the record still needs them");
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`, { auth: puller })).status, 404, "after gc a final delete's layer is 404; a soft delete's should be too");
  assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${image.config}`, { auth: puller })).status, 404);
  assert.equal((await app.request("POST", `/v2/other/app/blobs/uploads/?mount=${image.layer}&from=team/app`, { auth: puller })).status, 202, "nor can it be mounted out of the deleted image");
  assert.equal((await app.request("HEAD", `/v2/other/app/blobs/${image.layer}`, { auth: puller })).status, 404);
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, [], "a blob only the trash names, unlinked, is no problem");
  assert.equal((await gc(app)).blobsDeleted, 0, "a second gc frees nothing either");
  // and the restore still works (the record can re-link what it kept)
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: image.digest })).status, 200);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`, { auth: puller })).body.toString(), image.layerBytes, "byte for byte");
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.config}`, { auth: puller })).status, 200);
  assert.deepEqual((await app.request("GET", "/v2/team/app/manifests/v1", { auth: puller })).body, image.body);
  assert.equal((await gc(app)).linksRemoved, 0, "restored: a live manifest needs the links again");
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, []);
});

test("attack: a delete-only identity cannot move a live tag with a forced restore (a restore that moves a tag is a push)", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const old = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "latest", old.body)).status, 201);
  const deleter = await user(app, "deleter", ["acrdelete"]);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${old.digest}`, { auth: deleter })).status, 202);
  const fixed = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "latest", fixed.body)).status, 201);
  assert.equal((await app.request("PUT", "/v2/team/app/manifests/latest", { body: old.body, headers: { "content-type": OCI_MANIFEST }, auth: deleter })).status, 403, "the deleter may not push");
  const res = await send(app, "POST", "/api/v1/deleted/team/app", { reference: old.digest, force: true }, deleter);
  assert.equal(res.status, 403, res.body.toString());
  assert.equal(digestOf(await app.request("GET", "/v2/team/app/manifests/latest")), fixed.digest);
});

test("attack: quotas bound what an upload stages, not only what it links", async (t) => {
  const app = await freshApp(t);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 10 })).status, 200);
  const staged: number[] = [];
  for (let i = 0; i < 5; i++) {
    const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
    const chunk = Buffer.alloc(1_000_000, i);
    const res = await app.request("PATCH", location, { body: chunk, headers: { ...OCTETS, "content-range": `0-${chunk.length - 1}` } });
    staged.push(res.status);
  }
  assert.ok(staged.every((s) => s === 403), `each 1 MB chunk under a 10-byte quota is refused, got ${staged.join(", ")}`);
  assert.equal(await app.berth.stores.metadata.quotas.staged("team/*"), 0, "nothing staged");
});

test("attack: bytes staged by open uploads count against the room a chunk sees (parallel uploads cannot each stage the whole room)", async (t) => {
  const app = await freshApp(t);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 3_000_000 })).status, 200);
  const start = async (repository: string) => String((await app.request("POST", `/v2/${repository}/blobs/uploads/`)).headers.location);
  const [a, b] = [await start("team/a"), await start("team/b")];
  const two = Buffer.alloc(2_000_000, 1);
  assert.equal((await app.request("PATCH", a, { body: two, headers: OCTETS })).status, 202);
  const refused = await app.request("PATCH", b, { body: two, headers: OCTETS });
  assert.equal(refused.status, 403);
  const error = refused.json().errors[0];
  assert.equal(error.code, "DENIED");
  assert.match(error.message, /^quota "team\/\*" exceeded: used 1\.9 MiB of 2\.9 MiB, this push needs 1\.9 MiB more$/);
  assert.deepEqual(error.detail, { quota: "team/*", used: 2_000_000, limit: 3_000_000, needed: 2_000_000, staged: 2_000_000 });
  // What is left fits; the refusal is one policy_refused event.
  assert.equal((await app.request("PATCH", b, { body: Buffer.alloc(900_000, 2), headers: OCTETS })).status, 202);
  assert.equal((await events(app, "policy_refused")).length, 1);
  // Cancelling an upload gives its room back at once.
  assert.equal((await app.request("DELETE", a)).status, 204);
  assert.equal((await app.request("PATCH", b, { body: Buffer.alloc(2_000_000, 3), headers: { ...OCTETS, "content-range": `900000-2899999` } })).status, 202);
  // The close-time check stays exact: B (2.9 MB) fits and becomes visible.
  const whole = Buffer.concat([Buffer.alloc(900_000, 2), Buffer.alloc(2_000_000, 3)]);
  assert.equal((await app.request("PUT", `${b}${b.includes("?") ? "&" : "?"}digest=${sha256(whole)}`)).status, 201);
  assert.equal(((await quotaList(app)) as { used: number }[])[0]!.used, whole.length);
});

test("attack: uploads that close one after another do not each stage the room the first saw", async (t) => {
  const app = await freshApp(t);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 3_000_000 })).status, 200);
  const first = Buffer.alloc(2_000_000, 1);
  const a = String((await app.request("POST", "/v2/team/a/blobs/uploads/")).headers.location);
  assert.equal((await app.request("PATCH", a, { body: first, headers: OCTETS })).status, 202);
  assert.equal((await app.request("PUT", `${a}${a.includes("?") ? "&" : "?"}digest=${sha256(first)}`)).status, 201);
  // 2 MB linked now: a second 2 MB chunk does not fit, although no upload is open.
  const b = String((await app.request("POST", "/v2/team/b/blobs/uploads/")).headers.location);
  const refused = await app.request("PATCH", b, { body: Buffer.alloc(2_000_000, 2), headers: OCTETS });
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.json().errors[0].detail, { quota: "team/*", used: 2_000_000, limit: 3_000_000, needed: 2_000_000 });
});

test("attack: a body of unknown length (chunked) and the body of a closing PUT or a single-request push are bounded by the quota too", async (t) => {
  const app = await freshApp(t);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 10 })).status, 200);
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const id = location.split("?")[0]!.split("/").at(-1)!;
  const chunked = await app.rawRequest("PATCH", location, { body: Buffer.alloc(100, 1), headers: { ...OCTETS, "transfer-encoding": "chunked" } });
  assert.equal(chunked.status, 403, chunked.body.toString());
  assert.equal(chunked.json().errors[0].code, "DENIED");
  assert.equal((await app.berth.stores.metadata.uploads.get(id))?.offset, 0, "the refused chunk was not kept");
  // The upload goes on from its offset: what the refused body wrote is not part of it.
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 1000 })).status, 200);
  const small = Buffer.from("12345");
  assert.equal((await app.request("PATCH", location, { body: small, headers: OCTETS })).status, 202);
  const done = await app.request("PUT", `${location}${location.includes("?") ? "&" : "?"}digest=${sha256(small)}`);
  assert.equal(done.status, 201, done.body.toString());
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${sha256(small)}`)).body.toString(), "12345");
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 10 })).status, 200);
  const second = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  const data = Buffer.alloc(1_000_000, 5);
  const closing = await app.request("PUT", `${second}${second.includes("?") ? "&" : "?"}digest=${sha256(data)}`, { body: data, headers: OCTETS });
  assert.deepEqual([closing.status, closing.json().errors[0].detail.needed], [403, data.length]);
  const single = await app.request("POST", `/v2/team/other/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS });
  assert.deepEqual([single.status, single.json().errors[0].code], [403, "DENIED"]);
  assert.equal(await app.berth.stores.metadata.quotas.staged("team/*"), 0);
  // Content the scope holds already is not bounded (it adds nothing): a layer pushed before the limit went down.
  assert.equal((await app.request("DELETE", "/api/v1/quotas/team/*")).status, 200);
  const layer = Buffer.alloc(500, 6);
  assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(layer)}`, { body: layer, headers: OCTETS })).status, 201);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 10 })).status, 200);
  assert.equal((await app.request("POST", `/v2/team/copy/blobs/uploads/?digest=${sha256(layer)}`, { body: layer, headers: OCTETS })).status, 201);
});

test("attack: refusals over many repository names do not flood the event stream", async (t) => {
  const app = await freshApp(t);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 10 })).status, 200);
  const pusher = await user(app, "pusher", ["acrpush"]);
  for (let i = 0; i < 40; i++) {
    const data = Buffer.from(`blob ${i} ${"x".repeat(100)}`);
    assert.equal((await app.request("POST", `/v2/team/r${i}/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS, auth: pusher })).status, 403);
  }
  const recorded = (await events(app, "policy_refused")).length;
  assert.ok(recorded <= 5, `one actor refused 40 times in one window: ${recorded} events`);
});

test("attack: null is no retention-run body (a careless `-d null` must not start a real run)", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  for (const tag of ["a", "b"]) assert.equal((await putManifest(app, "team/app", tag, image.body)).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-policies", { repository: "team/*", keepNewest: 1 })).status, 201);
  const res = await send(app, "POST", "/api/v1/retention-runs", "null");
  assert.equal(res.status, 400, res.body.toString());
  assert.deepEqual(await tagsOf(app, "team/app"), ["a", "b"]);
});

test("attack: a quota limit below one byte is refused, not rounded to a 0-byte quota that blocks every push", async (t) => {
  const app = await freshApp(t);
  for (const limit of ["0.0000001", "0.4"]) {
    const res = await send(app, "PUT", "/api/v1/quotas", { scope: "*", limit });
    assert.equal(res.status, 400, `${limit}: ${res.body}`);
  }
  assert.deepEqual(await quotaList(app), []);
});

test("attack: a refusal under the registry's quota does not tell a non-owner what the whole registry holds", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "other-team/app"); // someone else's content
  assert.equal((await putManifest(app, "other-team/app", "v1", image.body)).status, 201);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "*", limit: 1000 })).status, 200);
  const sp = (await send(app, "POST", "/api/v1/service-principals", { name: "ci", role: "acrpush", scope: "team/*" })).json();
  const data = Buffer.alloc(2000, 1);
  const res = await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS, auth: basic(sp.id, sp.secret) });
  assert.equal(res.status, 403);
  const error = res.json().errors[0];
  assert.equal(error.detail?.used, undefined, `the scoped pusher learns the registry's usage: ${JSON.stringify(error)}`);
  assert.deepEqual(error.detail, { quota: "*", needed: 2000 });
  assert.equal(error.message, "the registry's storage quota is full: this push needs 2 KiB more");
  // The event reaches webhooks scoped to team/app: no registry figures in it either.
  const [event] = await events(app, "policy_refused");
  assert.equal(event!.target.repository, "team/app");
  assert.doesNotMatch(String((event!.target.policy as { message: string }).message), /used|1000|520/);
  // An owner may read the quota: it is told the figures.
  const owner = await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS });
  const used = ((await quotaList(app)) as { used: number }[])[0]!.used;
  assert.deepEqual(owner.json().errors[0].detail, { quota: "*", used, limit: 1000, needed: 2000 });
});

test("attack: a quota's figures go to whoever may pull every repository it counts: a principal scoped to team/* under team/*, not under a quota of one repository it cannot see", async (t) => {
  const app = await freshApp(t);
  const sp = (await send(app, "POST", "/api/v1/service-principals", { name: "ci", role: "acrpush", scope: "team/*" })).json();
  const auth = basic(sp.id, sp.secret);
  const data = Buffer.alloc(2000, 1);
  const push = () => app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS, auth });
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 1000 })).status, 200);
  assert.deepEqual((await push()).json().errors[0].detail, { quota: "team/*", used: 0, limit: 1000, needed: 2000 });
  assert.equal((await app.request("DELETE", "/api/v1/quotas/team/*")).status, 200);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/app", limit: 1000 })).status, 200);
  assert.deepEqual((await push()).json().errors[0].detail, { quota: "team/app", used: 0, limit: 1000, needed: 2000 });
  // Scoped to one repository, under the namespace's quota: the namespace's figures are not its to read.
  assert.equal((await app.request("DELETE", "/api/v1/quotas/team/app")).status, 200);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 1000 })).status, 200);
  const narrow = (await send(app, "POST", "/api/v1/service-principals", { name: "narrow", role: "acrpush", scope: "team/app" })).json();
  const refused = await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: OCTETS, auth: basic(narrow.id, narrow.secret) });
  assert.deepEqual([refused.status, refused.json().errors[0].detail], [403, { quota: "team/*", needed: 2000 }]);
  assert.match(refused.json().errors[0].message, /^the storage quota of "team\/\*" is full: this push needs/);
});

test("attack: a delete-only identity does not see the names of tags hidden from listing (listEnabled false) through /api/v1/deleted", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "hidden-2027-merger", image.body)).status, 201);
  assert.equal((await send(app, "PATCH", "/api/v1/repositories/team/app/attributes?tag=hidden-2027-merger", { readEnabled: false, listEnabled: false })).status, 200);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/hidden-2027-merger")).status, 202);
  const deleter = await user(app, "deleter", ["acrdelete"]);
  const res = await app.request("GET", "/api/v1/deleted/team/app", { auth: deleter });
  assert.ok(!res.body.toString().includes("hidden-2027-merger"), res.body.toString());
});

test("attack: listing deleted content, or a restore of something never deleted, does not read every record's manifest bytes", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  const bodies: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    const body = Buffer.from(JSON.stringify({ ...JSON.parse(image.body.toString()), annotations: { pad: `${i}`.padEnd(4 * 1024 * 1024 - 1000, "x") } }));
    assert.equal((await putManifest(app, "team/app", sha256(body), body)).status, 201);
    assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${sha256(body)}`)).status, 202);
    bodies.push(body);
  }
  // Every trash store (the store's own and each transaction's) counts the manifest bytes its answers carry.
  let bodyBytes = 0;
  const count = (value: unknown): void => {
    if (Buffer.isBuffer(value)) bodyBytes += value.length;
    else if (Array.isArray(value)) value.forEach(count);
    else if (value !== null && typeof value === "object" && "body" in value) count(value.body);
  };
  for (const name of Object.getOwnPropertyNames(Trash.prototype).filter((n) => n !== "constructor" && n !== "references") as (keyof Trash)[]) {
    const original = Trash.prototype[name];
    if (typeof original !== "function") continue;
    t.mock.method(Trash.prototype, name, async function (this: Trash, ...args: unknown[]) {
      const answer = await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      count(answer);
      return answer;
    });
  }
  const listed = (await app.request("GET", "/api/v1/deleted/team/app")).json();
  assert.deepEqual([listed.deleted.length, listed.next, listed.deleted[0].size], [8, null, bodies[7]!.length]);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: `sha256:${"0".repeat(64)}` })).status, 404);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "never-deleted" })).status, 404);
  assert.ok(bodyBytes < 1024 * 1024, `a list and a 404 restore read ${(bodyBytes / 2 ** 20).toFixed(0)} MiB of manifest bodies`);
  // A restore reads the one body it puts back.
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: sha256(bodies[3]!) })).status, 200);
  assert.equal(bodyBytes, bodies[3]!.length);
  // A page at a time: two pages of 5 and 3, the cursor from the first.
  const first = (await app.request("GET", "/api/v1/deleted/team/app?n=5")).json();
  const second = (await app.request("GET", `/api/v1/deleted/team/app?n=5&last=${first.next}`)).json();
  assert.deepEqual([first.deleted.length, second.deleted.length, second.next], [5, 2, null]);
  assert.deepEqual([...first.deleted, ...second.deleted].map((d: { digest: string }) => d.digest), bodies.filter((_, i) => i !== 3).reverse().map(sha256));
  assert.equal(bodyBytes, bodies[3]!.length, "listing again read nothing more");
});

test("attack: an untagged-days 0 policy does not delete a manifest pushed moments ago (a multi-platform push's children come before their index)", async (t) => {
  const app = await freshApp(t);
  const child = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", child.digest, child.body)).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-policies", { repository: "team/*", untaggedDays: 0 })).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-runs", {})).status, 200);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.body.length, platform: { architecture: "amd64", os: "linux" } }] }));
  const res = await putManifest(app, "team/app", "v1", index, OCI_INDEX);
  assert.equal(res.status, 201, res.body.toString());
});

test("attack: soft-deleted manifests count toward the quota while they are kept (the trash is no way around a quota)", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 5 * 2 ** 20 })).status, 200);
  const image = await imageManifest(app, "team/app");
  let stored = 0;
  for (let i = 0; i < 5; i++) {
    const body = Buffer.from(JSON.stringify({ ...JSON.parse(image.body.toString()), annotations: { pad: `${i}`.padEnd(4 * 1024 * 1024 - 1000, "x") } }));
    if ((await putManifest(app, "team/app", sha256(body), body)).status !== 201) break;
    assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${sha256(body)}`)).status, 202);
    stored += body.length;
  }
  assert.ok(stored <= 5 * 2 ** 20, `${(stored / 2 ** 20).toFixed(0)} MiB of manifests stored (restorable) under a 5 MiB quota`);
  const [quota] = (await quotaList(app)) as { used: number; restorable: number }[];
  assert.ok(quota!.used <= 5 * 2 ** 20 && quota!.restorable === stored, JSON.stringify(quota));
  // Purging the records (their window over) frees the room.
  await app.berth.stores.metadata.trash.purgeExpired(new Date(Date.now() + 2 * DAY * 1000));
  assert.equal(((await quotaList(app)) as { restorable: number }[])[0]!.restorable, 0);
  const body = Buffer.from(JSON.stringify({ ...JSON.parse(image.body.toString()), annotations: { pad: "again".padEnd(4 * 1024 * 1024 - 1000, "x") } }));
  assert.equal((await putManifest(app, "team/app", sha256(body), body)).status, 201);
});

// ---- what held --------------------------------------------------------------------------------

test("held: hostile quota scopes, retention patterns, restore references and event queries are 400 with nothing changed", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  for (const body of [
    { scope: "*/*", limit: 1 }, { scope: "../x", limit: 1 }, { scope: "team/../x/*", limit: 1 }, { scope: "a".repeat(5000), limit: 1 }, { scope: "tëam/*", limit: 1 },
    { scope: "team/*/*", limit: 1 }, { scope: "/*", limit: 1 }, { scope: "team//*", limit: 1 }, { scope: "*", limit: 2 ** 63 }, { scope: "*", limit: "9999999999TiB" },
    { scope: "*", limit: "1e3" }, { scope: "*", limit: null }, { scope: 5, limit: 1 }, '{"scope":"*","limit":1e400}', "not json",
  ]) {
    const res = await send(app, "PUT", "/api/v1/quotas", body);
    assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 60)}: ${res.body}`);
  }
  assert.deepEqual(await quotaList(app), []);
  for (const body of [
    { repository: "*", untaggedDays: -1 }, { repository: "*", untaggedDays: 2 ** 63 }, { repository: "*", untaggedDays: 1.5 }, '{"repository":"*","untaggedDays":1e400}',
    { repository: "*", keepNewest: 0 }, { repository: "*", keepNewest: 2 ** 63 }, { repository: "*", keepNewest: 1, tags: "*".repeat(5000) }, { repository: "*", keepNewest: 1, tags: "{a,b}".repeat(1000) },
    { repository: "../x", untaggedDays: 1 }, { repository: "*/*", untaggedDays: 1 }, { repository: "*", untaggedDays: "1" }, { repository: "*", keepNewest: 1, tags: "a**b**c**d" },
  ]) {
    const res = await send(app, "POST", "/api/v1/retention-policies", body);
    assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 60)}: ${res.body}`);
  }
  assert.deepEqual((await app.request("GET", "/api/v1/retention-policies")).json().policies, []);
  for (const body of [{ dryRun: "yes" }, { dryRun: true, extra: 1 }, "[]", ""]) assert.equal((await send(app, "POST", "/api/v1/retention-runs", body)).status, 400, JSON.stringify(body));
  for (const body of [{ reference: "../../x" }, { reference: "sha256:zz" }, { reference: "a".repeat(10000) }, { reference: "v1", force: "true" }, { reference: 5 }, {}, { reference: `sha999:${"0".repeat(64)}` }]) {
    assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", body)).status, 400, JSON.stringify(body).slice(0, 60));
  }
  for (const path of ["..%2Fx", "TEAM/app", "a".repeat(3000)]) assert.equal((await app.request("GET", `/api/v1/deleted/${path}`)).status, 400, path.slice(0, 40));
  for (const query of ["limit=9223372036854775808", "limit=-1", "after=-5", "after=abc", "action=nope", "order=newest&before=0"]) assert.equal((await app.request("GET", `/api/v1/events?${query}`)).status, 400, query);
});

test("held: listing and restoring deleted content: anonymous (with anonymous pull on), a reader, a scope-map reader and a token scoped elsewhere are refused; a scope map's content/delete lists, with content/write it restores", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await send(app, "PATCH", "/api/v1/repositories/team/app/attributes", { anonymousPull: true })).status, 200);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  const reader = await user(app, "reader", ["acrpull", "acrpush"]);
  assert.equal((await send(app, "PUT", "/api/v1/scope-maps/readers", { rules: [{ repository: "team/*", actions: ["content/read", "content/write", "metadata/read"] }] })).status, 201);
  assert.equal((await send(app, "PUT", "/api/v1/scope-maps/other-deleters", { rules: [{ repository: "other/*", actions: ["content/delete"] }] })).status, 201);
  // A restore is a push too: content/delete lists, content/delete with content/write restores.
  assert.equal((await send(app, "PUT", "/api/v1/scope-maps/deleters", { rules: [{ repository: "team/app", actions: ["content/delete"] }] })).status, 201);
  assert.equal((await send(app, "PUT", "/api/v1/scope-maps/restorers", { rules: [{ repository: "team/app", actions: ["content/delete", "content/write"] }] })).status, 201);
  const token = async (name: string, scopeMap: string) => basic(name, (await send(app, "POST", "/api/v1/tokens", { name, scopeMap })).json().passwords[0].password);
  for (const [who, auth, status] of [["anonymous", null, 401], ["reader", reader, 403], ["scope-map reader", await token("r", "readers"), 403], ["deleter elsewhere", await token("o", "other-deleters"), 403]] as const) {
    assert.equal((await app.request("GET", "/api/v1/deleted/team/app", { auth })).status, status, who);
    assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "v1" }, auth as string)).status, status, who);
  }
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1", { auth: null })).status, 404, "nothing restored");
  const deleter = await token("d", "deleters");
  assert.equal((await app.request("GET", "/api/v1/deleted/team/app", { auth: deleter })).status, 200);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "v1" }, deleter)).status, 403, "delete alone does not restore");
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "v1" }, await token("w", "restorers"))).status, 200);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1", { auth: null })).status, 200);
});

test("held: a restore is a push to the quota (refused over it, with its event) and to a read lock (a restored read-locked tag stays unreadable)", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "secret", image.body)).status, 201);
  assert.equal((await send(app, "PATCH", "/api/v1/repositories/team/app/attributes?tag=secret", { readEnabled: false })).status, 200);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/app", limit: 1 })).status, 200);
  const refused = await send(app, "POST", "/api/v1/deleted/team/app", { reference: "secret" });
  assert.deepEqual([refused.status, refused.errorCode()], [403, "DENIED"]);
  assert.equal((await events(app, "policy_refused")).length, 1);
  assert.equal((await app.request("DELETE", "/api/v1/quotas/team/app")).status, 200);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "secret" })).status, 200);
  const puller = await user(app, "puller", ["acrpull"]);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/secret", { auth: puller })).status, 403);
});

test("held: a whole repository soft-deleted with an index, gc, fsck clean; the index refuses until its child is back, then every blob pulls", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length, platform: { architecture: "amd64", os: "linux" } }] }));
  assert.equal((await putManifest(app, "team/app", "multi", index, OCI_INDEX)).status, 201);
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app")).status, 200);
  assert.deepEqual((await gc(app)).deleted, []);
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, []);
  const early = await send(app, "POST", "/api/v1/deleted/team/app", { reference: "multi" });
  assert.deepEqual([early.status, early.errorCode()], [409, "RESTORE_CONFLICT"]);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "v1" })).status, 200);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "multi" })).status, 200);
  for (const blob of [image.config, image.layer]) assert.equal((await app.request("GET", `/v2/team/app/blobs/${blob}`)).status, 200);
  assert.deepEqual(await tagsOf(app, "team/app"), ["multi", "v1"]);
});

test("held: retention over classic charts with soft delete: index.yaml loses the versions, restore brings one back both ways, a re-pushed version needs force and then serves the restored bytes; gc and fsck clean", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY, "retention.gracePeriod": 0 });
  type Index = { entries: Record<string, { version: string; appVersion: string; digest: string }[]> };
  const index = async () => parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as Index;
  const versions = async () => ((await index()).entries.demo ?? []).map((e) => e.version).sort();
  for (const version of ["0.1.0", "0.2.0", "0.3.0"]) assert.equal((await app.request("POST", "/api/repo/charts", { body: await validChart({ name: "demo", version, appVersion: "1.0" }) })).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-policies", { repository: "repo/*", keepNewest: 1, tags: "semver" })).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-policies", { repository: "repo/*", untaggedDays: 0 })).status, 201);
  const run = (await send(app, "POST", "/api/v1/retention-runs", {})).json();
  // A classic version's tag deleted by keep-newest takes its manifest with it (a classic version is
  // one thing), so the untagged policy's items for those two manifests find them gone: skipped.
  assert.deepEqual([run.summary.tagsDeleted, run.summary.manifestsDeleted, run.summary.skipped], [2, 0, 2]);
  assert.deepEqual(await versions(), ["0.3.0"]);
  assert.equal((await send(app, "POST", "/api/v1/deleted/repo/demo", { reference: "0.1.0" })).status, 200);
  assert.deepEqual(await versions(), ["0.1.0", "0.3.0"]);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/demo-0.1.0.tgz")).status, 200);
  assert.equal((await app.request("GET", "/v2/repo/demo/manifests/0.1.0")).status, 200);
  assert.equal((await app.request("POST", "/api/repo/charts", { body: await validChart({ name: "demo", version: "0.2.0", appVersion: "2.0" }) })).status, 201);
  const conflict = await send(app, "POST", "/api/v1/deleted/repo/demo", { reference: "0.2.0" });
  assert.deepEqual([conflict.status, conflict.errorCode()], [409, "RESTORE_CONFLICT"]);
  assert.equal((await send(app, "POST", "/api/v1/deleted/repo/demo", { reference: "0.2.0", force: true })).status, 200);
  const entry = (await index()).entries.demo!.find((e) => e.version === "0.2.0")!;
  assert.equal(entry.appVersion, "1.0");
  await gc(app);
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, []);
  const tgz = await app.request("GET", "/helm/v1/repo/_blobs/demo-0.2.0.tgz");
  assert.equal(sha256(tgz.body), `sha256:${entry.digest}`);
});

test("held: retention with soft delete and a 2-second window: dry run equals run, records expire, gc frees the layer, fsck clean", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": 2, "retention.gracePeriod": 0 });
  const first = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", first.body)).status, 201);
  const second = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", second.body)).status, 201);
  assert.equal((await send(app, "POST", "/api/v1/retention-policies", { repository: "team/*", untaggedDays: 0 })).status, 201);
  const dry = (await send(app, "POST", "/api/v1/retention-runs", { dryRun: true })).json();
  const real = (await send(app, "POST", "/api/v1/retention-runs", {})).json();
  assert.deepEqual(real.items.map((i: { digest: string }) => i.digest), dry.items.map((i: { digest: string }) => i.digest));
  assert.deepEqual(real.items.map((i: { digest: string }) => i.digest), [first.digest]);
  assert.equal((await app.request("GET", "/api/v1/deleted/team/app")).json().deleted.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const freed = await gc(app);
  assert.ok(freed.deleted.includes(first.layer as never));
  assert.equal(freed.deletedPurged, 1);
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, []);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 200);
});

test("held: usage is exact across soft delete, gc in the window and restore (restored content counted once); non-owners may not read quotas, retention policies or plans", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  assert.equal((await send(app, "PUT", "/api/v1/quotas", { scope: "team/*", limit: 1_000_000 })).status, 200);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  const used = async () => ((await quotaList(app)) as { used: number }[])[0]!.used;
  const full = await used();
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  // Changed by attack 17, finding 6: the deleted manifest's bytes stay counted (restorable) while
  // its record keeps them, where they used to leave the usage at once.
  assert.equal(await used(), full, "the manifest's bytes stay counted while its record keeps them; its blobs count once");
  assert.equal(((await quotaList(app)) as { restorable: number }[])[0]!.restorable, image.body.length);
  await gc(app);
  // gc unlinks the blobs only the deleted record names (finding 4); they stay counted, now all restorable.
  assert.equal(await used(), full);
  assert.equal(((await quotaList(app)) as { restorable: number }[])[0]!.restorable, full);
  assert.equal((await send(app, "POST", "/api/v1/deleted/team/app", { reference: "v1" })).status, 200);
  assert.equal(await used(), full, "restored: the blobs linked (and admitted) again, counted once, not twice");
  const pusher = await user(app, "pusher", ["acrpush", "acrdelete"]);
  for (const [method, url, body] of [["GET", "/api/v1/quotas", undefined], ["GET", "/api/v1/retention-policies", undefined], ["POST", "/api/v1/retention-runs", { dryRun: true }], ["GET", "/api/v1/events", undefined]] as const) {
    const res = body === undefined ? await app.request(method, url, { auth: pusher }) : await send(app, method, url, body, pusher);
    assert.equal(res.status, 403, `${method} ${url}`);
  }
});

// Soft delete's early end (docs/lifecycle.md#soft-delete), over HTTP: a purge forgets deleted
// content now (all of a repository's, a digest's, or what a tag named) with a delete event
// marked purged, and gc then frees what only it kept; deletion.restorableFor lowered holds for
// what was kept before; gc unlinks what only deleted content names (404 by digest, no mount) but
// keeps a link a live manifest still needs; a blob deleted on its own is no longer kept for a
// record; hidden tags stay hidden in every answer. On SQLite and PostgreSQL where the store decides.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { AUTH, freshApp, imageManifest, OCI_MANIFEST, PASSWORD, putManifest, sha256, type TestApp } from "../support/app.ts";
import { usePostgres } from "../support/postgres.ts";

const DAY = 86_400;
const JSON_TYPE = { "content-type": "application/json" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const postgres = usePostgres();

const gc = (app: TestApp) => collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: DAY, dryRun: false });
const fsckProblems = async (app: TestApp) => (await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems;
const purge = (app: TestApp, repository: string, reference?: string, auth?: string) =>
  app.request("DELETE", `/api/v1/deleted/${repository}${reference === undefined ? "" : `?reference=${encodeURIComponent(reference)}`}`, auth === undefined ? {} : { auth });
const restore = (app: TestApp, repository: string, reference: string) => app.request("POST", `/api/v1/deleted/${repository}`, { body: JSON.stringify({ reference }), headers: JSON_TYPE });
const listed = async (app: TestApp, repository: string, auth?: string) => {
  const res = await app.request("GET", `/api/v1/deleted/${repository}`, auth === undefined ? {} : { auth });
  assert.equal(res.status, 200, res.body.toString());
  return res.json().deleted as { digest: string; tags: string[]; kind: string; expires: string; deleted: string }[];
};
async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const res = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles }), headers: JSON_TYPE });
  assert.equal(res.status, 201, res.body.toString());
  return basic(name, res.json().password);
}
async function deleteEvents(app: TestApp): Promise<{ actor: { name: string } | null; target: { digest?: string; tag?: string; purged?: true } }[]> {
  return (await app.request("GET", "/api/v1/events?after=0&limit=1000&action=delete")).json().events;
}

for (const backend of ["sqlite", "postgres"] as const) {
  test(`${backend}: a purge forgets what a tag, a digest or the whole repository kept, records a delete event marked purged for each, and the next gc frees the bytes`, async (t) => {
    const app = await freshApp(t, { "deletion.restorableFor": DAY, ...(backend === "postgres" && { "metadata.driver": "postgres", "metadata.postgres.url": await postgres().database() }) });
    const [a, b, c] = [await imageManifest(app, "team/app"), await imageManifest(app, "team/app"), await imageManifest(app, "team/app")];
    for (const [tag, image] of [["a", a], ["a2", a], ["b", b], ["c", c]] as const) assert.equal((await putManifest(app, "team/app", tag, image.body)).status, 201);
    for (const image of [a, b, c]) assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
    assert.equal((await listed(app, "team/app")).length, 3);

    // By tag: the whole record holding it goes, with a2 deleted alongside.
    const byTag = await purge(app, "team/app", "a2");
    assert.equal(byTag.status, 200, byTag.body.toString());
    assert.deepEqual(byTag.json().purged.map((p: { digest: string; tags: string[] }) => [p.digest, p.tags.sort()]), [[a.digest, ["a", "a2"]]]);
    assert.deepEqual((await restore(app, "team/app", "a")).status, 404, "purged: no longer restorable");
    // By digest, then the rest.
    assert.deepEqual((await purge(app, "team/app", b.digest)).json().purged.map((p: { digest: string }) => p.digest), [b.digest]);
    const unknown = await purge(app, "team/app", b.digest);
    assert.deepEqual([unknown.status, unknown.errorCode()], [404, "DELETED_UNKNOWN"]);
    assert.deepEqual((await purge(app, "team/app")).json().purged.map((p: { digest: string }) => p.digest), [c.digest], "the rest");
    assert.deepEqual((await purge(app, "team/app")).json(), { repository: "team/app", purged: [] }, "nothing left: nothing purged, no error");
    assert.deepEqual(await listed(app, "team/app"), []);

    const events = (await deleteEvents(app)).filter((e) => e.target.purged);
    assert.deepEqual(events.map((e) => [e.target.digest, e.actor?.name]), [[a.digest, "admin"], [b.digest, "admin"], [c.digest, "admin"]]);
    assert.equal(events[0]!.target.tag !== undefined, true, "the first tag, as a push names one");

    const freed = await gc(app);
    assert.equal(freed.deletedPurged, 0, "nothing left to expire: the purge forgot them");
    for (const image of [a, b, c]) assert.ok(freed.deleted.includes(image.layer as never), `gc frees ${image.layer}`);
    assert.deepEqual(await fsckProblems(app), []);
  });
}

test("purging needs delete on the repository (anonymous 401, a puller 403, a deleter elsewhere 403); bad input is 400; nothing is forgotten by a refusal", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  const puller = await user(app, "puller", ["acrpull", "acrpush"]);
  const sp = (await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: "other", role: "acrdelete", scope: "other/*" }), headers: JSON_TYPE })).json();
  for (const [auth, status] of [[null, 401], [puller, 403], [basic(sp.id, sp.secret), 403]] as const) {
    assert.equal((await purge(app, "team/app", undefined, auth as string)).status, status);
  }
  for (const [path, code] of [["team/app?reference=", "INVALID_REQUEST"], ["team/app?reference=bad%20tag!", "TAG_INVALID"], ["team/app?reference=sha256:nothex", "DIGEST_INVALID"], ["team/app?other=1", "INVALID_REQUEST"], ["Team/App", "NAME_INVALID"]] as const) {
    const res = await app.request("DELETE", `/api/v1/deleted/${path}`);
    assert.deepEqual([res.status, res.errorCode()], [400, code], path);
  }
  assert.equal((await listed(app, "team/app")).length, 1);
  const deleter = await user(app, "deleter", ["acrdelete"]);
  assert.equal((await purge(app, "team/app", "v1", deleter)).status, 200, "delete alone may purge (it may delete, and see what was deleted)");
  assert.equal((await listed(app, "team/app")).length, 0);
});

test("gc unlinks what only deleted content names, but keeps a link a live manifest of the repository still needs; the restore links the rest again", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const old = await imageManifest(app, "team/app");
  // A second image sharing old's config: its link stays through gc.
  const layer = Buffer.from(`other layer ${Math.random()}`);
  assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(layer)}`, { body: layer, headers: { "content-type": "application/octet-stream" } })).status, 201);
  const parsed = JSON.parse(old.body.toString());
  const live = Buffer.from(JSON.stringify({ ...parsed, layers: [{ ...parsed.layers[0], digest: sha256(layer), size: layer.length }] }));
  assert.equal((await putManifest(app, "team/app", "old", old.body)).status, 201);
  assert.equal((await putManifest(app, "team/app", "live", live)).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${old.digest}`)).status, 202);
  const report = await gc(app);
  assert.deepEqual([report.linksRemoved, report.blobsDeleted], [1, 0]);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${old.layer}`)).status, 404);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${old.config}`)).status, 200, "the live image still needs the shared config");
  assert.equal((await app.request("GET", "/v2/team/app/manifests/live")).status, 200);
  assert.deepEqual(await fsckProblems(app), []);
  assert.equal((await restore(app, "team/app", "old")).status, 200);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${old.layer}`)).body.toString(), old.layerBytes);
  assert.deepEqual(await fsckProblems(app), []);
});

test("a blob deleted from the repository on its own is no longer kept for deleted content: gc frees it and the restore names it (409); one only deleted content kept is deleted the same way", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${image.layer}`)).status, 202, "still linked: unlinked, and no longer kept");
  assert.deepEqual((await gc(app)).deleted, [image.layer], "the config stays: the record keeps it");
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${image.config}`)).status, 202, "unlinked by gc, kept by the record alone: no longer kept");
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${image.config}`)).status, 404, "now nothing holds it");
  assert.deepEqual((await gc(app)).deleted, [image.config]);
  const refused = await restore(app, "team/app", "v1");
  assert.deepEqual([refused.status, refused.errorCode()], [409, "RESTORE_CONFLICT"]);
  assert.match(refused.json().errors[0].message, new RegExp(image.layer.slice(7, 20)));
  assert.deepEqual(await fsckProblems(app), []);
});

test("deletion.restorableFor lowered holds for what was kept before: a record kept for a week expires an hour after its delete; raised, it changes nothing kept", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "berth-window-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const start = (seconds: number) => buildApp(loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD, "deletion.restorableFor": seconds } }), createLogger("silent"));
  let berth = await start(7 * DAY);
  t.after(() => berth.close());
  const request = (method: string, url: string, body?: Buffer, headers: Record<string, string> = {}) => berth.app.inject({ method: method as "GET", url, headers: { authorization: AUTH, ...headers }, payload: body });
  const blob = Buffer.from("{}");
  assert.equal((await request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`, blob, { "content-type": "application/octet-stream" })).statusCode, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(blob), size: blob.length }, layers: [] }));
  assert.equal((await request("PUT", "/v2/team/app/manifests/v1", manifest, { "content-type": OCI_MANIFEST })).statusCode, 201);
  assert.equal((await request("DELETE", "/v2/team/app/manifests/v1")).statusCode, 202);
  const window = async () => {
    const [record] = (await request("GET", "/api/v1/deleted/team/app")).json().deleted as { deleted: string; expires: string }[];
    return (Date.parse(record!.expires) - Date.parse(record!.deleted)) / 1000;
  };
  assert.equal(await window(), 7 * DAY);
  await berth.close();
  berth = await start(3600);
  assert.equal(await window(), 3600);
  await berth.close();
  berth = await start(30 * DAY);
  assert.equal(await window(), 3600, "raising the window does not lengthen what was kept");
});

test("hidden tags (listEnabled false) stay hidden: a record keeps only its listed tags in the list and a purge's answer; one only hidden tags named is left out of both", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": DAY });
  const [both, hidden] = [await imageManifest(app, "team/app"), await imageManifest(app, "team/app")];
  for (const [tag, image] of [["shown", both], ["secret-a", both], ["secret-b", hidden]] as const) {
    assert.equal((await putManifest(app, "team/app", tag, image.body)).status, 201);
  }
  for (const tag of ["secret-a", "secret-b"]) {
    assert.equal((await app.request("PATCH", `/api/v1/repositories/team/app/attributes?tag=${tag}`, { body: JSON.stringify({ listEnabled: false }), headers: JSON_TYPE })).status, 200);
  }
  for (const image of [both, hidden]) assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  const deleter = await user(app, "deleter", ["acrdelete"]);
  for (const auth of [deleter, AUTH]) {
    assert.deepEqual((await listed(app, "team/app", auth)).map((d) => [d.digest, d.tags]), [[both.digest, ["shown"]]]);
  }
  const purged = await purge(app, "team/app", undefined, deleter);
  assert.equal(purged.status, 200);
  assert.ok(!purged.body.toString().includes("secret-"), purged.body.toString());
  assert.deepEqual(purged.json().purged.map((d: { digest: string; tags: string[] }) => [d.digest, d.tags]), [[both.digest, ["shown"]]]);
  assert.equal((await restore(app, "team/app", "secret-b")).status, 404, "forgotten too, though not shown");
});

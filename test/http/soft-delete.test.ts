// Soft delete over HTTP (docs/lifecycle.md#soft-delete): deletes kept restorable are invisible to
// clients at once, come back byte for byte through /api/v1/deleted, refuse what would undo a newer
// push or make a broken image, and are freed by gc only after their window; bad input is 400 with
// nothing changed, and only who may delete in the repository may list or restore.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { freshApp, imageManifest, OCI_INDEX, putManifest, sha256, type TestApp } from "../support/app.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { usePostgres } from "../support/postgres.ts";

const DAY = 86_400;
const JSON_TYPE = { "content-type": "application/json" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const postgres = usePostgres();

async function softApp(t: Parameters<typeof freshApp>[0], seconds = DAY, more: Record<string, unknown> = {}): Promise<TestApp> {
  return freshApp(t, { "deletion.restorableFor": seconds, ...more });
}

async function restore(app: TestApp, repository: string, body: unknown, auth?: string) {
  return app.request("POST", `/api/v1/deleted/${repository}`, { body: JSON.stringify(body), headers: JSON_TYPE, ...(auth !== undefined && { auth }) });
}

async function listed(app: TestApp, repository: string) {
  const res = await app.request("GET", `/api/v1/deleted/${repository}`);
  assert.equal(res.status, 200, res.body.toString());
  return res.json() as { restorableFor: number; deleted: { kind: string; digest: string; tags: string[]; content: string; storedAs: string | null; deletedBy: { name: string } | null; deleted: string; expires: string }[] };
}

async function tags(app: TestApp, repository: string): Promise<string[]> {
  const res = await app.request("GET", `/v2/${repository}/tags/list`);
  return res.status === 200 ? (res.json().tags ?? []) : [];
}

test("soft delete is off by default: a delete is final, the list is empty and says so, restore finds nothing (404)", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  const list = await listed(app, "team/app");
  assert.deepEqual([list.restorableFor, list.deleted], [0, []]);
  const res = await restore(app, "team/app", { reference: "v1" });
  assert.equal(res.status, 404);
  assert.equal(res.errorCode(), "DELETED_UNKNOWN");
  const gc = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: DAY, dryRun: false });
  assert.ok(gc.deleted.includes(image.layer as never), "without soft delete gc frees the layer at once, as before");
});

test("a deleted tag is 404 and gone from the tags list at once; restore brings it back byte for byte, as a push marked restored", async (t) => {
  const app = await softApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await putManifest(app, "team/app", "keep", image.body)).status, 201);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404);
  assert.deepEqual(await tags(app, "team/app"), ["keep"]);

  const [entry, ...rest] = (await listed(app, "team/app")).deleted;
  assert.deepEqual(rest, []);
  assert.deepEqual([entry!.kind, entry!.digest, entry!.tags, entry!.content, entry!.deletedBy?.name], ["tag", image.digest, ["v1"], "image", "admin"]);
  assert.ok(Date.parse(entry!.expires) - Date.parse(entry!.deleted) === DAY * 1000);

  const res = await restore(app, "team/app", { reference: "v1" });
  assert.equal(res.status, 200, res.body.toString());
  assert.deepEqual(res.json(), { repository: "team/app", digest: image.digest, tags: ["v1"] });
  const pulled = await app.request("GET", "/v2/team/app/manifests/v1");
  assert.deepEqual([pulled.status, pulled.body], [200, image.body]);
  assert.deepEqual(await tags(app, "team/app"), ["keep", "v1"]);
  assert.deepEqual((await listed(app, "team/app")).deleted, [], "restored once: nothing left to restore");
  const again = await restore(app, "team/app", { reference: "v1" });
  assert.equal(again.status, 404);

  const events = (await app.request("GET", "/api/v1/events?after=0&limit=100&repository=team/app")).json().events as { action: string; target: { tag?: string; restored?: true } }[];
  const last = events.filter((e) => e.action === "push").at(-1)!;
  assert.deepEqual([last.target.tag, last.target.restored], ["v1", true]);
  assert.ok(events.some((e) => e.action === "delete" && e.target.tag === "v1"));
});

for (const backend of ["sqlite", "postgres"] as const) {
  test(`${backend}: a manifest deleted by digest takes its tags along and brings them back; its blobs survive gc until the window ends, then go; fsck is clean throughout`, async (t) => {
    const app = await softApp(t, 3600, backend === "postgres" ? { "metadata.driver": "postgres", "metadata.postgres.url": await postgres().database() } : {});
    const { metadata, blobs } = app.berth.stores;
    const image = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
    assert.equal((await putManifest(app, "team/app", "v2", image.body)).status, 201);
    assert.equal((await app.request("DELETE", `/api/v1/repositories/team/app/manifests/${image.digest}`)).status, 200);
    assert.equal((await app.request("GET", `/v2/team/app/manifests/${image.digest}`)).status, 404);
    assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 200, "the link stays: a restore needs it");
    const [entry] = (await listed(app, "team/app")).deleted;
    assert.deepEqual([entry!.kind, entry!.tags.sort()], ["manifest", ["v1", "v2"]]);

    const now = () => new Date();
    const gcAt = (at: Date, dryRun = false) => collectGarbage(metadata, blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: DAY, dryRun, now: at });
    const within = await gcAt(now());
    // Changed on purpose (attack 17): the links only the record names go, as after a final delete
    // (the layer is 404 by digest); the files stay, and the restore links them again.
    assert.deepEqual([within.blobsDeleted, within.linksRemoved, within.deletedPurged], [0, 2, 0], "within the window no file it uses goes; its links do");
    assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 404, "unlinked by gc: not served by digest");
    assert.deepEqual((await checkIntegrity(metadata, blobs)).problems, []);

    assert.equal((await restore(app, "team/app", { reference: image.digest })).status, 200);
    assert.deepEqual((await app.request("GET", "/v2/team/app/manifests/v2")).body, image.body);
    assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).body.toString(), image.layerBytes, "linked again by the restore");
    assert.deepEqual(await tags(app, "team/app"), ["v1", "v2"]);

    // Deleted again, then past the window: a dry run only counts; a real run forgets and frees.
    assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
    const later = new Date(Date.now() + 3601 * 1000);
    const dry = await gcAt(later, true);
    assert.deepEqual([dry.deletedPurged, dry.blobsDeleted], [1, 0]);
    assert.equal((await listed(app, "team/app")).deleted.length, 1, "a dry run forgets nothing");
    const after = await gcAt(later);
    assert.equal(after.deletedPurged, 1);
    assert.ok(after.deleted.includes(image.layer as never) && after.deleted.includes(image.config as never), JSON.stringify(after));
    assert.deepEqual((await checkIntegrity(metadata, blobs)).problems, []);
    assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 404);
    assert.equal((await restore(app, "team/app", { reference: image.digest })).status, 404, "gone for good");
  });
}

test("restoring a tag pushed again since is 409 and changes nothing; with force it points back; an immutable or write-locked tag still refuses (403)", async (t) => {
  const app = await softApp(t);
  const first = await imageManifest(app, "team/app");
  const second = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", first.body)).status, 201);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  assert.equal((await putManifest(app, "team/app", "v1", second.body)).status, 201);
  const refused = await restore(app, "team/app", { reference: "v1" });
  assert.equal(refused.status, 409);
  assert.equal(refused.errorCode(), "RESTORE_CONFLICT");
  assert.match(refused.json().errors[0].message, /team\/app:v1 was pushed again after it was deleted .*--force/);
  assert.equal((await app.request("HEAD", "/v2/team/app/manifests/v1")).headers["docker-content-digest"], second.digest);
  assert.equal((await listed(app, "team/app")).deleted.length, 1, "still restorable");

  const rule = (await app.request("POST", "/api/v1/tag-rules", { body: JSON.stringify({ repository: "team/*", tags: "v*" }), headers: JSON_TYPE })).json();
  const immutable = await restore(app, "team/app", { reference: "v1", force: true });
  assert.equal(immutable.status, 403);
  assert.equal(immutable.errorCode(), "DENIED");
  assert.equal((await app.request("DELETE", `/api/v1/tag-rules/${rule.id}`)).status, 200);

  for (const query of ["", "?tag=v1"]) {
    assert.equal((await app.request("PATCH", `/api/v1/repositories/team/app/attributes${query}`, { body: JSON.stringify({ writeEnabled: false }), headers: JSON_TYPE })).status, 200);
    const locked = await restore(app, "team/app", { reference: "v1", force: true });
    assert.deepEqual([locked.status, locked.errorCode()], [403, "DENIED"]);
    // Refused before the restore begins: a restore needs push, and the lock refuses push.
    assert.match(locked.json().errors[0].message, /(is locked|cannot be restored) \(writeEnabled is false\)/);
    assert.equal((await app.request("PATCH", `/api/v1/repositories/team/app/attributes${query}`, { body: JSON.stringify({ writeEnabled: true }), headers: JSON_TYPE })).status, 200);
  }

  const forced = await restore(app, "team/app", { reference: "v1", force: true });
  assert.equal(forced.status, 200, forced.body.toString());
  assert.equal((await app.request("HEAD", "/v2/team/app/manifests/v1")).headers["docker-content-digest"], first.digest);
  assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${second.digest}`)).status, 200, "the newer manifest stays, untagged");
});

test("an index whose deleted child is not back is refused (409 naming it); restoring the child first lets it in", async (t) => {
  const app = await softApp(t);
  const child = await imageManifest(app, "team/multi");
  assert.equal((await putManifest(app, "team/multi", child.digest, child.body)).status, 201);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: child.digest, size: child.body.length, platform: { os: "linux", architecture: "amd64" } }] }));
  assert.equal((await putManifest(app, "team/multi", "latest", index, OCI_INDEX)).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/multi/manifests/${sha256(index)}`)).status, 202);
  assert.equal((await app.request("DELETE", `/v2/team/multi/manifests/${child.digest}`)).status, 202);
  const entries = (await listed(app, "team/multi")).deleted;
  assert.deepEqual(entries.map((e) => e.content), ["image", "index"], "newest first");

  const refused = await restore(app, "team/multi", { reference: "latest" });
  assert.equal(refused.status, 409);
  assert.match(refused.json().errors[0].message, new RegExp(`cannot be restored: it needs manifest ${child.digest}`));
  assert.equal((await app.request("GET", "/v2/team/multi/manifests/latest")).status, 404);
  assert.equal((await restore(app, "team/multi", { reference: child.digest })).status, 200);
  assert.equal((await restore(app, "team/multi", { reference: "latest" })).status, 200);
  assert.deepEqual((await app.request("GET", "/v2/team/multi/manifests/latest", { headers: { accept: OCI_INDEX } })).body, index);
});

test("a chart deleted through the ChartMuseum API comes back both ways: index.yaml and the OCI manifest", async (t) => {
  const app = await softApp(t);
  const tgz = await validChart({ name: "demo", version: "0.1.0", appVersion: "1.0" });
  assert.equal((await app.request("POST", "/api/repo/charts", { body: tgz })).status, 201);
  const entries = async () => (parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries: Record<string, unknown[]> }).entries;
  assert.equal((await entries()).demo?.length, 1);
  assert.equal((await app.request("DELETE", "/api/repo/charts/demo/0.1.0")).status, 200);
  assert.deepEqual(await entries(), {});
  assert.equal((await app.request("GET", "/v2/repo/demo/manifests/0.1.0")).status, 404);
  const [entry] = (await listed(app, "repo/demo")).deleted;
  assert.deepEqual([entry!.kind, entry!.content, entry!.storedAs, entry!.tags], ["manifest", "chart", "classic", ["0.1.0"]]);

  assert.equal((await restore(app, "repo/demo", { reference: "0.1.0" })).status, 200);
  assert.equal((await entries()).demo?.length, 1);
  assert.deepEqual((await app.request("GET", "/helm/v1/repo/_blobs/demo-0.1.0.tgz")).body, tgz);
  assert.equal((await app.request("GET", "/v2/repo/demo/manifests/0.1.0")).status, 200);
});

test("a whole repository deleted is restorable manifest by manifest", async (t) => {
  const app = await softApp(t);
  const a = await imageManifest(app, "team/app");
  const b = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "a", a.body)).status, 201);
  assert.equal((await putManifest(app, "team/app", "b", b.body)).status, 201);
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app")).status, 200);
  assert.deepEqual(await tags(app, "team/app"), []);
  assert.equal((await listed(app, "team/app")).deleted.length, 2);
  assert.equal((await restore(app, "team/app", { reference: "a" })).status, 200);
  assert.equal((await restore(app, "team/app", { reference: b.digest })).status, 200);
  assert.deepEqual(await tags(app, "team/app"), ["a", "b"]);
});

test("bad input is 400 and changes nothing; an unknown reference 404", async (t) => {
  const app = await softApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  const cases: [string, unknown, string][] = [
    ["team/app", {}, "INVALID_REQUEST"],
    ["team/app", { reference: "" }, "INVALID_REQUEST"],
    ["team/app", { reference: "v1", extra: true }, "INVALID_REQUEST"],
    ["team/app", { reference: "v1", force: "yes" }, "INVALID_REQUEST"],
    ["team/app", { reference: "sha256:nothex" }, "DIGEST_INVALID"],
    ["team/app", { reference: "bad tag!" }, "TAG_INVALID"],
    ["Team/App", { reference: "v1" }, "NAME_INVALID"],
  ];
  for (const [repository, body, code] of cases) {
    const res = await restore(app, repository, body);
    assert.equal(res.status, 400, `${repository} ${JSON.stringify(body)}: ${res.body}`);
    assert.equal(res.errorCode(), code);
  }
  assert.equal((await app.request("GET", "/api/v1/deleted/Team/App")).status, 400);
  const unknown = await restore(app, "team/app", { reference: "v9" });
  assert.deepEqual([unknown.status, unknown.errorCode()], [404, "DELETED_UNKNOWN"]);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404);
  assert.equal((await listed(app, "team/app")).deleted.length, 1);
});

test("listing needs delete on the repository, restoring delete and push: anonymous 401, a puller 403, a deleter scoped elsewhere 403, a deleter without push 403 to restore", async (t) => {
  const app = await softApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/v1")).status, 202);
  const user = async (name: string, roles: string[]) => (await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles }), headers: JSON_TYPE })).json().password as string;
  const puller = basic("puller", await user("puller", ["acrpull", "acrpush"]));
  const deleter = basic("deleter", await user("deleter", ["acrdelete"]));
  const restorer = basic("restorer", await user("restorer", ["acrdelete", "acrpush"]));
  for (const [auth, status] of [[null, 401], [puller, 403]] as const) {
    assert.equal((await app.request("GET", "/api/v1/deleted/team/app", { auth })).status, status);
    assert.equal((await restore(app, "team/app", { reference: "v1" }, auth as string)).status, status);
  }
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404, "nothing was restored");
  const sp = (await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: "other", role: "acrdelete", scope: "other/*" }), headers: JSON_TYPE })).json();
  assert.equal((await app.request("GET", "/api/v1/deleted/team/app", { auth: basic(sp.id, sp.secret) })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/deleted/team/app", { auth: deleter })).status, 200);
  assert.equal((await restore(app, "team/app", { reference: "v1" }, deleter)).status, 403, "a restore is a push too");
  assert.equal((await restore(app, "team/app", { reference: "v1" }, restorer)).status, 200);
});

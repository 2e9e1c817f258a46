// A delete is authorized against the attributes this process has cached; a lock set after that
// check (through this process a moment later, or through another one whose change has not arrived
// yet) must still stop it: the delete's transaction reads the locks again (issue 14). Here the
// lock is written to the database behind the cache's back, which is exactly that window.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { DEFAULT_ATTRIBUTES } from "../../src/metadata/identity-types.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, imageManifest, putManifest, type TestApp } from "../support/app.ts";

/** Sets a lock in the database only: the authorizer's cache does not know of it. */
async function lockBehindTheCache(app: TestApp, repository: string, tag: string): Promise<void> {
  await app.berth.stores.metadata.attributes.set(repository, tag, { ...DEFAULT_ATTRIBUTES, deleteEnabled: false });
}

test("DELETE manifest by digest and by tag: a tag delete-locked after the check still refuses, and nothing is deleted", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  await lockBehindTheCache(app, "team/app", "v1");

  const byDigest = await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`);
  assert.equal(byDigest.status, 403, byDigest.body.toString());
  assert.equal(byDigest.errorCode(), "DENIED");
  assert.match(byDigest.json().errors[0].message, /team\/app:v1 cannot be deleted \(deleteEnabled is false\)/);
  const byTag = await app.request("DELETE", "/v2/team/app/manifests/v1");
  assert.equal(byTag.status, 403, byTag.body.toString());
  assert.equal(byTag.errorCode(), "DENIED");

  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 200, "the tag is still there");
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${image.digest}`)).status, 200, "the manifest is still there");
  const changes = await app.berth.stores.metadata.changes.since(0, 1000);
  assert.equal(changes.filter((e) => e.change.kind === "manifest.deleted" || e.change.kind === "tag.deleted").length, 0, "no delete reached the change log");
});

test("DELETE manifest: a repository delete-locked after the check refuses a tag delete; an unlocked tag elsewhere still deletes", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  const other = await imageManifest(app, "team/other");
  assert.equal((await putManifest(app, "team/other", "v1", other.body)).status, 201);
  await lockBehindTheCache(app, "team/app", "");

  const refused = await app.request("DELETE", "/v2/team/app/manifests/v1");
  assert.equal(refused.status, 403, refused.body.toString());
  assert.match(refused.json().errors[0].message, /^team\/app cannot be deleted/);
  assert.equal((await app.request("DELETE", "/v2/team/other/manifests/v1")).status, 202);
});

test("DELETE a classic chart version: a version delete-locked after the check still refuses; index.yaml keeps it", async (t) => {
  const app = await freshApp(t);
  const push = await app.request("PUT", "/helm/v1/repo/_blobs/demo-0.1.0.tgz", { body: await validChart({ name: "demo", version: "0.1.0" }), headers: { "content-type": "application/octet-stream" } });
  assert.equal(push.status, 201, push.body.toString());
  await lockBehindTheCache(app, "repo/demo", "0.1.0");

  const refused = await app.request("DELETE", "/helm/v1/repo/_blobs/demo-0.1.0.tgz");
  assert.equal(refused.status, 403, refused.body.toString());
  const index = parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries: Record<string, { version: string }[]> };
  assert.deepEqual(index.entries.demo?.map((v) => v.version), ["0.1.0"]);
});

test("DELETE /api/v1/repositories/<name>: a tag or the repository delete-locked after the check refuses the whole delete, and nothing is deleted", async (t) => {
  const app = await freshApp(t);
  const one = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", one.body)).status, 201);
  const two = await imageManifest(app, "team/app", { label: "two" });
  assert.equal((await putManifest(app, "team/app", "v2", two.body)).status, 201);

  await lockBehindTheCache(app, "team/app", "v2");
  const byTag = await app.request("DELETE", "/api/v1/repositories/team/app");
  assert.equal(byTag.status, 403, byTag.body.toString());
  assert.match(byTag.json().errors[0].message, /team\/app:v2 cannot be deleted \(deleteEnabled is false\)/);
  await app.berth.stores.metadata.attributes.set("team/app", "v2", DEFAULT_ATTRIBUTES);
  await lockBehindTheCache(app, "team/app", "");
  const byRepository = await app.request("DELETE", "/api/v1/repositories/team/app");
  assert.equal(byRepository.status, 403, byRepository.body.toString());
  assert.match(byRepository.json().errors[0].message, /^team\/app cannot be deleted/);

  for (const reference of ["v1", "v2", one.digest, two.digest]) assert.equal((await app.request("GET", `/v2/team/app/manifests/${reference}`)).status, 200, `${reference} is still there`);
  const changes = await app.berth.stores.metadata.changes.since(0, 1000);
  assert.equal(changes.filter((e) => e.change.kind === "manifest.deleted" || e.change.kind === "tag.deleted").length, 0, "no delete reached the change log");

  // A lock on a tag that is no longer there stops nothing; unlocked, the repository goes.
  await app.berth.stores.metadata.attributes.set("team/app", "", DEFAULT_ATTRIBUTES);
  await lockBehindTheCache(app, "team/app", "gone");
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app")).status, 200);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404);
});

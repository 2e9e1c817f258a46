import assert from "node:assert/strict";
import { appendFile, readdir, writeFile, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { blobKey } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";
import type { RepositoryName } from "../../src/domain/names.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256, type TestApp } from "../support/app.ts";

function gc(app: TestApp, options: { grace?: number; dryRun?: boolean } = {}) {
  return collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { gracePeriodSeconds: options.grace ?? 0, uploadExpirySeconds: 86_400, dryRun: options.dryRun ?? false, now: new Date(Date.now() + 1000) });
}

function fsck(app: TestApp) {
  return checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs);
}

test("gc keeps every blob a manifest references and deletes the rest", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  const loose = await pushBlob(app, "team/app", "nobody references me");
  const report = await gc(app);
  assert.deepEqual(report.deleted, [loose]);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${loose}`)).status, 404);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 200);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.config}`)).status, 200);
  assert.deepEqual((await fsck(app)).problems, []);
});

test("gc --dry-run reports and deletes nothing; the grace period protects young blobs", async (t) => {
  const app = await freshApp(t);
  const loose = await pushBlob(app, "team/app", "young and unreferenced");
  const dry = await gc(app, { dryRun: true });
  assert.deepEqual(dry.deleted, [loose]);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${loose}`)).status, 200);
  const graced = await gc(app, { grace: 3600 });
  assert.equal(graced.blobsDeleted, 0);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${loose}`)).status, 200);
});

test("gc frees the layers of a deleted image, but not layers another repository still uses", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/a");
  await putManifest(app, "team/a", "v1", image.body);
  assert.equal((await app.request("POST", `/v2/team/b/blobs/uploads/?mount=${image.layer}&from=team/a`)).status, 201);
  const configB = await pushBlob(app, "team/b", "another config");
  const json = JSON.parse(image.body.toString());
  json.config = { ...json.config, digest: configB, size: 14 };
  assert.equal((await putManifest(app, "team/b", "v1", Buffer.from(JSON.stringify(json)))).status, 201);
  assert.equal((await app.request("DELETE", `/v2/team/a/manifests/${image.digest}`)).status, 202);
  const report = await gc(app);
  assert.deepEqual(report.deleted, [image.config]);
  assert.equal((await app.request("GET", `/v2/team/b/blobs/${image.layer}`)).status, 200);
  assert.equal((await app.request("GET", `/v2/team/a/blobs/${image.layer}`)).status, 404, "team/a's unused link is gone");
  assert.deepEqual((await fsck(app)).problems, []);
});

test("fsck finds a corrupted blob, a missing blob, and says nothing on a clean store", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  assert.deepEqual((await fsck(app)).problems, []);
  await appendFile(join(app.dataDir, blobKey(image.layer as Digest)), "bit rot");
  const corrupt = await fsck(app);
  assert.deepEqual(
    corrupt.problems.map((p) => p.kind).sort(),
    ["blob-corrupt", "blob-size", "image-broken"],
  );
  const { unlink } = await import("node:fs/promises");
  await unlink(join(app.dataDir, blobKey(image.config as Digest)));
  assert.ok((await fsck(app)).problems.some((p) => p.kind === "blob-missing" && p.subject === image.config));
});

test("gc removes orphaned files left by a crash, and expired uploads", async (t) => {
  const app = await freshApp(t);
  // A file published whose metadata never committed, and a temporary file of a dead request.
  const orphan = sha256("orphan");
  await mkdir(join(app.dataDir, "blobs/sha256", orphan.slice(7, 9)), { recursive: true });
  await writeFile(join(app.dataDir, blobKey(orphan as Digest)), "orphan");
  await mkdir(join(app.dataDir, "uploads"), { recursive: true });
  await writeFile(join(app.dataDir, "uploads/put-dead"), "partial");
  const location = String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
  // By rows, not file times: the first run records the two files no row names (and purges the
  // idle upload by its row); a later run that finds them unchanged past the grace period deletes them.
  const options = { gracePeriodSeconds: 0, uploadExpirySeconds: 0, dryRun: false };
  const first = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { ...options, now: new Date(Date.now() + 2000) });
  assert.deepEqual([first.orphanFilesDeleted, first.orphanFilesWaiting, first.uploadsPurged], [0, 2, 1]);
  const dry = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { ...options, dryRun: true, now: new Date(Date.now() + 3000) });
  assert.deepEqual([dry.orphanFilesDeleted, dry.orphanFilesWaiting], [2, 0], "a dry run counts what a run would delete now");
  const report = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { ...options, now: new Date(Date.now() + 3000) });
  assert.equal(report.orphanFilesDeleted, 2);
  assert.equal(report.uploadsPurged, 0, "purged by the first run");
  assert.equal((await app.request("GET", location)).status, 404);
  assert.deepEqual(await readdir(join(app.dataDir, "uploads")), []);
});

/** The image-broken problems fsck reports, as "subject: detail". */
async function brokenImages(app: TestApp): Promise<string[]> {
  return (await fsck(app)).problems.filter((p) => p.kind === "image-broken").map((p) => `${p.subject}: ${p.detail}`);
}

test("fsck names an image whose layer was deleted from its repository, and pushing the layer again repairs it", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${image.layer}`)).status, 202);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 404, "the image cannot be pulled");
  const broken = await brokenImages(app);
  assert.equal(broken.length, 1, broken.join("\n"));
  assert.match(broken[0]!, new RegExp(`^team/app@${image.digest} \\(v1\\): .*${image.layer}.*not linked`));
  await pushBlob(app, "team/app", image.layerBytes);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${image.layer}`)).status, 200);
  assert.deepEqual((await fsck(app)).problems, []);
});

test("fsck names an image whose layer file is gone or corrupt, and pushing the layer again repairs it", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  await putManifest(app, "team/app", "latest", image.body);
  const file = join(app.dataDir, blobKey(image.layer as Digest));
  for (const damage of [() => unlink(file), () => writeFile(file, "x".repeat(image.layerBytes.length))]) {
    await damage();
    const broken = await brokenImages(app);
    assert.equal(broken.length, 1, broken.join("\n"));
    assert.match(broken[0]!, new RegExp(`^team/app@${image.digest} \\(latest, v1\\): .*${image.layer}`));
    await pushBlob(app, "team/app", image.layerBytes);
    assert.deepEqual((await fsck(app)).problems, []);
  }
});

test("fsck names an index whose child manifest was deleted", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", image.digest, image.body);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length }] }));
  assert.equal((await putManifest(app, "team/app", "multi", index, OCI_INDEX)).status, 201);
  assert.deepEqual((await fsck(app)).problems, []);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  const broken = await brokenImages(app);
  assert.equal(broken.length, 1, broken.join("\n"));
  assert.match(broken[0]!, new RegExp(`^team/app@${sha256(index)} \\(multi\\): .*${image.digest}`));
  assert.equal((await putManifest(app, "team/app", image.digest, image.body)).status, 201);
  assert.deepEqual((await fsck(app)).problems, []);
});

test("fsck names a tag whose manifest is not stored (a dangling tag), and pushing the manifest again repairs it", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.deepEqual((await fsck(app)).problems, []);
  // What a delete racing a push once left on PostgreSQL: the manifest's rows gone, its tag not.
  await app.berth.stores.metadata.manifests.delete("team/app" as RepositoryName, image.digest as Digest);
  const { problems } = await fsck(app);
  assert.deepEqual(problems.map((p) => [p.kind, p.subject]), [["tag-dangling", "team/app:v1"]]);
  assert.match(problems[0]!.detail, new RegExp(image.digest));
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201);
  assert.deepEqual((await fsck(app)).problems, []);
});

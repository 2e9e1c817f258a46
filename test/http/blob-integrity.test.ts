// A blob's bytes under its digest are exactly the bytes of that digest, whatever happened before:
// a file already at the digest's path is never trusted by name (a push replaces it), an upload
// file is never written again once it may be the published blob, and a closing PUT retried
// after a crash answers 201 when the upload already holds what that PUT would have completed.
// The crash is played in-process: publish() completes, then the process "dies" before the
// metadata commits (the transaction throws, and nothing cleans up, as after kill -9).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { blobKey, type BlobStore, type StagedBlob } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { freshApp, pushBlob, sha256, type TestApp } from "../support/app.ts";

const octets = { "content-type": "application/octet-stream" };

/** Runs `work` with publish() dying at `when` relative to the file becoming visible, and no cleanup. */
async function crashingPublish(app: TestApp, when: "before" | "after", work: () => Promise<void>): Promise<void> {
  const blobs: BlobStore = app.berth.stores.blobs;
  const publish = blobs.publish.bind(blobs);
  const discard = blobs.discard.bind(blobs);
  blobs.publish = async (staged: StagedBlob) => {
    if (when === "after") await publish(staged);
    throw new Error("killed");
  };
  blobs.discard = async () => {};
  try {
    await work();
  } finally {
    blobs.publish = publish;
    blobs.discard = discard;
  }
}

/** A chunked upload holding all of `data` but its last `tail` bytes; returns its location. */
async function uploadAllBut(app: TestApp, repo: string, data: Buffer, tail: number): Promise<string> {
  const location = String((await app.request("POST", `/v2/${repo}/blobs/uploads/`)).headers.location);
  const patch = await app.request("PATCH", location, { body: data.subarray(0, data.length - tail), headers: { ...octets, "content-range": `0-${data.length - tail - 1}` } });
  assert.equal(patch.status, 202);
  return location;
}

function closingPut(app: TestApp, location: string, data: Buffer, tail: number, withRange: boolean) {
  const headers: Record<string, string> = { ...octets };
  if (withRange) headers["content-range"] = `${data.length - tail}-${data.length - 1}`;
  return app.request("PUT", `${location}?digest=${sha256(data)}`, { body: data.subarray(data.length - tail), headers });
}

/** What a client does on a lost answer: retry the same PUT; if that fails, push the whole blob again. */
async function retryThenStartOver(app: TestApp, repo: string, location: string, data: Buffer, tail: number, withRange: boolean): Promise<number> {
  const retry = await closingPut(app, location, data, tail, withRange);
  if (retry.status !== 201) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: octets })).status, 201);
  return retry.status;
}

async function assertReadsBack(app: TestApp, repo: string, data: Buffer): Promise<void> {
  const got = await app.request("GET", `/v2/${repo}/blobs/${sha256(data)}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.length, data.length, `GET returns ${got.body.length} bytes, pushed ${data.length}`);
  assert.equal(sha256(got.body), sha256(data), "GET returns bytes that do not hash to the digest asked for");
  assert.deepEqual((await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems, []);
}

for (const withRange of [false, true]) {
  const how = withRange ? "with Content-Range" : "without Content-Range";
  test(`PUT closing an upload ${how}, retried after a crash between publishing and committing: 201, the blob reads back`, async (t) => {
    const app = await freshApp(t);
    const data = randomBytes(300_000);
    const location = await uploadAllBut(app, "team/app", data, 100_000);
    await crashingPublish(app, "after", async () => {
      assert.equal((await closingPut(app, location, data, 100_000, withRange)).status, 500);
    });
    assert.equal((await app.request("GET", location)).headers.range, `0-${data.length - 1}`, "the upload holds the last chunk");
    assert.equal(await retryThenStartOver(app, "team/app", location, data, 100_000, withRange), 201, "the retried PUT");
    await assertReadsBack(app, "team/app", data);
    assert.equal((await app.request("GET", location)).status, 404, "a finished upload is gone");
  });

  test(`PUT closing an upload ${how}, retried after a crash before publishing: 201, the blob reads back`, async (t) => {
    const app = await freshApp(t);
    const data = randomBytes(300_000);
    const location = await uploadAllBut(app, "team/app", data, 1000);
    await crashingPublish(app, "before", async () => {
      assert.equal((await closingPut(app, location, data, 1000, withRange)).status, 500);
    });
    assert.equal(await retryThenStartOver(app, "team/app", location, data, 1000, withRange), 201, "the retried PUT");
    await assertReadsBack(app, "team/app", data);
  });
}

test("PUT without a body, retried after a crash between publishing and committing: 201", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(50_000);
  const location = await uploadAllBut(app, "team/app", data, 0);
  await crashingPublish(app, "after", async () => {
    assert.equal((await app.request("PUT", `${location}?digest=${sha256(data)}`)).status, 500);
  });
  assert.equal((await app.request("PUT", `${location}?digest=${sha256(data)}`)).status, 201);
  await assertReadsBack(app, "team/app", data);
});

test("a retried closing PUT whose last chunk differs from the one held: 400 DIGEST_INVALID, nothing published", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(20_000);
  const location = await uploadAllBut(app, "team/app", data, 5000);
  await crashingPublish(app, "before", async () => {
    assert.equal((await closingPut(app, location, data, 5000, false)).status, 500);
  });
  const other = Buffer.from(data);
  other[other.length - 1]! ^= 0xff;
  const res = await app.request("PUT", `${location}?digest=${sha256(data)}`, { body: other.subarray(15_000), headers: octets });
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "DIGEST_INVALID");
  assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${sha256(data)}`)).status, 404);
});

/** Puts `bytes` at the path of `digest`, as a crash or an older version may have left them. */
async function plant(app: TestApp, digest: string, bytes: Buffer): Promise<string> {
  const path = join(app.dataDir, blobKey(digest as Digest));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return path;
}

for (const [name, wrong] of [
  ["longer", (d: Buffer) => Buffer.concat([d, Buffer.from("tail")])],
  ["shorter", (d: Buffer) => d.subarray(0, d.length - 7)],
  ["as long, other bytes", (d: Buffer) => Buffer.from(d).fill(7, 100, 200)],
] as const) {
  test(`a file at the digest's path holding other bytes (${name}) is replaced by a monolithic push`, async (t) => {
    const app = await freshApp(t);
    const data = randomBytes(40_000);
    await plant(app, sha256(data), wrong(data));
    await pushBlob(app, "team/app", data);
    await assertReadsBack(app, "team/app", data);
  });
}

test("a file at the digest's path holding other bytes is replaced by a chunked push", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(40_000);
  await plant(app, sha256(data), Buffer.concat([data, data]));
  const location = await uploadAllBut(app, "team/app", data, 10);
  assert.equal((await closingPut(app, location, data, 10, true)).status, 201);
  await assertReadsBack(app, "team/app", data);
});

test("a blob fsck calls corrupt is repaired by pushing it again", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(40_000);
  const digest = await pushBlob(app, "team/app", data);
  const path = join(app.dataDir, blobKey(digest as Digest));
  await writeFile(path, Buffer.from(data).fill(0, 0, 10));
  const report = await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs);
  assert.deepEqual(report.problems.map((p) => p.kind), ["blob-corrupt"]);
  await pushBlob(app, "team/app", data);
  await assertReadsBack(app, "team/app", data);
  assert.ok((await readFile(path)).equals(data));
});

/** A finished upload as an older Berth left it after a crash: its file hard-linked as the blob, uncommitted. */
async function linkedLikeOlderBerth(app: TestApp, data: Buffer): Promise<{ location: string; blobPath: string }> {
  const location = await uploadAllBut(app, "team/app", data, 0);
  const blobPath = join(app.dataDir, blobKey(sha256(data) as Digest));
  await mkdir(dirname(blobPath), { recursive: true });
  await link(join(app.dataDir, "uploads", location.split("/").at(-1)!), blobPath);
  return { location, blobPath };
}

test("an upload file that shares its inode with a published blob (left by an older Berth) is never appended to", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(30_000);
  const { location, blobPath } = await linkedLikeOlderBerth(app, data);
  const more = await app.request("PATCH", location, { body: "more", headers: octets });
  assert.equal(more.status, 404, "PATCH on an upload whose file is a published blob's");
  assert.equal(more.errorCode(), "BLOB_UPLOAD_UNKNOWN");
  assert.equal((await stat(blobPath)).size, data.length, "the published file grew");
  assert.equal((await app.request("GET", location)).status, 404, "the upload is unknown to GET too");
  await pushBlob(app, "team/app", data);
  await assertReadsBack(app, "team/app", data);
});

test("a closing PUT retried on an upload an older Berth left hard-linked as the blob: 201", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(30_000);
  const { location, blobPath } = await linkedLikeOlderBerth(app, data);
  // Berth was upgraded, so restarted: the running hashes of this process's uploads are gone.
  (app.berth.stores.blobs as unknown as { hashes: Map<string, unknown> }).hashes.clear();
  assert.equal((await app.request("PUT", `${location}?digest=${sha256(data)}`)).status, 201);
  assert.equal((await stat(blobPath)).nlink, 1, "the upload's name is gone");
  await assertReadsBack(app, "team/app", data);
});

test("mount does not link a blob whose file's size differs from the recorded one: 202, a plain upload", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(10_000);
  const digest = await pushBlob(app, "team/a", data);
  await writeFile(join(app.dataDir, blobKey(digest as Digest)), data.subarray(1));
  const mount = await app.request("POST", `/v2/team/b/blobs/uploads/?mount=${digest}&from=team/a`);
  assert.equal(mount.status, 202);
  assert.equal((await app.request("HEAD", `/v2/team/b/blobs/${digest}`)).status, 404);
  await pushBlob(app, "team/b", data);
  await assertReadsBack(app, "team/b", data);
});

test("a retried closing PUT does not take a file at the digest's path that holds other bytes of the same length", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(50_000);
  const location = await uploadAllBut(app, "team/app", data, 2000);
  await crashingPublish(app, "after", async () => {
    assert.equal((await closingPut(app, location, data, 2000, false)).status, 500);
  });
  const path = join(app.dataDir, blobKey(sha256(data) as Digest));
  await writeFile(path, Buffer.from(data).fill(1, 0, 100));
  const retry = await closingPut(app, location, data, 2000, false);
  assert.equal(retry.status, 404, "the upload's bytes are gone: only a file that does not hash to the digest is left");
  assert.equal(retry.errorCode(), "BLOB_UPLOAD_UNKNOWN");
  assert.equal((await app.request("GET", location)).status, 404, "an upload that cannot continue is unknown to GET too");
  assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${sha256(data)}`)).status, 404);
  await pushBlob(app, "team/app", data);
  await assertReadsBack(app, "team/app", data);
});

test("a closing PUT retried after gc removed the file its crashed first try published: 404 BLOB_UPLOAD_UNKNOWN everywhere, then a push works", async (t) => {
  const app = await freshApp(t);
  const data = randomBytes(20_000);
  const location = await uploadAllBut(app, "team/app", data, 500);
  await crashingPublish(app, "after", async () => {
    assert.equal((await closingPut(app, location, data, 500, false)).status, 500);
  });
  // gc decides by rows: a file without one is recorded by a first run and deleted by a later run
  // that finds it unchanged after the grace period (services/gc.ts).
  const options = { gracePeriodSeconds: 0, uploadExpirySeconds: 86_400, dryRun: false };
  const first = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { ...options, now: new Date(Date.now() + 1000) });
  assert.deepEqual([first.orphanFilesDeleted, first.orphanFilesWaiting], [0, 1], "the published file without a row, seen");
  const gc = await collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { ...options, now: new Date(Date.now() + 2000) });
  assert.equal(gc.orphanFilesDeleted, 1, "the published file without a row");
  const retry = await closingPut(app, location, data, 500, false);
  assert.equal(retry.status, 404);
  assert.equal(retry.errorCode(), "BLOB_UPLOAD_UNKNOWN");
  assert.equal((await app.request("GET", location)).status, 404);
  await pushBlob(app, "team/app", data);
  await assertReadsBack(app, "team/app", data);
});

// kill -9 at the exact steps where an object store and PostgreSQL disagree, on S3 and Azure:
// a proxy between Berth and the store holds one request back, and the instance (or `berth gc`)
// is killed while it waits.
// - a chunked upload's publish, in place (54a7fc3): the parts' commit makes registry/uploads/<id>,
//   which is the blob once the metadata transaction records the row naming it (and deletes the
//   upload's row); inside it one HEAD checks the object is still the one verified. Killed with the
//   commit done (its answer lost) or at that HEAD, nothing is committed: the same PUT retried on
//   the other instance gets 201 and the blob reads back. Killed after the commit (at the delete
//   of a surplus upload's object: its digest was pushed before), or with the 201 lost, the retry
//   is 404 BLOB_UPLOAD_UNKNOWN and HEAD of the blob 200.
// - a monolithic publish (POST, then one PUT with the whole blob): on S3 written at the digest's
//   key and held at the write that makes it visible, on Azure at the copy of its put-<uuid> key to
//   the digest's key; the transaction never commits. The retry on the other instance: 201.
// - a chunk: one part (S3's UploadPart), tail segment (S3) or staged block (Azure) of a PATCH is
//   held, before or after the store took it. The PATCH retried on the other instance continues
//   the upload or answers 404 BLOB_UPLOAD_UNKNOWN (uploads do not move between instances yet,
//   docs/storage.md "Limits"), never anything else; the blob started over reads back.
// - gc: the blob's object is deleted in the store and the transaction that forgets its row never
//   commits. The blob pushed again reads back, and fsck stays clean.
// After each: `berth fsck` is clean, two gc runs (uploads expire after 2 s) leave nothing under
// uploads/ that no blob row names (upload objects, multipart uploads, tail segments, staged
// blocks), and fsck is clean after them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { test, type TestContext } from "node:test";
import { berthBin } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciError, sha256, type Upload } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { chunkWrite, partsCommit, publishCopy, uploadCheck, uploadDelete } from "../support/store-requests.ts";
import { leftAfterTwoGcRuns, crashCluster as sharedCrashCluster } from "../support/publish-attack.ts";

const MiB = 1024 * 1024;

/** A DELETE of an object under registry/<folder>/ (not a multipart abort, not a tail segment). */
function deleteOf(folder: "uploads" | "blobs") {
  return (request: IncomingMessage) => {
    const url = new URL(request.url ?? "/", "http://store");
    // The S3 SDK names the operation in the query (x-id=DeleteObject); an abort names the uploadId.
    return request.method === "DELETE" && !url.searchParams.has("uploadId") && url.pathname.includes(`/registry/${folder}/`);
  };
}

/**
 * S3's last write of a push in one request: the blob is written at the digest's key, hidden until
 * verified (fast-paths.ts HiddenWrites), and made visible by one PutObject (a blob under one part)
 * or CompleteMultipartUpload (a POST naming the uploadId). There is no upload object to delete.
 */
function hiddenPublishOf(request: IncomingMessage): boolean {
  const url = new URL(request.url ?? "/", "http://store");
  if (!url.pathname.includes("/registry/blobs/")) return false;
  return (request.method === "PUT" && !url.searchParams.has("partNumber")) || (request.method === "POST" && url.searchParams.has("uploadId"));
}

async function settled(promise: Promise<unknown>): Promise<void> {
  await promise.then(() => undefined, () => undefined);
}

/** Two instances through a stalling proxy; the first is the one killed. */
async function crashCluster(t: TestContext, kind: "s3" | "azure") {
  const { cluster, proxy, victim, a, b, on } = await sharedCrashCluster(t, kind, 60_000);
  const onB = (upload: Upload): Upload => on(b, upload);
  return { cluster, proxy, victim, a, b, onB };
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  // The parts' commit and the transaction's HEAD come before anything is committed: the upload is
  // still open and the same PUT retried on the other instance (which commits again, finds the
  // object made and reads it back) gets 201. The delete of a surplus upload's object comes after
  // the commit: the blob is there and the upload is not, so the retry is 404 BLOB_UPLOAD_UNKNOWN,
  // as distribution answers an upload already closed, and the client finds the blob (HEAD) when
  // it starts over. (Found on Azure before, with the publish copy: a retry after the copy and
  // delete answered 404 with the blob not yet committed.)
  test(`kill -9 on ${kind} + PostgreSQL at a chunked upload's in-place publish (the parts' commit done, the in-transaction check) and after its commit: the same PUT retried on the other instance gets 201 (or, once committed, 404 with the blob there), fsck clean, nothing left`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const { cluster, proxy, victim, a, b, onB } = await crashCluster(t, kind);
    const steps = [
      { name: "the parts' commit done, its answer lost", match: () => partsCommit, done: true, committed: false, surplus: false },
      { name: "the in-transaction HEAD of the upload's object", match: () => uploadCheck(), done: false, committed: false, surplus: false },
      { name: "the in-transaction HEAD, answered by the store", match: () => uploadCheck(), done: true, committed: false, surplus: false },
      { name: "the surplus upload's delete after the commit", match: () => uploadDelete, done: false, committed: true, surplus: true },
      { name: "the surplus upload's delete done, its answer lost", match: () => uploadDelete, done: true, committed: true, surplus: true },
    ] as const;
    for (const step of steps) {
      // 7 MiB in 1 MiB chunks (a part and a tail on S3), then the closing PUT.
      const chunked = randomBytes(7 * MiB + 1);
      // Pushed before in chunks to another repository: this upload's object is surplus.
      if (step.surplus) assert.equal(await b.pushBlob("crash/before", chunked, { mode: "chunked", chunkSize: 2 * MiB }), sha256(chunked));
      let upload = await a.startUpload("crash/publish");
      for (let at = 0; at < chunked.length; at += MiB) upload = await a.patchChunk(upload, chunked.subarray(at, at + MiB));
      const held = proxy.holdNext(step.match(), { done: step.done });
      const put = settled(a.finishUpload(upload, sha256(chunked)));
      t.diagnostic(`${step.name}, held: ${await held}`);
      await victim.kill();
      await put;
      if (!step.committed) await b.finishUpload(onB(upload), sha256(chunked));
      else {
        await assert.rejects(b.finishUpload(onB(upload), sha256(chunked)), (err: { status?: number; codes?: string[] }) => err.status === 404 && err.codes?.[0] === "BLOB_UPLOAD_UNKNOWN");
        assert.equal((await b.headBlob("crash/publish", sha256(chunked)))?.size, chunked.length, "HEAD of the blob committed before the kill");
      }
      assert.ok((await b.getBlob("crash/publish", sha256(chunked))).equals(chunked));
      await victim.restart();
      assert.ok((await a.getBlob("crash/publish", sha256(chunked))).equals(chunked));
      const fsck = await cluster.cli(["fsck"]);
      assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    }
    // Nothing happens in the store after the commit of an upload that is not surplus: the window
    // after it is the 201 lost on its way. The same PUT sent again: 404, the blob there.
    const answered = randomBytes(6 * MiB + 3);
    let upload = await a.startUpload("crash/publish");
    for (let at = 0; at < answered.length; at += MiB) upload = await a.patchChunk(upload, answered.subarray(at, at + MiB));
    await a.finishUpload(upload, sha256(answered));
    await assert.rejects(b.finishUpload(onB(upload), sha256(answered)), (err: { status?: number; codes?: string[] }) => err.status === 404 && err.codes?.[0] === "BLOB_UPLOAD_UNKNOWN");
    assert.equal((await b.headBlob("crash/publish", sha256(answered)))?.size, answered.length);
    assert.deepEqual(await leftAfterTwoGcRuns(cluster), [], "left under uploads/ after two gc runs");
  });

  test(`kill -9 on ${kind} + PostgreSQL between a monolithic push's publish and the commit, and between gc's delete and its commit: the retry gets 201, the blob pushed again reads back, fsck clean, nothing left`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const { cluster, proxy, victim, a, b, onB } = await crashCluster(t, kind);
    for (const done of [false, true]) {
      // POST, then the whole blob in one PUT (above one 16 MiB part when done: a multipart upload).
      const whole = randomBytes(done ? 17 * MiB : 300_000);
      const started = await a.startUpload("crash/publish");
      const held = proxy.holdNext(kind === "s3" ? hiddenPublishOf : publishCopy, { done });
      const put = settled(a.finishUpload({ ...started, offset: 0 }, sha256(whole), whole));
      t.diagnostic(`held: ${await held}`);
      await victim.kill();
      await put;
      await b.finishUpload(onB({ ...started, offset: 0 }), sha256(whole), whole);
      assert.ok((await b.getBlob("crash/publish", sha256(whole))).equals(whole));
      await victim.restart();
      assert.ok((await a.getBlob("crash/publish", sha256(whole))).equals(whole));
    }

    // gc: an image deleted, its blobs swept; gc killed with one blob's object deleted in the store
    // and its row not yet forgotten.
    const layer = randomLayer(2 * MiB);
    const image = buildImage([layer], "gc-crash");
    await pushImage(b, "crash/gc", "v1", image);
    assert.equal(await b.deleteManifest("crash/gc", image.digest), 202);
    const heldSweep = proxy.holdNext(deleteOf("blobs"), { done: true });
    const gc = spawn(process.execPath, [berthBin, "gc", "--grace-period", "0", "--data", victim.dataDir], { env: { ...process.env, BERTH_ADMIN_PASSWORD: victim.password, ...cluster.env }, stdio: "ignore" });
    const gcExit = new Promise<void>((ok) => gc.once("close", () => ok()));
    t.diagnostic(`gc, held: ${await heldSweep}`);
    gc.kill("SIGKILL");
    await gcExit;
    await pushImage(a, "crash/gc", "v2", image);
    for (const client of [a, b]) assert.ok((await client.getBlob("crash/gc", layer.digest)).equals(layer.data));
    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);

    assert.deepEqual(await leftAfterTwoGcRuns(cluster), [], "left under uploads/ after two gc runs");
    for (const blob of [layer, image.config]) assert.ok((await b.getBlob("crash/gc", blob.digest)).equals(blob.data), "gc kept the image pushed again");
    const after = await cluster.cli(["fsck"]);
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });

  test(`kill -9 on ${kind} + PostgreSQL while a PATCH writes a part, tail segment or block: the PATCH retried on the other instance continues or answers 404 BLOB_UPLOAD_UNKNOWN, the blob started over reads back, nothing left`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const { cluster, proxy, victim, a, b, onB } = await crashCluster(t, kind);
    for (const [done, chunk] of [[false, MiB], [true, 6 * MiB]] as const) { // a tail segment held before the store took it, a part after
      const data = randomBytes(13 * MiB + 3);
      let upload = await a.startUpload("crash/chunk");
      upload = await a.patchChunk(upload, data.subarray(0, MiB));
      const held = proxy.holdNext(chunkWrite, { done });
      const patch = settled(a.patchChunk(upload, data.subarray(MiB, MiB + chunk)));
      t.diagnostic(`held: ${await held}`);
      await victim.kill();
      await patch;
      let moved: Upload | null = onB(upload);
      try {
        for (let at = MiB; at < data.length; at += chunk) moved = await b.patchChunk(moved, data.subarray(at, at + chunk));
        await b.finishUpload(moved, sha256(data));
      } catch (err) {
        assert.ok(err instanceof OciError && err.status === 404 && err.codes.includes("BLOB_UPLOAD_UNKNOWN"), String(err));
        moved = null;
        assert.equal(await b.headBlob("crash/chunk", sha256(data)), null, "no blob from a refused upload");
        assert.equal(await b.pushBlob("crash/chunk", data, { mode: "chunked", chunkSize: chunk }), sha256(data));
      }
      t.diagnostic(moved ? "the upload went on at the other instance" : "refused at the other instance; started over");
      assert.ok((await b.getBlob("crash/chunk", sha256(data))).equals(data));
      await victim.restart();
    }
    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    assert.deepEqual(await leftAfterTwoGcRuns(cluster), [], "left under uploads/ after two gc runs");
  });
}

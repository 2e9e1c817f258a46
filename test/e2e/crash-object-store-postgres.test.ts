// kill -9 of an instance on S3 or Azure + PostgreSQL while it takes pushes of every kind
// (monolithic pushes above one part, 1 MiB chunks that go to tails and parts, manifests), and
// of `berth gc` mid-sweep, at moments drawn at random, round after round. After each kill the
// client does what clients do: it retries the request that failed on the other instance (a
// monolithic PUT and a manifest PUT may go on there; a chunk may not, for now: 404
// BLOB_UPLOAD_UNKNOWN, docs/storage.md "Limits"), and otherwise starts the blob over there.
// Then: every blob that got 201 reads back with its digest from both instances (checked before
// gc, which may take blobs no manifest uses), every manifest that got 201 and was kept pulls whole, `berth fsck` is clean, and two gc runs (uploads expire after 2 s)
// leave no upload object, multipart upload, tail segment or staged block in the store.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { berthBin } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, OciError, sha256, type Upload } from "../support/oci-client.ts";
import { assertImagePulls, buildImage, randomLayer, type TestImage } from "../support/oci-images.ts";
import { startStoreCluster, type StoreCluster } from "../support/store-cluster.ts";

const MiB = 1024 * 1024;

/** An answer a request cut by a kill may get from the surviving instance: anything but these fails the test. */
function expectedRefusal(err: unknown): boolean {
  if (!(err instanceof OciError)) return false;
  // The upload's running digest died with its instance (404), or the dead request was recorded after all and the retry starts at the wrong offset (416).
  return (err.status === 404 && err.codes.includes("BLOB_UPLOAD_UNKNOWN")) || err.status === 416;
}

/** A failure of the request itself (connection reset by the kill, or a 502-like transport error). */
function cutByKill(err: unknown): boolean {
  return !(err instanceof OciError) || err.status >= 500;
}

/** The same upload URL on the other instance (the Location path is the same everywhere). */
function on(client: OciClient, upload: Upload): Upload {
  const url = new URL(upload.location);
  return { ...upload, location: client.url(url.pathname + url.search) };
}

interface Outcome {
  /** Blobs that got 201 (first try, retry or start over), by repository. */
  blobs: { repo: string; data: Buffer }[];
  images: { repo: string; tag: string; image: TestImage }[];
  retried: number;
  restarted: number;
}

/** A chunked push on `a`; after a kill, the failed chunk (or PUT) retried on `b`, else the blob started over on `b`. */
async function chunked(a: OciClient, b: OciClient, repo: string, data: Buffer, outcome: Outcome): Promise<void> {
  let upload: Upload | null = null;
  let failed: unknown = null;
  try {
    upload = await a.startUpload(repo);
    for (let at = 0; at < data.length; at += MiB) upload = await a.patchChunk(upload, data.subarray(at, at + MiB));
    await a.finishUpload(upload, sha256(data));
    outcome.blobs.push({ repo, data });
    return;
  } catch (err) {
    if (!cutByKill(err)) throw err;
    failed = err;
  }
  if (upload !== null) {
    outcome.retried++;
    try {
      let moved = on(b, upload);
      for (let at = moved.offset; at < data.length; at += MiB) moved = await b.patchChunk(moved, data.subarray(at, at + MiB));
      await b.finishUpload(moved, sha256(data));
      outcome.blobs.push({ repo, data });
      return;
    } catch (err) {
      if (!expectedRefusal(err)) throw new Error(`retrying ${upload.location} on the other instance after ${String(failed)}`, { cause: err });
    }
  }
  outcome.restarted++;
  assert.equal(await b.pushBlob(repo, data, { mode: "chunked", chunkSize: MiB }), sha256(data));
  outcome.blobs.push({ repo, data });
}

/** POST on `a`, then one PUT with the whole blob; after a kill the same PUT on `b`, else the blob started over on `b`. */
async function monolithic(a: OciClient, b: OciClient, repo: string, data: Buffer, outcome: Outcome): Promise<void> {
  let upload: Upload | null = null;
  try {
    upload = await a.startUpload(repo);
    await a.finishUpload({ ...upload, offset: 0 }, sha256(data), data);
    outcome.blobs.push({ repo, data });
    return;
  } catch (err) {
    if (!cutByKill(err)) throw err;
  }
  if (upload !== null) {
    outcome.retried++;
    try {
      await b.finishUpload(on(b, { ...upload, offset: 0 }), sha256(data), data);
      outcome.blobs.push({ repo, data });
      return;
    } catch (err) {
      if (!expectedRefusal(err)) throw err;
    }
  }
  outcome.restarted++;
  assert.equal(await b.pushBlob(repo, data), sha256(data));
  outcome.blobs.push({ repo, data });
}

/** An image's blobs on `b` (the surviving one), its manifest PUT on `a`, retried on `b` after a kill. */
async function image(a: OciClient, b: OciClient, repo: string, tag: string, outcome: Outcome): Promise<void> {
  const built = buildImage([randomLayer(200 * 1024)], `${repo}:${tag}`);
  for (const blob of [built.config, ...built.layers]) await b.pushBlob(repo, blob.data);
  try {
    await a.putManifest(repo, tag, built.manifest);
  } catch (err) {
    if (!cutByKill(err)) throw err;
    outcome.retried++;
    await b.putManifest(repo, tag, built.manifest);
  }
  outcome.images.push({ repo, tag, image: built });
}

/** `berth gc --grace-period 0` with the cluster's settings, killed after `ms`. */
async function gcKilledAfter(cluster: StoreCluster, ms: number): Promise<void> {
  const child = spawn(process.execPath, [berthBin, "gc", "--grace-period", "0", "--data", cluster.instances[0]!.dataDir], {
    env: { ...process.env, BERTH_ADMIN_PASSWORD: cluster.instances[0]!.password, BERTH_LOG_LEVEL: "warn", ...cluster.env },
    stdio: "ignore",
  });
  const exited = new Promise<void>((ok) => child.once("close", () => ok()));
  await Promise.race([sleep(ms), exited]);
  child.kill("SIGKILL");
  await exited;
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`kill -9 on ${kind} + PostgreSQL during pushes (monolithic, chunked, manifests) and during gc, round after round: every 201 blob reads back, fsck clean, nothing left in the store`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const cluster = await startStoreCluster(kind, 2, { env: { BERTH_UPLOADS_EXPIRE_AFTER: "2" } });
    t.after(() => cluster.stop());
    const [victim, survivor] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];
    const a = new OciClient({ baseUrl: victim.url, authorization: victim.basicAuth, timeoutMs: 60_000 });
    const b = new OciClient({ baseUrl: survivor.url, authorization: survivor.basicAuth, timeoutMs: 60_000 });
    const outcome: Outcome = { blobs: [], images: [], retried: 0, restarted: 0 };
    let acknowledged = 0;
    const shared = randomBytes(6 * MiB + 11); // pushed in every round: the same digest published again and again
    for (let round = 0; round < 3; round++) {
      const repo = `crash/r${round % 2}`;
      const work = Promise.all([
        chunked(a, b, repo, randomBytes(7 * MiB + round), outcome),
        chunked(a, b, repo, shared, outcome),
        monolithic(a, b, repo, randomBytes(18 * MiB + round), outcome), // above one 16 MiB part: a multipart upload
        monolithic(a, b, repo, randomBytes(100_000 + round), outcome),
        image(a, b, repo, `v${round}`, outcome),
      ]);
      await sleep(randomInt(50, 1500));
      await victim.kill();
      await work;
      await victim.restart();
      // Checked before gc runs: blobs no manifest uses are gc's to take (grace period 0).
      for (const { repo, data } of outcome.blobs.splice(0)) {
        acknowledged++;
        for (const client of [a, b]) assert.ok((await client.getBlob(repo, sha256(data))).equals(data), `${repo}@${sha256(data)} reads back differently`);
      }
      // The round before's image goes, so the gc killed below has blobs to sweep.
      const gone = outcome.images.length > 1 ? outcome.images.splice(-2, 1)[0]! : null;
      if (gone) assert.equal(await b.deleteManifest(gone.repo, gone.image.digest), 202);
      await gcKilledAfter(cluster, randomInt(100, 1500));
    }
    for (const { repo, tag, image: built } of outcome.images) await assertImagePulls(b, repo, tag, built);
    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);

    // What the kills left (an upload row's parts, a monolithic push's temporary key, a gc that died
    // between deleting an object and forgetting its row) goes within two runs once uploads expire.
    const first = await cluster.cli(["gc", "--grace-period", "0"]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    await sleep(2500);
    const second = await cluster.cli(["gc", "--grace-period", "0"]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.deepEqual(await cluster.leftover(), [], "left in the store after two gc runs");
    const fsckAfter = await cluster.cli(["fsck"]);
    assert.equal(fsckAfter.code, 0, fsckAfter.stdout + fsckAfter.stderr);
    for (const { repo, tag, image: built } of outcome.images) await assertImagePulls(a, repo, tag, built);
    t.diagnostic(`${acknowledged} blobs and ${outcome.images.length} manifests acknowledged; ${outcome.retried} requests retried on the other instance, ${outcome.restarted} blobs started over`);
  });
}

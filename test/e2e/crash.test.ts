// Crash safety: `berth serve` and `berth gc` killed with SIGKILL at the worst moments (between
// PATCH chunks, mid-body, mid-finalise, mid-manifest, mid-sweep). After a restart `berth fsck`
// must be clean, no half-written blob may be visible, an interrupted upload is either resumable
// from its Range or cleanly BLOB_UPLOAD_UNKNOWN, and everything a manifest references still pulls.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { assertFsckClean, runGc, spawnBerthCli } from "../support/berth-cli.ts";
import { assertNoBlob, resumeOrRestart, settle, trickle } from "../support/crash-points.ts";
import { OciClient, OciError, sha256 } from "../support/oci-client.ts";
import { assertImagePulls, buildImage, pushImage, randomLayer, testBlob, type TestImage } from "../support/oci-images.ts";

const MiB = 1024 * 1024;

async function berthFor(t: TestContext, env: Record<string, string> = {}): Promise<{ berth: RunningBerth; client: OciClient }> {
  const berth = await startBerth({ env });
  t.after(() => berth.dispose());
  return { berth, client: new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 60_000 }) };
}

/** SIGKILL, then start again on the same port and data; the client keeps working. */
async function crashAndRestart(berth: RunningBerth): Promise<void> {
  await berth.kill();
  await berth.restart();
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

test("kill -9 after 3 of 6 PATCH chunks: fsck clean, no partial blob, the upload resumes or is unknown", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const repo = "team/crash";
  const data = randomBytes(24 * MiB);
  const digest = sha256(data);
  let upload = await client.startUpload(repo);
  const location = upload.location;
  for (let i = 0; i < 3; i++) {
    upload = await client.patchChunk(upload, data.subarray(i * 4 * MiB, (i + 1) * 4 * MiB));
    assert.equal(upload.offset, (i + 1) * 4 * MiB, `PATCH chunk ${i}: Range ${upload.range}`);
  }

  await crashAndRestart(berth);

  await assertFsckClean(berth, "after a crash between PATCH chunks");
  await assertNoBlob(client, repo, digest, "after a crash half-way through its upload");
  const outcome = await resumeOrRestart(client, { repo, location, data, acknowledged: 12 * MiB, sent: 12 * MiB });
  t.diagnostic(`upload after the crash: ${outcome}`);
  await assertFsckClean(berth, "after finishing the upload");
});

for (const mode of ["with Content-Range", "stream (no Content-Range)"] as const) {
  test(`kill -9 while a PATCH body ${mode} is still streaming: fsck clean, resumable or unknown`, { timeout: 180_000 }, async (t) => {
    const { berth, client } = await berthFor(t);
    const repo = "team/midstream";
    const data = randomBytes(32 * MiB);
    const digest = sha256(data);
    const first = await client.patchChunk(await client.startUpload(repo), data.subarray(0, 4 * MiB));
    assert.equal(first.offset, 4 * MiB, `first PATCH: Range ${first.range}`);

    // The rest (28 MiB) at ~10 MiB/s; the kill lands once 8 MiB of it are out.
    const rest = data.subarray(4 * MiB);
    const body = trickle(rest, 256 * 1024, 25);
    const patching = settle(client.patchStream(first, body.body, mode === "with Content-Range" ? { length: rest.length } : {}));
    await Promise.race([body.reached(8 * MiB), patching]);
    await berth.kill();
    const outcome = await patching;
    assert.equal(outcome.ok, false, "the PATCH cannot succeed: the server died before the body ended");
    const sent = 4 * MiB + body.sent();
    body.body.destroy();
    await berth.restart();

    await assertFsckClean(berth, "after a crash mid-PATCH");
    await assertNoBlob(client, repo, digest, "after a crash mid-PATCH");
    const resumed = await resumeOrRestart(client, { repo, location: first.location, data, acknowledged: 4 * MiB, sent });
    t.diagnostic(`upload after the crash: ${resumed}`);
    await assertFsckClean(berth, "after finishing the upload");
  });
}

test("a client killed mid-PATCH: the upload is not left busy, it resumes from its Range", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const repo = "team/client-crash";
  const data = randomBytes(24 * MiB);
  const first = await client.patchChunk(await client.startUpload(repo), data.subarray(0, 4 * MiB));
  const rest = data.subarray(4 * MiB);
  const body = trickle(rest, 256 * 1024, 25);
  const abort = new AbortController();
  const patching = settle(client.patchStream(first, body.body, { length: rest.length, signal: abort.signal }));
  await Promise.race([body.reached(6 * MiB), patching]);
  abort.abort(); // the client process dies: its connection drops mid-body
  assert.equal((await patching).ok, false, "the aborted PATCH cannot succeed");
  const sent = 4 * MiB + body.sent();
  // Until the server has noticed the dead connection and let the upload's lease go (or stopped
  // renewing it), not a fixed delay: a resume sent while the dead PATCH's handler still renews the
  // lease is rightly refused with 416 (another request is writing), and a starved server can take
  // longer than any delay to notice.
  const db = new DatabaseSync(join(berth.dataDir, "berth.db"), { readOnly: true });
  t.after(() => db.close());
  const id = new URL(first.location).pathname.split("/").pop()!;
  const busy = () => {
    const row = db.prepare("select lease_owner, lease_until from uploads where id = ?").get(id) as { lease_owner: string | null; lease_until: number } | undefined;
    return row !== undefined && row.lease_owner !== null && Number(row.lease_until) > Date.now();
  };
  for (const deadline = Date.now() + 30_000; busy(); await sleep(20)) assert.ok(Date.now() < deadline, "the upload is still leased 30 s after its client died");

  const outcome = await resumeOrRestart(client, { repo, location: first.location, data, acknowledged: 4 * MiB, sent });
  assert.equal(outcome, "resumed", "the server is alive: an upload whose client vanished must stay resumable");
  await assertFsckClean(berth, "after a client died mid-PATCH");
  assert.ok(berth.process.exitCode === null, `the server exited:\n${berth.output()}`);
});

test("kill -9 during a monolithic blob PUT: fsck clean, no partial blob", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const repo = "team/put";
  const data = randomBytes(32 * MiB);
  const digest = sha256(data);
  const upload = await client.startUpload(repo);
  const body = trickle(data, 256 * 1024, 25);
  const putting = settle(client.request("PUT", `${upload.location}${upload.location.includes("?") ? "&" : "?"}digest=${digest}`, [201], {
    headers: { "content-type": "application/octet-stream", "content-length": String(data.length) },
    body: body.body,
  }));
  await Promise.race([body.reached(12 * MiB), putting]);
  await berth.kill();
  assert.equal((await putting).ok, false, "the PUT cannot succeed: the server died before the body ended");
  const sent = body.sent();
  body.body.destroy();
  await berth.restart();

  await assertFsckClean(berth, "after a crash mid-PUT");
  await assertNoBlob(client, repo, digest, "after a crash mid-PUT");
  const outcome = await resumeOrRestart(client, { repo, location: upload.location, data, acknowledged: 0, sent });
  t.diagnostic(`upload after the crash: ${outcome}`);
  await assertFsckClean(berth, "after pushing the blob again");
});

test("kill -9 while the closing PUT of a chunked upload is processed: the blob is whole or absent", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const repo = "team/finish";
  const outcomes: string[] = [];
  for (const delayMs of [0, 5, 20, 60]) {
    const data = randomBytes(12 * MiB);
    const digest = sha256(data);
    let upload = await client.startUpload(repo);
    for (let start = 0; start < data.length; start += 4 * MiB) upload = await client.patchChunk(upload, data.subarray(start, start + 4 * MiB));
    const finishing = settle(client.finishUpload(upload, digest));
    await sleep(delayMs);
    await berth.kill();
    const finished = await finishing;
    await berth.restart();

    await assertFsckClean(berth, `crash ${delayMs} ms into the closing PUT`);
    const head = await client.headBlob(repo, digest);
    if (finished.ok) assert.ok(head !== null, `PUT answered 201 before the crash, yet HEAD ${digest} → 404 after it`);
    if (head !== null) {
      assert.equal(head.size, data.length, `HEAD after the crash: Content-Length ${head.size}`);
      assert.ok((await client.getBlob(repo, digest)).equals(data), "the blob published by the closing PUT reads back differently");
      outcomes.push(`${delayMs} ms: published`);
      continue;
    }
    await assertNoBlob(client, repo, digest, "after a crash in the closing PUT");
    outcomes.push(`${delayMs} ms: ${await resumeOrRestart(client, { repo, location: upload.location, data, acknowledged: data.length, sent: data.length })}`);
  }
  t.diagnostic(outcomes.join("; "));
  await assertFsckClean(berth, "after all rounds");
});

test("kill -9 during 20 concurrent manifest pushes: acknowledged manifests survive, fsck clean", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const repo = "team/manifests";
  const shared = [randomLayer(512 * 1024), randomLayer(64 * 1024)];
  for (const [round, delayMs] of [2, 8, 25].entries()) {
    const images = Array.from({ length: 20 }, (_, i) => buildImage([...shared, randomLayer(16 * 1024)], `r${round}-${i}`));
    const blobs = [...new Map(images.flatMap((i) => [i.config, ...i.layers]).map((b) => [b.digest, b])).values()];
    await pool(blobs, 8, async (blob) => {
      if ((await client.headBlob(repo, blob.digest)) === null) await client.pushBlob(repo, blob.data);
    });
    const puts = images.map((image, i) => settle(client.putManifest(repo, `r${round}-${i}`, image.manifest)));
    await sleep(delayMs);
    await berth.kill();
    const results = await Promise.all(puts);
    await berth.restart();

    await assertFsckClean(berth, `crash ${delayMs} ms into 20 manifest PUTs`);
    let present = 0;
    for (const [i, image] of images.entries()) {
      const tag = `r${round}-${i}`;
      const byTag = await client.headManifest(repo, tag);
      const byDigest = await client.headManifest(repo, image.digest);
      if (results[i]!.ok) assert.ok(byTag !== null, `PUT manifest ${tag} answered 201 before the crash, yet the tag is gone`);
      if (byTag !== null) {
        assert.equal(byTag.digest, image.digest, `tag ${tag} points to ${byTag.digest}, pushed ${image.digest}`);
        assert.ok(byDigest !== null, `tag ${tag} resolves but its manifest ${image.digest} does not`);
      }
      if (byDigest !== null) {
        await assertImagePulls(client, repo, image.digest, image);
        present++;
      } else {
        await client.putManifest(repo, tag, image.manifest); // the client retries; it must work
      }
      await assertImagePulls(client, repo, tag, image);
    }
    t.diagnostic(`round ${round} (${delayMs} ms): ${present}/20 manifests stored before the crash`);
  }
  await assertFsckClean(berth, "after re-pushing the lost manifests");
});

test("kill -9 in the middle of berth gc: fsck clean, the referenced image still pulls, a full gc then completes", { timeout: 120_000 }, async (t) => {
  const { berth, client } = await berthFor(t);
  const keep = buildImage([randomLayer(1 * MiB), randomLayer(256 * 1024), randomLayer(1024)], "keep");
  await pushImage(client, "team/keep", "v1", keep, { mode: "chunked", chunkSize: 256 * 1024 });
  // Garbage: 300 blobs no manifest names (half of them in the kept image's repository), and an
  // image whose manifest is deleted, so its config and unique layer become garbage too.
  const junk = Array.from({ length: 300 }, (_, i) => ({ repo: i % 2 === 0 ? "team/keep" : "team/junk", blob: testBlob(randomBytes(1024 + (i % 7) * 512)) }));
  const dropped: TestImage = buildImage([keep.layers[0]!, randomLayer(128 * 1024)], "dropped");
  await pushImage(client, "team/keep", "old", dropped);
  assert.equal(await client.deleteManifest("team/keep", dropped.digest), 202, "DELETE manifest by digest");
  const pushJunk = () => pool(junk, 16, async ({ repo, blob }) => {
    if ((await client.headBlob(repo, blob.digest)) === null) await client.pushBlob(repo, blob.data);
  });
  await pushJunk();

  /** How many junk blobs are still visible; each one must be whole or entirely gone. */
  async function junkAlive(): Promise<number> {
    let alive = 0;
    await pool(junk, 16, async ({ repo, blob }) => {
      const head = await client.headBlob(repo, blob.digest);
      const get = await client.raw("GET", `/v2/${repo}/blobs/${blob.digest}`);
      const bytes = Buffer.from(await get.arrayBuffer());
      if (head === null) {
        assert.equal(get.status, 404, `HEAD ${repo}@${blob.digest} → 404 but GET → ${get.status}`);
        return;
      }
      assert.equal(get.status, 200, `HEAD ${repo}@${blob.digest} → 200 but GET → ${get.status} ${bytes.toString().slice(0, 200)}`);
      assert.ok(bytes.equals(blob.data), `GET ${repo}@${blob.digest}: a swept-half blob (${bytes.length} bytes)`);
      alive++;
    });
    return alive;
  }

  // Aim the kill at the sweep: start near the time a dry run takes (boot + mark), then bisect
  // between "killed before any file was swept" and "the sweep was over". Counting blob files on
  // disk (the filesystem layout) only aims the kill; what is judged is fsck and the HTTP view.
  const blobFile = (digest: string) => join(berth.dataDir, "blobs", "sha256", digest.slice(7, 9), digest.slice(7));
  const layoutKnown = existsSync(blobFile(keep.layers[0]!.digest));
  const junkFiles = () => (layoutKnown ? junk.filter(({ blob }) => existsSync(blobFile(blob.digest))).length : -1);
  const dry = await spawnBerthCli(berth, ["gc", "--grace-period", "0", "--dry-run"]).exited;
  assert.equal(dry.code, 0, `berth gc --dry-run exited ${dry.code}\n${dry.stdout}\n${dry.stderr}`);
  let tooEarly = 0;
  let tooLate = Number.POSITIVE_INFINITY;
  let delay = dry.ms;
  const log: string[] = [];
  let landed = 0;
  for (let round = 0; round < 8 && landed < 2; round++) {
    const visibleBefore = await junkAlive();
    const filesBefore = junkFiles();
    const jitter = delay * (0.95 + Math.random() * 0.1);
    const gc = spawnBerthCli(berth, ["gc", "--grace-period", "0"]);
    await sleep(jitter);
    const exit = await gc.kill();
    await assertFsckClean(berth, `gc killed after ${Math.round(jitter)} ms`);
    await assertImagePulls(client, "team/keep", "v1", keep);
    const visibleAfter = await junkAlive();
    const filesAfter = junkFiles();
    const seen = `visible ${visibleBefore}→${visibleAfter}, files ${filesBefore}→${filesAfter}`;
    if (exit.signal === null) {
      assert.equal(exit.code, 0, `berth gc exited ${exit.code}\n${exit.stdout}\n${exit.stderr}`);
      tooLate = Math.min(tooLate, jitter);
      log.push(`${Math.round(jitter)} ms: gc finished (${seen})`);
    } else if (filesAfter === filesBefore && visibleAfter === visibleBefore) {
      tooEarly = Math.max(tooEarly, jitter);
      log.push(`${Math.round(jitter)} ms: killed before the sweep`);
    } else if (filesAfter === 0 || (filesAfter === -1 && visibleAfter === 0)) {
      tooLate = Math.min(tooLate, jitter);
      log.push(`${Math.round(jitter)} ms: killed after the sweep (${seen})`);
    } else {
      landed++;
      log.push(`${Math.round(jitter)} ms: killed mid-sweep (${seen})`);
    }
    if (visibleAfter < visibleBefore || filesAfter < filesBefore) await pushJunk();
    delay = Number.isFinite(tooLate) ? tooEarly + (tooLate - tooEarly) * (0.2 + 0.6 * Math.random()) : delay * 1.6 + 50;
  }
  t.diagnostic(`gc kills: ${log.join("; ")}`);
  if (landed === 0) t.diagnostic("no kill landed mid-sweep (the sweep was too quick to hit); fsck was still checked after each kill");

  await runGc(berth);
  await assertFsckClean(berth, "after a full gc");
  await assertImagePulls(client, "team/keep", "v1", keep);
  assert.equal(await junkAlive(), 0, "a full gc with --grace-period 0 leaves unreferenced blobs");
  await assertNoBlob(client, "team/keep", dropped.layers[1]!.digest, "after gc: the deleted image's own layer");
  await assertNoBlob(client, "team/keep", dropped.config.digest, "after gc: the deleted image's config");
  await runGc(berth);
  await assertFsckClean(berth, "after a second gc");
});

test("an upload abandoned by a crash expires (BERTH_UPLOADS_EXPIRE_AFTER) and gc leaves fsck clean", { timeout: 180_000 }, async (t) => {
  const { berth, client } = await berthFor(t, { BERTH_UPLOADS_EXPIRE_AFTER: "2", BERTH_UPLOADS_PURGE_INTERVAL: "1" });
  const repo = "team/expire";
  const data = randomBytes(2 * MiB);
  const upload = await client.patchChunk(await client.startUpload(repo), data.subarray(0, MiB));
  await crashAndRestart(berth);
  await sleep(3_500);
  await runGc(berth);
  let status: number | null = null;
  try {
    await client.uploadStatus(upload.location);
    status = 204;
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    assert.deepEqual(error.codes, ["BLOB_UPLOAD_UNKNOWN"], error.message);
    status = error.status;
  }
  assert.equal(status, 404, "GET upload idle past BERTH_UPLOADS_EXPIRE_AFTER (and after a gc) still answers 204");
  await assertFsckClean(berth, "after an upload expired");
  await assertNoBlob(client, repo, sha256(data), "from an expired upload");
});

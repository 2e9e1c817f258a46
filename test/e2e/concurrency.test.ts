// Concurrency: many clients pushing images that share layers into one repository and into
// several, with every upload style at once, and `berth gc --grace-period 0` running while pushes
// go on. Nothing may fail, every image must pull back byte for byte, tags must list exactly what
// was pushed, and `berth fsck` must stay clean.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#push
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { assertFsckClean, runGc, spawnBerthCli, type CliExit } from "../support/berth-cli.ts";
import { settle, trickle } from "../support/crash-points.ts";
import { OciClient, OciError, sha256, type BlobPushMode } from "../support/oci-client.ts";
import { assertImagePulls, buildImage, pushImage, randomLayer, type TestBlob, type TestImage } from "../support/oci-images.ts";

const MiB = 1024 * 1024;
const MODES: BlobPushMode[] = ["monolithic", "chunked", "stream", "single-post"];

async function berthFor(t: TestContext, env: Record<string, string> = {}): Promise<RunningBerth> {
  const berth = await startBerth({ env });
  t.after(() => berth.dispose());
  return berth;
}

function clientOf(berth: RunningBerth): OciClient {
  return new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 90_000 });
}

/** Go's sort.Strings order, which tags/list must follow: byte-wise, not locale. */
function byteOrder(values: string[]): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface Planned { repo: string; tag: string; image: TestImage; mode: BlobPushMode; skipExisting: boolean }

/** Runs every task at once; returns the failures as readable lines (none expected). */
async function allAtOnce<T>(items: readonly T[], name: (item: T) => string, fn: (item: T) => Promise<unknown>): Promise<string[]> {
  const results = await Promise.allSettled(items.map(fn));
  return results.flatMap((r, i) => (r.status === "rejected" ? [`${name(items[i]!)}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
}

test("20 clients push images sharing layers into one and many repositories at once: 0 errors, all pull back, fsck clean", { timeout: 120_000 }, async (t) => {
  const berth = await berthFor(t);
  const shared: TestBlob[] = [randomLayer(1 * MiB), randomLayer(2 * MiB + 333), randomLayer(4 * MiB)];
  const plans: Planned[] = Array.from({ length: 20 }, (_, i) => ({
    repo: i % 2 === 0 ? "team/shared" : `team/app-${i}`,
    tag: i % 2 === 0 ? `v${i}` : "latest",
    image: buildImage([...shared, randomLayer(256 * 1024 + i * 13)], `client-${i}`),
    mode: MODES[i % MODES.length]!,
    skipExisting: i % 3 === 0, // some HEAD first like docker; the rest upload blindly
  }));

  const errors = await allAtOnce(plans, (p) => `${p.repo}:${p.tag} (${p.mode})`, (p) =>
    pushImage(clientOf(berth), p.repo, p.tag, p.image, { mode: p.mode, chunkSize: 768 * 1024, skipExisting: p.skipExisting }));
  assert.deepEqual(errors, [], "concurrent pushes failed");

  const client = clientOf(berth);
  const pullErrors = await allAtOnce(plans, (p) => `pull ${p.repo}:${p.tag}`, async (p) => {
    await assertImagePulls(client, p.repo, p.tag, p.image);
    await assertImagePulls(client, p.repo, p.image.digest, p.image);
  });
  assert.deepEqual(pullErrors, [], "images do not pull back byte for byte");

  const sharedTags = byteOrder(plans.filter((p) => p.repo === "team/shared").map((p) => p.tag));
  assert.deepEqual((await client.listTags("team/shared")).tags, sharedTags, "GET /v2/team/shared/tags/list");
  assert.deepEqual(await client.allTags("team/shared", 3), sharedTags, "GET /v2/team/shared/tags/list?n=3, following Link");
  for (const p of plans.filter((p) => p.repo !== "team/shared")) {
    assert.deepEqual((await client.listTags(p.repo)).tags, ["latest"], `GET /v2/${p.repo}/tags/list`);
  }
  await assertFsckClean(berth, "after 20 concurrent pushes");
});

test("20 clients race to set the same tag: it ends on one of their manifests and fsck stays clean", { timeout: 60_000 }, async (t) => {
  const berth = await berthFor(t);
  const client = clientOf(berth);
  const base = randomLayer(MiB);
  const images = Array.from({ length: 20 }, (_, i) => buildImage([base, randomLayer(4096 + i)], `racer-${i}`));
  for (const image of images) {
    for (const blob of [image.config, ...image.layers]) {
      if ((await client.headBlob("team/race", blob.digest)) === null) await client.pushBlob("team/race", blob.data);
    }
  }
  const errors = await allAtOnce(images, (image) => `PUT team/race:latest ← ${image.digest}`, (image) => clientOf(berth).putManifest("team/race", "latest", image.manifest));
  assert.deepEqual(errors, [], "concurrent manifest PUTs to one tag failed");
  const winner = await client.headManifest("team/race", "latest");
  const match = images.find((image) => image.digest === winner?.digest);
  assert.ok(match, `team/race:latest points to ${winner?.digest}, none of the 20 pushed`);
  await assertImagePulls(client, "team/race", "latest", match);
  for (const image of images) await assertImagePulls(client, "team/race", image.digest, image);
  assert.deepEqual((await client.listTags("team/race")).tags, ["latest"]);
  await assertFsckClean(berth, "after a tag race");
});

test("two PATCHes race for the same bytes of one upload: one 202, the other 416, never torn bytes", { timeout: 60_000 }, async (t) => {
  const berth = await berthFor(t);
  const client = clientOf(berth);
  const upload = await client.startUpload("team/torn");
  const a = Buffer.alloc(4 * MiB, 0xaa);
  const b = Buffer.alloc(4 * MiB, 0xbb);
  // Both trickle at once, so their bodies overlap in time on the server.
  const racers = [a, b].map((data) => settle(clientOf(berth).patchStream(upload, trickle(data, 128 * 1024, 10).body, { length: data.length })));
  const [ra, rb] = await Promise.all(racers);
  const statuses = [ra!, rb!].map((r) => (r.ok ? 202 : r.error instanceof OciError ? r.error.status : String(r.error)));
  assert.deepEqual([...statuses].sort(), [202, 416], `PATCH 0-${4 * MiB - 1} twice at once → ${statuses.join(", ")}`);
  const winner = ra!.ok ? a : b;
  const status = await client.uploadStatus(upload.location);
  assert.equal(status.range, `0-${4 * MiB - 1}`, "GET upload after the race");
  await client.finishUpload(status, sha256(winner));
  assert.ok((await client.getBlob("team/torn", sha256(winner))).equals(winner), "the raced upload reads back torn");
  await assertFsckClean(berth, "after racing PATCHes");
});

test("berth gc --grace-period 0 runs while a burst of pushes goes on: nothing referenced is lost", { timeout: 120_000 }, async (t) => {
  const berth = await berthFor(t);
  const client = clientOf(berth);
  const shared: TestBlob[] = [randomLayer(1 * MiB), randomLayer(2 * MiB), randomLayer(3 * MiB)];

  // Before the burst: images that stay, one whose manifest is deleted (garbage), loose blobs.
  const base = Array.from({ length: 4 }, (_, i) => ({ repo: `team/base-${i}`, tag: "v1", image: buildImage([shared[i % 3]!, randomLayer(64 * 1024)], `base-${i}`) }));
  for (const b of base) await pushImage(client, b.repo, b.tag, b.image, { mode: "chunked", chunkSize: MiB });
  const doomed = buildImage([shared[0]!, randomLayer(200 * 1024)], "doomed");
  await pushImage(client, "team/base-0", "doomed", doomed);
  assert.equal(await client.deleteManifest("team/base-0", doomed.digest), 202);
  for (let i = 0; i < 40; i++) await client.pushBlob(`team/loose-${i % 4}`, randomLayer(2048 + i).data);

  // The burst: 12 clients, 3 images each in turn, while gc runs back to back. A manifest PUT may
  // meet MANIFEST_BLOB_UNKNOWN when gc swept a blob pushed moments earlier (grace period 0); the
  // client then pushes the blobs again, as the spec lets a registry demand. What must never
  // happen is a manifest accepted whose blobs are then gone.
  const burst = Array.from({ length: 12 }, (_, c) => Array.from({ length: 3 }, (_, k) => ({
    repo: c % 3 === 0 ? "team/shared" : `team/burst-${c}`,
    tag: c % 3 === 0 ? `c${c}-${k}` : `v${k}`,
    image: buildImage([...shared, randomLayer(512 * 1024 + c * 7 + k)], `burst-${c}-${k}`),
    mode: MODES[(c + k) % MODES.length]!,
  })));
  let pushing = true;
  let retries = 0;
  const pushes = allAtOnce(burst, (list) => list.map((p) => `${p.repo}:${p.tag}`).join(","), async (list) => {
    const own = clientOf(berth);
    for (const p of list) {
      const pushed = await pushImage(own, p.repo, p.tag, p.image, { mode: p.mode, chunkSize: MiB, skipExisting: true, manifestRetries: 5 });
      retries += pushed.retries;
    }
  }).finally(() => (pushing = false));

  const gcRuns: CliExit[] = [];
  while (pushing && gcRuns.length < 10) gcRuns.push(await spawnBerthCli(berth, ["gc", "--grace-period", "0"]).exited);
  const errors = await pushes;
  t.diagnostic(`${gcRuns.length} gc runs during the burst; ${retries} manifest PUTs retried after MANIFEST_BLOB_UNKNOWN`);
  for (const [i, run] of gcRuns.entries()) {
    assert.equal(run.code, 0, `gc run ${i} during the burst exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  assert.ok(gcRuns.length > 0, "no gc ran during the burst");
  assert.deepEqual(errors, [], "pushes failed while gc ran");

  const everything = [...base, ...burst.flat()];
  async function allPull(when: string): Promise<void> {
    const failed = await allAtOnce(everything, (p) => `pull ${p.repo}:${p.tag} ${when}`, (p) => assertImagePulls(client, p.repo, p.tag, p.image));
    assert.deepEqual(failed, [], `referenced content lost ${when}`);
  }
  await allPull("after gc ran during the burst");
  await assertFsckClean(berth, "after gc ran during the burst");
  const sharedTags = byteOrder(burst.flat().filter((p) => p.repo === "team/shared").map((p) => p.tag));
  assert.deepEqual(await client.allTags("team/shared"), sharedTags, "GET /v2/team/shared/tags/list");

  await runGc(berth);
  await allPull("after a final gc");
  await assertFsckClean(berth, "after a final gc");
  assert.equal(await client.headBlob("team/base-0", doomed.layers[1]!.digest), null, "gc kept the deleted image's own layer");
});

test("berth gc does not purge an upload that is still receiving a PATCH body", { timeout: 60_000 }, async (t) => {
  // Idle means no bytes arriving. The server's own purge skips uploads a request is writing to;
  // `berth gc` runs in another process and must not judge a streaming upload by its last PATCH.
  const berth = await berthFor(t, { BERTH_UPLOADS_EXPIRE_AFTER: "1", BERTH_UPLOADS_PURGE_INTERVAL: "3600" });
  const client = clientOf(berth);
  const data = randomBytes(6 * MiB);
  const first = await client.patchChunk(await client.startUpload("team/slow"), data.subarray(0, MiB));
  const idleFrom = Date.now(); // the row's updated time: gc's idle rule alone would take it 1 s on
  const rest = data.subarray(MiB);
  // 5 MiB in 64 KiB pieces every 100 ms, like a big layer on a slow link; the last piece only once
  // gc has run. Both ends of gc's run are tied to events, not to a delay: CI, loaded, once ran gc
  // (after a fixed 1.5 s) before the server had taken the PATCH's lease, so the upload was rightly
  // idle and purged; and a gc process slow enough to start after the body's end (8 s) would find
  // the upload idle again, rightly, and purge it before the closing PUT.
  const gcRan = Promise.withResolvers<void>();
  const piece = 64 * 1024;
  async function* slowly(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < rest.length; at += piece) {
      if (at + piece >= rest.length) await gcRan.promise;
      yield rest.subarray(at, at + piece);
      await sleep(100);
    }
  }
  const patching = settle(client.patchStream(first, slowly(), { length: rest.length }));
  // gc once the server writes the PATCH (its lease in the row) and the upload is past its 1 s
  // expiry by its updated time: only the lease tells gc that bytes are arriving.
  const db = new DatabaseSync(join(berth.dataDir, "berth.db"), { readOnly: true });
  t.after(() => db.close());
  const id = new URL(first.location).pathname.split("/").pop()!;
  const leased = () => (db.prepare("select lease_owner from uploads where id = ?").get(id) as { lease_owner: string | null } | undefined)?.lease_owner ?? null;
  for (const deadline = Date.now() + 60_000; leased() === null; await sleep(20)) assert.ok(Date.now() < deadline, "the PATCH never took the upload's lease");
  await sleep(Math.max(0, idleFrom + 1_500 - Date.now()));
  await runGc(berth);
  gcRan.resolve();
  const patched = await patching;
  assert.ok(patched.ok, `PATCH streaming while berth gc ran: ${patched.ok ? "" : patched.error instanceof Error ? patched.error.message : String(patched.error)}`);
  await client.finishUpload(patched.value, sha256(data));
  assert.ok((await client.getBlob("team/slow", sha256(data))).equals(data));
  await assertFsckClean(berth, "after gc met a streaming upload");
});

// The set-up and the checks of the attacks and crash tests on blob publishing over S3 (versitygw)
// and Azure (Azurite) (test/e2e/attack-s8*, attack-store-uploads, crash-steps-object-store): two
// instances over one PostgreSQL, Berth → (cutting proxy →) stalling proxy → store; after each
// scenario every 201 reads back its digest's bytes from both instances, `berth fsck` is clean,
// two gc runs leave nothing under uploads/ but blobs published in place (a row names them), and
// fsck is clean again after them: gc deleting an object a row names as its blob's is caught.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startCuttingProxy } from "./cutting-proxy.ts";
import { OciError, sha256, type OciClient, type Upload } from "./oci-client.ts";
import { buildImage, pushImage, testBlob } from "./oci-images.ts";
import { startStallingProxy } from "./stalling-proxy.ts";
import { startStorePair, type StoreCluster, type StoreKind } from "./store-cluster.ts";

export const MiB = 1024 * 1024;

/** Two instances; Berth → cutting proxy → stalling proxy → store. */
export async function attackCluster(t: TestContext, kind: StoreKind) {
  const { proxies: [stall, cutter], ...pair } = await startStorePair(
    t,
    kind,
    async (url) => {
      const stall = await startStallingProxy(url);
      return [stall, await startCuttingProxy(stall.url)] as const;
    },
    { env: { BERTH_UPLOADS_EXPIRE_AFTER: "2" } },
  );
  return { ...pair, stall, cutter };
}

/** Two instances; Berth → stalling proxy → store. `victim` (the first) is the one the crash tests kill. */
export async function crashCluster(t: TestContext, kind: StoreKind, timeoutMs = 120_000) {
  const { proxies: [proxy], first: victim, ...pair } = await startStorePair(t, kind, async (url) => [await startStallingProxy(url)] as const, { env: { BERTH_UPLOADS_EXPIRE_AFTER: "2" }, timeoutMs });
  return { ...pair, proxy, victim };
}

/** A promise's value, or its error (never rejects). */
export async function settled<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.then((v) => v, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
}

/** What a client was answered, for a diagnostic: status and body, the error, or 201. */
export function said(answer: unknown): string {
  return answer instanceof OciError ? `${answer.status} ${answer.body}` : answer instanceof Error ? String(answer) : "201";
}

export async function gcOnce(cluster: StoreCluster): Promise<string> {
  const gc = await cluster.cli(["gc", "--grace-period", "0"]);
  assert.equal(gc.code, 0, gc.stdout + gc.stderr);
  return gc.stdout.trim().split("\n").join(" | ");
}

/**
 * What is left under uploads/ (no blob row naming it) after two gc runs (grace 0) 2.5 s apart,
 * past uploads.expireAfter (2 s): a stray seen by run 1 goes in run 2. `berth fsck` must be clean
 * after them (a blob published in place whose object gc took is fsck's blob-missing).
 */
export async function leftAfterTwoGcRuns(cluster: StoreCluster): Promise<string[]> {
  for (const run of [1, 2]) {
    const gc = await cluster.cli(["gc", "--grace-period", "0"]);
    assert.equal(gc.code, 0, gc.stdout + gc.stderr);
    if (run === 1) await sleep(2500); // past uploads.expireAfter: a stray seen by run 1 goes in run 2
  }
  const fsck = await cluster.cli(["fsck"]);
  assert.equal(fsck.code, 0, `fsck after two gc runs: ${fsck.stdout}${fsck.stderr}`);
  return cluster.leftover();
}

export async function assertClean(cluster: StoreCluster): Promise<void> {
  const fsck = await cluster.cli(["fsck"]);
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  await gcOnce(cluster);
  await sleep(2500); // past uploads.expireAfter: a stray seen by the first run goes in the second
  await gcOnce(cluster);
  assert.deepEqual(await cluster.leftover(), [], "left under uploads/ after two gc runs (no blob row naming it)");
  // Again after gc: a run that took an object a row names as its blob's (published in place) shows here.
  const after = await cluster.cli(["fsck"]);
  assert.equal(after.code, 0, `fsck after two gc runs: ${after.stdout}${after.stderr}`);
}

/** A blob is visible from both instances with its digest's bytes (HEAD and GET agree). */
export async function readsBack(clients: OciClient[], repo: string, data: Buffer): Promise<void> {
  for (const client of clients) {
    const head = await client.headBlob(repo, sha256(data));
    assert.equal(head?.size, data.length, `HEAD ${repo}@${sha256(data)} after a 201`);
    assert.ok((await client.getBlob(repo, sha256(data))).equals(data), `GET ${repo}@${sha256(data)}: other bytes`);
  }
}

/** A manifest in `repo` naming the blob, so gc keeps it (a blob alone is unreferenced: gc --grace-period 0 takes it). */
export async function keep(client: OciClient, repo: string, data: Buffer): Promise<void> {
  await pushImage(client, repo, "kept", buildImage([testBlob(data)], `kept-${repo}`), { skipExisting: true });
}

export async function chunkedUpload(client: OciClient, repo: string, data: Buffer, chunk = MiB + 7): Promise<Upload> {
  let upload = await client.startUpload(repo);
  for (let at = 0; at < data.length; at += chunk) upload = await client.patchChunk(upload, data.subarray(at, at + chunk));
  return upload;
}

/**
 * gc (grace 0) runs while the push into atk/new is held at the store (`paused`); then the push
 * goes on. It must get 201, the blob must read back from both instances, and once kept by a
 * manifest it must outlive gc with the store left clean.
 */
export async function gcWhileHeld(t: TestContext, { cluster, a, b }: { cluster: StoreCluster; a: OciClient; b: OciClient }, paused: Promise<{ what: string; go: () => void }>, put: Promise<unknown>, data: Buffer): Promise<void> {
  const held = await paused;
  t.diagnostic(`held: ${held.what}`);
  t.diagnostic(`gc: ${await gcOnce(cluster)}`);
  held.go();
  const answer = await put;
  t.diagnostic(`the push: ${said(answer)}`);
  assert.ok(!(answer instanceof Error), `the push racing gc: ${said(answer)}`);
  await readsBack([a, b], "atk/new", data);
  await keep(b, "atk/new", data);
  await assertClean(cluster);
  await readsBack([a, b], "atk/new", data);
}

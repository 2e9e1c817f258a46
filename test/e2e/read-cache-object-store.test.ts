// The read cache (storage.cache.dir, docs/storage.md "Read cache") with a real S3 store
// (versitygw) and real clients: oras pulls an image twice, byte for byte; the first pull fills the
// cache, the second is answered from it (the same statuses in the access log) without one GET
// reaching the store. And the cache is never a reason to answer: with two instances over one
// bucket and database, a blob deleted on one and gc'd is 404 on the other, whose cache still
// holds its file.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { accessLines, logBarrier } from "../support/access-log.ts";
import { startBerth } from "../support/berth.ts";
import { OciClient } from "../support/oci-client.ts";
import { startStallingProxy } from "../support/stalling-proxy.ts";
import { startStoreBackend, startStoreCluster } from "../support/store-cluster.ts";
import { requireTool, run } from "../support/tools.ts";
import { until } from "../support/until.ts";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

async function tempDir(t: TestContext, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `berth-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const cached = (dir: string, hex: string) => join(dir, "sha256", hex.slice(0, 2), hex);
const exists = (path: string) => stat(path).then(() => true, () => false);

test("oras pulls an image twice from Berth on S3 with a read cache: byte for byte, the second from the cache without a GET to the store", { timeout: 300_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const backend = await startStoreBackend("s3", { redirect: false });
  t.after(() => backend.stop());
  const proxy = await startStallingProxy(backend.env.BERTH_STORAGE_S3_ENDPOINT!);
  t.after(() => proxy.close());
  const cacheDir = await tempDir(t, "read-cache");
  const berth = await startBerth({ env: { ...backend.env, BERTH_STORAGE_S3_ENDPOINT: proxy.url, BERTH_STORAGE_CACHE_DIR: cacheDir, BERTH_STORAGE_CACHE_MAX_BYTES: String(256 * 1024 * 1024), BERTH_LOG_LEVEL: "info" } });
  t.after(() => berth.dispose());

  const dir = await tempDir(t, "read-cache-oras");
  const layer = randomBytes(24 * 1024 * 1024 + 17);
  await writeFile(join(dir, "layer.bin"), layer);
  const ref = `${berth.host}/team/app:v1`;
  const login = ["--plain-http", "-u", berth.username, "-p", berth.password];
  const pushed = await run(oras, ["push", ...login, ref, "layer.bin:application/octet-stream"], { cwd: dir });
  assert.equal(pushed.code, 0, pushed.stderr);
  const hex = sha256(layer);
  const blobGets = () => accessLines(berth.output()).filter((l) => l.method === "GET" && l.path?.endsWith(`/blobs/sha256:${hex}`)).map((l) => l.status);

  // The first pull after the push: from the store, filling the cache.
  const first = await run(oras, ["pull", ...login, "-o", join(dir, "one"), ref]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok((await readFile(join(dir, "one", "layer.bin"))).equals(layer));
  await until("the layer in the cache", () => exists(cached(cacheDir, hex)));
  assert.equal((await stat(cached(cacheDir, hex))).size, layer.length);
  await logBarrier(berth);
  assert.deepEqual(blobGets(), [200]);

  // The second: from the cache; the store sees no GET at all (HEADs answer the size check).
  const before = proxy.seen.length;
  const second = await run(oras, ["pull", ...login, "-o", join(dir, "two"), ref]);
  assert.equal(second.code, 0, second.stderr);
  assert.ok((await readFile(join(dir, "two", "layer.bin"))).equals(layer));
  const asked = proxy.seen.slice(before);
  assert.deepEqual(asked.filter((r) => r.startsWith("GET ")), [], `the store was asked: ${asked.join(", ")}`);
  await logBarrier(berth);
  assert.deepEqual(blobGets(), [200, 200], "the same answer from the cache");

  const metrics = await (await fetch(`${berth.url}/metrics`)).text();
  assert.match(metrics, /^berth_read_cache_hits_total [1-9]/m);
  assert.match(metrics, /^berth_read_cache_fills_total [1-9]/m);
});

test("two instances on S3 with read caches: a blob deleted and gc'd through one is 404 on the other, though its cache holds the file", { timeout: 300_000 }, async (t) => {
  const cacheA = await tempDir(t, "read-cache-a");
  const cacheB = await tempDir(t, "read-cache-b");
  const cluster = await startStoreCluster("s3", 1, { redirect: false, env: { BERTH_STORAGE_CACHE_DIR: cacheA } });
  t.after(() => cluster.stop());
  const a = cluster.instances[0]!;
  const b = await startBerth({ env: { ...cluster.env, BERTH_STORAGE_CACHE_DIR: cacheB }, password: a.password });
  t.after(() => b.kill());
  const onA = new OciClient({ baseUrl: a.url, authorization: a.basicAuth });
  const onB = new OciClient({ baseUrl: b.url, authorization: b.basicAuth });

  const bytes = randomBytes(3 * 1024 * 1024);
  const digest = await onA.pushBlob("team/app", bytes);
  const hex = digest.slice("sha256:".length);
  assert.ok((await onB.getBlob("team/app", digest)).equals(bytes));
  await until("the blob in B's cache", () => exists(cached(cacheB, hex)));
  assert.ok((await onB.getBlob("team/app", digest)).equals(bytes), "a hit on B");

  assert.equal(await onA.deleteBlob("team/app", digest), 202);
  const gc = await cluster.cli(["gc", "--grace-period", "0"]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /deleted 1 blob/);

  assert.ok(await exists(cached(cacheB, hex)), "B's cache still holds the file");
  const answer = await onB.raw("GET", `/v2/team/app/blobs/${digest}`);
  assert.equal(answer.status, 404);
  assert.equal(((await answer.json()) as { errors: { code: string }[] }).errors[0]!.code, "BLOB_UNKNOWN");
  // Linked again elsewhere by a new push, the same bytes are the same blob: B serves them.
  await onA.pushBlob("team/other", bytes);
  assert.ok((await onB.getBlob("team/other", digest)).equals(bytes));
  assert.equal((await onB.raw("GET", `/v2/team/app/blobs/${digest}`)).status, 404, "still not in team/app");
});

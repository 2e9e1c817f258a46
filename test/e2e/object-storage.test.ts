// `berth serve` with its blobs in object storage (SQLite metadata in the data directory, as
// ever): S3 on versitygw and Azure Blob on Azurite, each a real server started for the test.
// Real clients push: regctl in 1 MiB chunks (forced chunked, so every PATCH is under S3's 5 MiB
// part minimum) and oras monolithically; oras pulls back through Berth's redirect to a presigned
// or SAS URL, byte-identical; `berth fsck` is clean; after a manifest delete `berth gc` removes
// exactly the blobs no longer used, from the bucket or container. Then what an upload survives
// on these stores: a failed PATCH, and the process (kill -9): the running digest's state is saved
// in the upload row with each chunk, so the restarted process goes on (docs/scale.md).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { buffer as readAll } from "node:stream/consumers";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { blobKey } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { accessLines, logBarrier } from "../support/access-log.ts";
import { startBerth } from "../support/berth.ts";
import { assertFsckClean, runGc } from "../support/berth-cli.ts";
import { OciClient } from "../support/oci-client.ts";
import { missingStore } from "../support/object-stores.ts";
import { keysOf, leftoverKeys, objectKeyIn, startStoreBackend } from "../support/store-cluster.ts";
import { requireTool, runOk } from "../support/tools.ts";

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;

async function sandbox(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "berth-objstore-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "home/.docker"), { recursive: true });
  const env: NodeJS.ProcessEnv = { HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), REGCTL_CONFIG: join(dir, "home/regctl.json"), XDG_CONFIG_HOME: join(dir, "home/.config") };
  return { dir, env };
}

for (const name of ["s3", "azure"] as const) {
  const missing = missingStore(name);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`berth on ${name}: regctl pushes in 1 MiB chunks, oras monolithically, oras pulls byte-identical through redirects, fsck clean, gc frees what no manifest uses`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const oras = requireTool(t, "oras");
    const regctl = requireTool(t, "regctl");
    if (!oras || !regctl) return;
    const backend = await startStoreBackend(name);
    const berth = await startBerth({ env: { ...backend.env, BERTH_LOG_LEVEL: "info" } }).catch(async (err: unknown) => {
      await backend.stop();
      throw err;
    });
    t.after(async () => {
      await berth.dispose(); // first: a store waits for its clients' connections to close
      await backend.stop();
    });
    const { dir, env } = await sandbox(t);
    const orasRemote = ["--plain-http", "--registry-config", join(dir, "home/oras-auth.json")];
    const orasOk = (args: string[], input?: string) => runOk(oras, args, { env, cwd: dir, input });
    const regctlOk = (args: string[], input?: string) => runOk(regctl, args, { env, cwd: dir, input });

    const shared = randomBytes(21 * MiB + 7); // in both artifacts: one blob, kept by gc while one uses it
    const only = randomBytes(300_001); // only in the monolithic push: gc frees it
    await writeFile(join(dir, "shared.bin"), shared);
    await writeFile(join(dir, "only.bin"), only);

    // Chunked: regctl with every blob above 1 byte sent as 1 MiB PATCHes.
    await regctlOk(["registry", "set", "--tls", "disabled", "--skip-check", "--blob-chunk", String(MiB), "--blob-max", "1", berth.host]);
    await regctlOk(["registry", "login", berth.host, "-u", berth.username, "--pass-stdin"], berth.password);
    await regctlOk(["artifact", "put", "--artifact-type", "application/vnd.berth.test", "--file-title", "-f", "shared.bin", `${berth.host}/chunked/art:v1`]);
    await logBarrier(berth);
    const patches = accessLines(berth.output()).filter((l) => l.method === "PATCH" && l.path?.startsWith("/v2/chunked/art/blobs/uploads/"));
    assert.ok(patches.length >= 21, `regctl sent ${patches.length} PATCHes for a 21 MiB blob in 1 MiB chunks`);
    assert.ok(patches.every((l) => l.status === 202), "every PATCH answered 202");

    // The chunked upload's object is the blob where it was committed (no copy: its row names it),
    // and nothing else is left.
    const sharedKey = objectKeyIn(berth.dataDir, sha256(shared));
    assert.match(sharedKey ?? "", /^uploads\//, "the chunked upload's object is the blob, in place");
    assert.equal(await backend.driver.stat(blobKey(sha256(shared))), null, "no copy under the digest's key");
    assert.equal(sha256(await readAll(await backend.driver.read(sharedKey!))), sha256(shared));
    assert.deepEqual(await leftoverKeys(backend.driver, berth.dataDir), [], "no upload left in the store");

    // The same bytes uploaded again in chunks, to another repository: the row keeps its object,
    // the second upload's is deleted.
    const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 60_000 });
    const before = await keysOf(backend.driver, "uploads"); // the layer's and the config's, in place
    let second = await client.startUpload("chunked/twice");
    for (let at = 0; at < shared.length; at += 8 * MiB) second = await client.patchChunk(second, shared.subarray(at, Math.min(at + 8 * MiB, shared.length)));
    await client.finishUpload(second, sha256(shared));
    assert.equal(objectKeyIn(berth.dataDir, sha256(shared)), sharedKey, "the row kept the first object");
    assert.deepEqual(await keysOf(backend.driver, "uploads"), before, "the second upload's object is gone");
    assert.equal(sha256(await client.getBlob("chunked/twice", sha256(shared))), sha256(shared));

    // Monolithic: oras, the same shared blob (not in mono/art: pushed again) and one of its own.
    await orasOk(["login", ...orasRemote, "-u", berth.username, "--password-stdin", berth.host], berth.password);
    await orasOk(["push", ...orasRemote, `${berth.host}/mono/art:v1`, "--artifact-type", "application/vnd.berth.test", "shared.bin:application/octet-stream", "only.bin:application/octet-stream"]);
    // Its own blob written under its digest (S3 by the push itself, Azure by a copy); the shared
    // one's row keeps its object in place, and the push's own object of it is deleted (surplus).
    assert.equal((await backend.driver.stat(blobKey(sha256(only))))?.size, only.length);
    assert.equal(objectKeyIn(berth.dataDir, sha256(shared)), sharedKey);
    assert.equal(await backend.driver.stat(blobKey(sha256(shared))), null, "the whole push's surplus object is deleted");
    assert.deepEqual(await leftoverKeys(backend.driver, berth.dataDir), [], "nothing left no row names");

    // Pulled back through Berth's 307 to the store's signed URL.
    for (const repo of ["chunked/art", "mono/art"]) {
      const out = join(dir, `pulled-${repo.replace("/", "-")}`);
      await orasOk(["pull", ...orasRemote, `${berth.host}/${repo}:v1`, "-o", out]);
      assert.equal(sha256(await readFile(join(out, "shared.bin"))), sha256(shared), `${repo}: shared.bin came back different`);
      if (repo === "mono/art") assert.equal(sha256(await readFile(join(out, "only.bin"))), sha256(only), "only.bin came back different");
    }
    await logBarrier(berth);
    const redirected = accessLines(berth.output()).filter((l) => l.method === "GET" && /\/blobs\/sha256:/.test(l.path ?? ""));
    assert.ok(redirected.length >= 3 && redirected.every((l) => l.status === 307), `blob GETs answered ${redirected.map((l) => l.status).join(",")}, all 307 expected`);

    await assertFsckClean(berth, `on ${name}`);

    // Delete the monolithic artifact: gc frees its own blob and keeps the shared one.
    await orasOk(["manifest", "delete", ...orasRemote, "--force", `${berth.host}/mono/art:v1`]);
    await runGc(berth);
    assert.equal(await backend.driver.stat(blobKey(sha256(only))), null, "gc removed the blob no manifest uses");
    assert.equal((await backend.driver.stat(sharedKey!))?.size, shared.length, "gc kept the blob chunked/art uses");
    await assertFsckClean(berth, `on ${name}, after gc`);
    const again = join(dir, "pulled-again");
    await orasOk(["pull", ...orasRemote, `${berth.host}/chunked/art:v1`, "-o", again]);
    assert.equal(sha256(await readFile(join(again, "shared.bin"))), sha256(shared));
  });
}

for (const name of ["s3", "azure"] as const) {
  const missing = missingStore(name);
  test(`berth on ${name}: a short PATCH retried goes on; after kill -9 mid-upload the restarted process continues the upload from the hash state in its row, the blob pulls byte-identical, fsck clean`, { timeout: 180_000, skip: missing ?? false }, async (t) => {
    const backend = await startStoreBackend(name);
    const berth = await startBerth({ env: backend.env }).catch(async (err: unknown) => {
      await backend.stop();
      throw err;
    });
    t.after(async () => {
      await berth.dispose();
      await backend.stop();
    });
    const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 60_000 });
    const data = randomBytes(7 * MiB + 5);
    let upload = await client.startUpload("team/restart");
    upload = await client.patchChunk(upload, data.subarray(0, MiB));
    // A chunk short of its Content-Range: refused, nothing recorded; the retry continues the upload
    // (from the hash state the row saved before that chunk: nothing to re-read on S3 or Azure).
    // Streamed (no Content-Length), so the bytes reach the store before the shortfall shows.
    const streamed = (async function* () {
      yield data.subarray(MiB, 2 * MiB);
    })();
    const short = await client.raw("PATCH", upload.location, { headers: { "content-type": "application/octet-stream", "content-range": `${MiB}-${3 * MiB - 1}` }, body: streamed });
    assert.equal(short.status, 400, await short.text());
    upload = await client.patchChunk(upload, data.subarray(MiB, 2 * MiB));
    upload = await client.patchChunk(upload, data.subarray(2 * MiB, 3 * MiB));
    assert.equal(upload.offset, 3 * MiB);

    await berth.kill();
    await berth.restart();
    // The running digest died with the process; its state, saved in the row, did not.
    assert.equal((await client.uploadStatus(upload)).offset, 3 * MiB);
    for (let at = 3 * MiB; at < data.length; at += 2 * MiB) upload = await client.patchChunk(upload, data.subarray(at, Math.min(at + 2 * MiB, data.length)));
    await client.finishUpload(upload, sha256(data));
    assert.equal(sha256(await client.getBlob("team/restart", sha256(data))), sha256(data));
    assert.deepEqual(await leftoverKeys(backend.driver, berth.dataDir), [], "nothing of the upload is left but the blob (multipart upload, tail segments, staged blocks)");
    await assertFsckClean(berth, `on ${name}, after a crash mid-upload`);
  });
}

test("berth on s3: a streamed pull (its own socket to the store, reused buffers) reads byte-identical to a slow reader and in a range; a client that leaves mid-pull leaves the next pull whole", { timeout: 180_000, skip: missingStore("s3") ?? false }, async (t) => {
  const backend = await startStoreBackend("s3");
  const berth = await startBerth({ env: backend.env }).catch(async (err: unknown) => {
    await backend.stop();
    throw err;
  });
  t.after(async () => {
    await berth.dispose();
    await backend.stop();
  });
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 60_000 });
  const data = randomBytes(24 * MiB + 3);
  const digest = sha256(data);
  await client.pushBlob("team/pull", data);
  const url = `${berth.url}/v2/team/pull/blobs/${digest}`;
  const headers = { authorization: berth.basicAuth };

  // A reader slower than the store: the server stops reading the store while its buffers queue.
  const slow = await fetch(url, { headers });
  assert.equal(slow.status, 200);
  const reader = slow.body!.getReader();
  const parts: Uint8Array[] = [];
  for (let n = 0; ; n++) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    if (n % 16 === 0) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(sha256(Buffer.concat(parts)), digest, "the slow reader got every byte, in order");

  const start = 3 * MiB + 11;
  const end = 9 * MiB + 5;
  const ranged = await fetch(url, { headers: { ...headers, range: `bytes=${start}-${end}` } });
  assert.equal(ranged.status, 206);
  assert.equal(sha256(new Uint8Array(await ranged.arrayBuffer())), sha256(data.subarray(start, end + 1)));

  const gone = new AbortController();
  const leaving = await fetch(url, { headers, signal: gone.signal });
  await leaving.body!.getReader().read();
  gone.abort();
  assert.equal(sha256(await client.getBlob("team/pull", digest)), digest, "a pull after the client that left reads whole");
});

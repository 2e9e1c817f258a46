// Attacks on the read cache (storage.cache.dir, blobs/read-cache.ts) from outside, with Berth on
// real object stores (versitygw, Azurite). "held:" tests are attacks the cache withstood; the
// others found a bug (notes/attack-s11-cache.md) and fail on the code before its fix.
// The cache must never answer what the link and access checks deny, never hand out bytes that are
// not the digest's, and survive whatever is found in its directory.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { runBerthCli, startBerth, type RunningBerth } from "../support/berth.ts";
import { OciClient } from "../support/oci-client.ts";
import { startStoreBackend, startStoreCluster, type StoreBackend, type StoreKind } from "../support/store-cluster.ts";
import { requireTool, run } from "../support/tools.ts";
import { until } from "../support/until.ts";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const sha512 = (bytes: Buffer) => createHash("sha512").update(bytes).digest("hex");

async function tempDir(t: TestContext, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `berth-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const cachedPath = (dir: string, digest: string) => {
  const [alg, hex] = digest.split(":") as [string, string];
  return join(dir, alg, hex.slice(0, 2), hex);
};
const exists = (path: string) => stat(path).then(() => true, () => false);

interface Cached {
  backend: StoreBackend;
  berth: RunningBerth;
  cacheDir: string;
  admin: OciClient;
}

async function cachedBerth(t: TestContext, kind: StoreKind, env: Record<string, string> = {}, cacheDir?: string): Promise<Cached> {
  const backend = await startStoreBackend(kind, { redirect: false });
  t.after(() => backend.stop());
  const dir = cacheDir ?? (await tempDir(t, "attack-cache"));
  const berth = await startBerth({ env: { ...backend.env, BERTH_STORAGE_CACHE_DIR: dir, ...env } });
  t.after(() => berth.dispose());
  return { backend, berth, cacheDir: dir, admin: new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth }) };
}

/** GETs the blob whole until the cache holds it (a fill completes after the response). */
async function fill(c: Cached, repo: string, digest: string, bytes: Buffer): Promise<void> {
  assert.ok((await c.admin.getBlob(repo, digest, { verify: false })).equals(bytes));
  await until("the blob in the cache", () => exists(cachedPath(c.cacheDir, digest)));
}

/** Flips one bit in the middle of a file, its size unchanged. */
async function flipBit(path: string): Promise<void> {
  const file = await open(path, "r+");
  try {
    const { size } = await file.stat();
    const one = Buffer.alloc(1);
    await file.read(one, 0, 1, Math.floor(size / 2));
    one[0]! ^= 0x10;
    await file.write(one, 0, 1, Math.floor(size / 2));
  } finally {
    await file.close();
  }
}

/** The whole body, or null when the response was cut before its Content-Length. */
async function bodyOrCut(c: Cached, repo: string, digest: string): Promise<Buffer | null> {
  try {
    const res = await c.admin.raw("GET", `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200);
    return Buffer.from(await res.arrayBuffer());
  } catch {
    return null;
  }
}

async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

for (const kind of ["s3", "azure"] as const) {
  test(`held: on ${kind}, a cached blob is no reason to answer: another repository, anonymous, a deleted link, odd digests`, { timeout: 300_000 }, async (t) => {
    const c = await cachedBerth(t, kind);
    const bytes = randomBytes(2 * 1024 * 1024 + 3);
    const digest = await c.admin.pushBlob("team/app", bytes);
    await fill(c, "team/app", digest, bytes);
    assert.ok((await c.admin.getBlob("team/app", digest)).equals(bytes), "a hit");

    const other = await c.admin.raw("GET", `/v2/team/other/blobs/${digest}`);
    assert.equal(other.status, 404);
    assert.equal(await errorCode(other), "BLOB_UNKNOWN");
    const anonymous = await fetch(`${c.berth.url}/v2/team/app/blobs/${digest}`);
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
    const ranged = await fetch(`${c.berth.url}/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=0-9" } });
    assert.equal(ranged.status, 401);
    await ranged.arrayBuffer();

    // Odd digests never reach the cache's file names: a clear 4xx each.
    for (const odd of ["sha256:..%2F..%2F..%2Fetc%2Fpasswd", `sha256:${"A".repeat(64)}`, `sha256:${digest.slice(7, 69)}/..`, `md5:${"a".repeat(32)}`, `sha512:${"0".repeat(64)}`, "sha256:", "%2e%2e"]) {
      const res = await c.admin.raw("GET", `/v2/team/app/blobs/${odd}`);
      assert.ok(res.status >= 400 && res.status < 500, `${odd}: ${res.status}`);
      await res.arrayBuffer();
    }

    assert.equal(await c.admin.deleteBlob("team/app", digest), 202);
    assert.ok(await exists(cachedPath(c.cacheDir, digest)), "the file is still in the cache");
    const deleted = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`);
    assert.equal(deleted.status, 404);
    assert.equal(await errorCode(deleted), "BLOB_UNKNOWN");
    const ranges = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=0-0" } });
    assert.equal(ranges.status, 404);
    await ranges.arrayBuffer();
  });

  test(`held: on ${kind}, ranges and HEAD on a hit and a miss, sha512 blobs too`, { timeout: 300_000 }, async (t) => {
    const c = await cachedBerth(t, kind);
    const bytes = randomBytes(1024 * 1024 + 11);
    const digests = [await c.admin.pushBlob("team/app", bytes), `sha512:${sha512(bytes)}`];
    const pushed = await c.admin.raw("POST", `/v2/team/app/blobs/uploads/?digest=${digests[1]}`, { body: bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(pushed.status, 201, await pushed.text());
    const size = bytes.length;
    const cases: [string, number, Buffer][] = [
      ["bytes=0-9", 206, bytes.subarray(0, 10)],
      ["bytes=10-", 206, bytes.subarray(10)],
      ["bytes=-5", 206, bytes.subarray(size - 5)],
      [`bytes=${size - 1}-${size + 100}`, 206, bytes.subarray(size - 1)],
      ["bytes=0-1,5-6", 200, bytes],
      ["bytes=x-y", 200, bytes],
    ];
    for (const digest of digests) {
      for (const phase of ["miss", "hit"]) {
        if (phase === "hit") await fill(c, "team/app", digest, bytes);
        for (const [range, status, expected] of cases) {
          const res = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range } });
          assert.equal(res.status, status, `${digest.slice(0, 6)} ${phase} ${range}`);
          assert.ok(Buffer.from(await res.arrayBuffer()).equals(expected), `${digest.slice(0, 6)} ${phase} ${range}: bytes`);
        }
        const beyond = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: `bytes=${size}-` } });
        assert.equal(beyond.status, 416);
        assert.equal(beyond.headers.get("content-range"), `bytes */${size}`);
        await beyond.arrayBuffer();
        const head = await c.admin.raw("HEAD", `/v2/team/app/blobs/${digest}`);
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-length"), String(size));
      }
    }
    assert.ok(await exists(cachedPath(c.cacheDir, digests[1]!)), "a sha512 blob is cached under sha512/");
  });
}

test("a cache file changed on disk while Berth runs (one bit flipped, same size) is never served: the pull reads the store", { timeout: 300_000 }, async (t) => {
  const c = await cachedBerth(t, "s3");
  const bytes = randomBytes(3 * 1024 * 1024 + 5);
  const digest = await c.admin.pushBlob("team/app", bytes);
  await fill(c, "team/app", digest, bytes);
  await flipBit(cachedPath(c.cacheDir, digest));
  for (let i = 0; i < 2; i++) {
    const got = await bodyOrCut(c, "team/app", digest);
    assert.ok(got === null || got.equals(bytes), `pull ${i + 1}: ${got?.length} bytes hashing to ${got && sha256(got)}, not ${digest}`);
  }
  const range = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: `bytes=${bytes.length >> 1}-${(bytes.length >> 1) + 3}` } });
  assert.ok(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(bytes.length >> 1, (bytes.length >> 1) + 4)), "a range");
});

test("a cache file found at start that does not hash to its name (one bit flipped, same size) is never served", { timeout: 300_000 }, async (t) => {
  const c = await cachedBerth(t, "s3");
  const bytes = randomBytes(2 * 1024 * 1024 + 7);
  const digest = await c.admin.pushBlob("team/app", bytes);
  await fill(c, "team/app", digest, bytes);
  await c.berth.stop();
  await flipBit(cachedPath(c.cacheDir, digest));
  await c.berth.restart();
  const range = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: `bytes=${bytes.length >> 1}-${(bytes.length >> 1) + 3}` } });
  assert.ok(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(bytes.length >> 1, (bytes.length >> 1) + 4)), "a range");
  for (let i = 0; i < 2; i++) {
    const got = await bodyOrCut(c, "team/app", digest);
    assert.ok(got === null || got.equals(bytes), `pull ${i + 1}: ${got?.length} bytes hashing to ${got && sha256(got)}, not ${digest}`);
  }
});

test("garbage in the cache directory before start (a symlink under a digest name to a file of its size, a directory, stray files, leftovers in tmp/) is never served", { timeout: 300_000 }, async (t) => {
  const cacheDir = await tempDir(t, "attack-cache-garbage");
  const bytes = randomBytes(1024 * 1024 + 1);
  const other = randomBytes(bytes.length);
  const hexes = [sha256(bytes), sha256(randomBytes(8)), sha256(randomBytes(8))];
  const elsewhere = await tempDir(t, "attack-cache-elsewhere");
  await writeFile(join(elsewhere, "same-size"), other);
  for (const hex of hexes) await mkdir(join(cacheDir, "sha256", hex.slice(0, 2)), { recursive: true });
  await symlink(join(elsewhere, "same-size"), join(cacheDir, "sha256", hexes[0]!.slice(0, 2), hexes[0]!));
  await mkdir(join(cacheDir, "sha256", hexes[1]!.slice(0, 2), hexes[1]!));
  await writeFile(join(cacheDir, "sha256", hexes[2]!.slice(0, 2), "not-a-digest"), "x");
  await mkdir(join(cacheDir, "tmp"), { recursive: true });
  await writeFile(join(cacheDir, "tmp", "leftover"), randomBytes(100));
  await writeFile(join(cacheDir, "sha1"), "x");
  await mkdir(join(cacheDir, "sha512", "zz"), { recursive: true });

  const c = await cachedBerth(t, "s3", {}, cacheDir);
  const digest = await c.admin.pushBlob("team/app", bytes);
  for (let i = 0; i < 2; i++) {
    const got = await bodyOrCut(c, "team/app", digest);
    assert.ok(got === null || got.equals(bytes), `pull ${i + 1}: bytes hashing to ${got && sha256(got)}, not ${digest}`);
  }
  assert.deepEqual(await readdir(join(cacheDir, "tmp")).then((names) => names.filter((n) => n === "leftover")), [], "tmp/ emptied at start");
  assert.ok((await c.admin.getBlob("team/app", digest)).equals(bytes));
});

test("held: Berth killed (-9) in the middle of a fill starts again with tmp/ emptied, answers the blob whole and fills it", { timeout: 300_000 }, async (t) => {
  const c = await cachedBerth(t, "s3");
  const bytes = randomBytes(32 * 1024 * 1024 + 9);
  const digest = await c.admin.pushBlob("team/app", bytes);
  // A client that reads a little and stops: the fill has written part of the blob to tmp/.
  const aborter = new AbortController();
  const res = await fetch(`${c.berth.url}/v2/team/app/blobs/${digest}`, { headers: { authorization: c.berth.basicAuth }, signal: aborter.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  const tmp = join(c.cacheDir, "tmp");
  await until("part of the blob in tmp/", async () => {
    for (const name of await readdir(tmp)) if ((await stat(join(tmp, name)).catch(() => null))?.size) return true;
    return false;
  });
  await c.berth.kill();
  aborter.abort();
  await c.berth.restart();
  assert.deepEqual(await readdir(tmp), []);
  assert.equal(await exists(cachedPath(c.cacheDir, digest)), false);
  await fill(c, "team/app", digest, bytes);
  assert.ok((await c.admin.getBlob("team/app", digest)).equals(bytes), "a hit");
});

test("held: two instances sharing one cache directory (documented as unsupported) pull the same blobs at once: every answer whole and right", { timeout: 300_000 }, async (t) => {
  const shared = await tempDir(t, "attack-cache-shared");
  const cluster = await startStoreCluster("s3", 1, { redirect: false, env: { BERTH_STORAGE_CACHE_DIR: shared } });
  t.after(() => cluster.stop());
  const a = cluster.instances[0]!;
  const b = await startBerth({ env: { ...cluster.env, BERTH_STORAGE_CACHE_DIR: shared }, password: a.password });
  t.after(() => b.kill());
  const clients = [a, b].map((berth) => new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth }));
  const blobs = [randomBytes(5 * 1024 * 1024 + 1), randomBytes(300 * 1024), randomBytes(9 * 1024 * 1024 + 3)];
  const digests = await Promise.all(blobs.map((bytes) => clients[0]!.pushBlob("team/app", bytes)));
  for (let round = 0; round < 4; round++) {
    // A's cache is also rewritten under it by B's fills, and B's by A's evictions of what it thinks it holds.
    await Promise.all(blobs.flatMap((bytes, i) => clients.map(async (client) => {
      assert.ok((await client.getBlob("team/app", digests[i]!)).equals(bytes), `round ${round}, blob ${i}`);
    })));
  }
  // The bytes under each name are the digest's, whoever wrote them last.
  for (const [i, digest] of digests.entries()) {
    await until(`blob ${i} in the shared cache`, () => exists(cachedPath(shared, digest)));
  }
});

test("oras pulls right after the cached layer's file had a bit flipped; the manifest deleted and gc'd, the layer is 404 though its file is cached", { timeout: 300_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const c = await cachedBerth(t, "s3");
  const dir = await tempDir(t, "attack-cache-oras");
  const layer = randomBytes(6 * 1024 * 1024 + 1);
  await writeFile(join(dir, "layer.bin"), layer);
  const ref = `${c.berth.host}/team/app:v1`;
  const login = ["--plain-http", "-u", c.berth.username, "-p", c.berth.password];
  const pushed = await run(oras, ["push", ...login, ref, "layer.bin:application/octet-stream"], { cwd: dir });
  assert.equal(pushed.code, 0, pushed.stderr);
  const digest = `sha256:${sha256(layer)}`;
  const first = await run(oras, ["pull", ...login, "-o", join(dir, "one"), ref]);
  assert.equal(first.code, 0, first.stderr);
  await until("the layer in the cache", () => exists(cachedPath(c.cacheDir, digest)));

  await flipBit(cachedPath(c.cacheDir, digest));
  const second = await run(oras, ["pull", ...login, "-o", join(dir, "two"), ref]);
  assert.equal(second.code, 0, second.stderr);
  assert.ok((await readFile(join(dir, "two", "layer.bin"))).equals(layer));

  // The pull that found the file changed read the store without filling; the next one fills.
  await fill(c, "team/app", digest, layer);
  const deleted = await run(oras, ["manifest", "delete", "--force", ...login, ref]);
  assert.equal(deleted.code, 0, deleted.stderr);
  const gc = await c.berth.cli(["gc", "--grace-period", "0"]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.ok(await exists(cachedPath(c.cacheDir, digest)), "the file is still in the cache");
  const gone = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`);
  assert.equal(gone.status, 404);
  assert.equal(await errorCode(gone), "BLOB_UNKNOWN");
});

test("a cache directory that is a file stops the start with an error naming storage.cache.dir", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, "attack-cache-file");
  await writeFile(join(dir, "not-a-dir"), "x");
  const env = { ...process.env, BERTH_ADMIN_PASSWORD: "test-admin-password", BERTH_STORAGE_DRIVER: "s3", BERTH_STORAGE_S3_ENDPOINT: "http://127.0.0.1:9", BERTH_STORAGE_S3_REGION: "us-east-1", BERTH_STORAGE_S3_BUCKET: "b", BERTH_STORAGE_CACHE_DIR: join(dir, "not-a-dir") };
  const started = await runBerthCli(["serve", "--data", join(dir, "data"), "--port", "0"], env);
  assert.notEqual(started.code, 0);
  assert.match(started.stderr, /storage\.cache\.dir \(BERTH_STORAGE_CACHE_DIR\) .*not-a-dir cannot hold the read cache: ENOTDIR/);
});

test("on azure, a cache file truncated or extended (held before the fix) or bit-flipped while Berth runs: every pull whole and right, whole and ranged", { timeout: 300_000 }, async (t) => {
  const c = await cachedBerth(t, "azure");
  const bytes = randomBytes(2 * 1024 * 1024 + 13);
  const digest = await c.admin.pushBlob("team/app", bytes);
  const path = cachedPath(c.cacheDir, digest);
  const damages: [string, () => Promise<void>][] = [
    ["truncated", () => truncate(path, bytes.length >> 1)],
    ["extended", () => appendFile(path, "tail")],
    ["bit-flipped", () => flipBit(path)],
  ];
  for (const [what, damage] of damages) {
    await fill(c, "team/app", digest, bytes);
    await damage();
    const got = await bodyOrCut(c, "team/app", digest);
    assert.ok(got?.equals(bytes), `${what}: ${got?.length} bytes`);
    await fill(c, "team/app", digest, bytes);
    await damage();
    const tail = await c.admin.raw("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=-100" } });
    assert.equal(tail.status, 206);
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 100)), `${what}: a range`);
  }
});

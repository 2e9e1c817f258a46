// The read cache (blobs/read-cache.ts) in front of a store: a whole read fills it, later reads
// (ranges too) come from the file and not the store; bytes the store gets wrong are never cached;
// entries are evicted least recently used first to stay under maxBytes; a file gone or short
// (before or during the read) falls back to the store, never a cut answer; one fill per digest;
// a client gone mid-fill leaves nothing. Each runs against a store whose bodies write themselves
// (the filesystem's FileBody, as S3's S3Body does) and one with plain streams (as Azure's).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test, type TestContext } from "node:test";
import type { BlobDriver, ByteRange } from "../../src/blobs/blob-driver.ts";
import { blobKey, BlobStore } from "../../src/blobs/blob-store.ts";
import { FilesystemDriver } from "../../src/blobs/drivers/filesystem.ts";
import { ReadCache } from "../../src/blobs/read-cache.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { until } from "../support/until.ts";

function digestOf(bytes: Buffer): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;
}

type Kind = "self-writing" | "plain";

interface Setup {
  store: BlobStore;
  cache: ReadCache;
  dir: string;
  /** Store reads so far (driver.read calls). */
  reads: () => number;
  /** Puts bytes in the store under the digest (`as`: under another digest's key: wrong bytes). */
  put(bytes: Buffer, as?: Digest): Promise<Digest>;
}

async function setup(t: TestContext, kind: Kind, maxBytes = 1024 * 1024 * 1024): Promise<Setup> {
  const root = await mkdtemp(join(tmpdir(), "berth-read-cache-"));
  const files = new FilesystemDriver(join(root, "store"), { directWrites: false });
  let reads = 0;
  const driver = new Proxy(files, {
    get(target, prop) {
      if (prop !== "read") return Reflect.get(target, prop, target) as unknown;
      return async (key: string, range?: ByteRange) => {
        reads++;
        const body = await target.read(key, range);
        if (kind === "self-writing") return body;
        // A plain stream, as the Azure SDK's and S3's small reads are.
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(chunk as Buffer);
        return Readable.from(chunks.flatMap((c) => [c.subarray(0, 1000), c.subarray(1000)]).filter((c) => c.length > 0));
      };
    },
  }) as BlobDriver;
  const store = new BlobStore(driver);
  const dir = join(root, "cache");
  const cache = await store.useReadCache(dir, maxBytes);
  t.after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });
  return {
    store,
    cache,
    dir,
    reads: () => reads,
    async put(bytes, as) {
      const digest = as ?? digestOf(bytes);
      const key = join(root, "store", blobKey(digest));
      await mkdir(join(key, ".."), { recursive: true });
      await writeFile(key, bytes);
      return digest;
    },
  };
}

/** A pull: the whole blob (or `range`) as the HTTP layer reads it (writeTo), through a sink that takes its time. */
async function pull(s: Setup, digest: Digest, size: number, range?: ByteRange, onChunk?: (received: number) => void | Promise<void>): Promise<Buffer> {
  const body = (await s.store.open(digest, range ?? { start: 0, end: size - 1 }, { size })) as Readable & { writeTo?(out: Writable): Promise<void> };
  const parts: Buffer[] = [];
  let received = 0;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      parts.push(Buffer.from(chunk));
      received += chunk.length;
      Promise.resolve(onChunk?.(received)).then(() => setImmediate(done), done);
    },
  });
  // As http/send-body.ts does: a body that writes itself does, any other is piped.
  await (body.writeTo ? body.writeTo(sink) : pipeline(body, sink));
  return Buffer.concat(parts);
}

/** The same read as a plain stream (anything but the HTTP layer). */
async function readAll(s: Setup, digest: Digest, size: number, range?: ByteRange): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await s.store.open(digest, range, { size })) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

const filled = (s: Setup, count: number) => until(`${count} fills`, () => s.cache.stats().fills >= count);
const dropped = (s: Setup, reason: string) => until(`a fill dropped (${reason})`, () => (s.cache.stats().fillsDropped[reason] ?? 0) > 0);

for (const kind of ["self-writing", "plain"] as const) {
  test(`read cache (${kind}): a whole read fills it; the next reads, ranges too, come from the file, not the store`, async (t) => {
    const s = await setup(t, kind);
    const data = randomBytes(9 * 1024 * 1024 + 123);
    const digest = await s.put(data);
    assert.ok((await pull(s, digest, data.length)).equals(data));
    await filled(s, 1);
    assert.ok(await exists(s.cache.pathOf(digest)));
    const readsAfterFill = s.reads();
    assert.ok((await pull(s, digest, data.length)).equals(data));
    assert.ok((await readAll(s, digest, data.length)).equals(data));
    const range = { start: 5_000_000, end: 8_000_000 };
    assert.ok((await pull(s, digest, data.length, range)).equals(data.subarray(range.start, range.end + 1)));
    assert.ok((await readAll(s, digest, data.length, range)).equals(data.subarray(range.start, range.end + 1)));
    assert.equal(s.reads(), readsAfterFill, "no store read after the fill");
    assert.deepEqual({ ...s.cache.stats(), fillsDropped: undefined }, { hits: 4, misses: 1, fills: 1, evictions: 0, bytes: data.length, entries: 1, fillsDropped: undefined });
    assert.deepEqual(await readdir(join(s.dir, "tmp")), []);
  });

  test(`read cache (${kind}): a range read on a miss comes from the store and fills nothing`, async (t) => {
    const s = await setup(t, kind);
    const data = randomBytes(100_000);
    const digest = await s.put(data);
    assert.ok((await pull(s, digest, data.length, { start: 10, end: 99 })).equals(data.subarray(10, 100)));
    assert.equal(await exists(s.cache.pathOf(digest)), false);
    assert.equal(s.cache.stats().entries, 0);
  });

  test(`read cache (${kind}): bytes the store gets wrong are answered as they are, never cached`, async (t) => {
    const s = await setup(t, kind);
    const right = randomBytes(5 * 1024 * 1024);
    const wrong = randomBytes(right.length);
    const digest = await s.put(wrong, digestOf(right));
    // The store's answer is passed on (the client's digest check refuses it); the cache keeps nothing.
    assert.ok((await pull(s, digest, right.length)).equals(wrong));
    await dropped(s, "mismatch");
    assert.equal(await exists(s.cache.pathOf(digest)), false);
    assert.equal(s.cache.stats().entries, 0);
    assert.deepEqual(await readdir(join(s.dir, "tmp")), []);
    // A store answering short is no fill either.
    const short = await s.put(randomBytes(1000));
    await pull(s, short, 1000, { start: 0, end: 999 });
    await filled(s, 1);
    const before = s.cache.stats().fillsDropped.mismatch ?? 0;
    assert.ok((await readAll(s, digestOf(right), right.length)).equals(wrong)); // still the store's
    await until("the second mismatch", () => (s.cache.stats().fillsDropped.mismatch ?? 0) > before);
  });

  test(`read cache (${kind}): past maxBytes the least recently used entries go`, async (t) => {
    const size = 1024 * 1024;
    const s = await setup(t, kind, Math.floor(2.5 * size));
    const blobs = [randomBytes(size), randomBytes(size), randomBytes(size)];
    const [a, b, c] = await Promise.all(blobs.map((bytes) => s.put(bytes)));
    await pull(s, a!, size);
    await filled(s, 1);
    await pull(s, b!, size);
    await filled(s, 2);
    await pull(s, a!, size); // a hit: a is now the most recently used
    await pull(s, c!, size);
    await filled(s, 3);
    assert.equal(await exists(s.cache.pathOf(b!)), false, "b, least recently used, evicted");
    assert.ok(await exists(s.cache.pathOf(a!)));
    assert.ok(await exists(s.cache.pathOf(c!)));
    assert.deepEqual({ evictions: s.cache.stats().evictions, bytes: s.cache.stats().bytes, entries: s.cache.stats().entries }, { evictions: 1, bytes: 2 * size, entries: 2 });
    // A blob larger than the cache is never filled.
    const large = randomBytes(3 * size);
    const d = await s.put(large);
    assert.ok((await pull(s, d, large.length)).equals(large));
    assert.equal(await exists(s.cache.pathOf(d)), false);
  });

  test(`read cache (${kind}): a cached file gone or short falls back to the store, whole`, async (t) => {
    const s = await setup(t, kind);
    const data = randomBytes(16 * 1024 * 1024);
    const digest = await s.put(data);
    await pull(s, digest, data.length);
    await filled(s, 1);
    // Gone (the directory wiped): the store answers, and the entry is dropped.
    await rm(s.dir, { recursive: true, force: true });
    let reads = s.reads();
    assert.ok((await pull(s, digest, data.length)).equals(data));
    assert.equal(s.reads(), reads + 1);
    assert.equal(s.cache.stats().entries, 0);
    // The next whole read fills it again (the directory is made again).
    await pull(s, digest, data.length);
    await filled(s, 2);
    // Short when opened.
    await truncate(s.cache.pathOf(digest), data.length - 10);
    reads = s.reads();
    assert.ok((await pull(s, digest, data.length, { start: 100, end: data.length - 1 })).equals(data.subarray(100)));
    assert.equal(s.reads(), reads + 1);
    assert.equal(s.cache.stats().entries, 0);
    // Short halfway through the read: the rest comes from the store.
    await pull(s, digest, data.length);
    await filled(s, 3);
    let cut = false;
    const answer = await pull(s, digest, data.length, undefined, async () => {
      if (cut) return;
      cut = true;
      await truncate(s.cache.pathOf(digest), 4 * 1024 * 1024);
    });
    assert.ok(answer.equals(data), "whole and right");
    assert.equal(s.cache.stats().entries, 0);
  });

  test(`read cache (${kind}): two reads of one digest at once fill it once`, async (t) => {
    const s = await setup(t, kind);
    const data = randomBytes(6 * 1024 * 1024);
    const digest = await s.put(data);
    const [one, two] = await Promise.all([pull(s, digest, data.length), pull(s, digest, data.length)]);
    assert.ok(one.equals(data) && two.equals(data));
    await filled(s, 1);
    assert.equal(s.reads(), 2);
    assert.deepEqual(s.cache.stats().fillsDropped, {});
    assert.deepEqual(await readdir(join(s.dir, "tmp")), []);
    assert.ok((await pull(s, digest, data.length)).equals(data));
    assert.equal(s.reads(), 2);
  });

  test(`read cache (${kind}): a client gone mid-fill leaves nothing`, async (t) => {
    const s = await setup(t, kind);
    const data = randomBytes(12 * 1024 * 1024);
    const digest = await s.put(data);
    const body = (await s.store.open(digest, { start: 0, end: data.length - 1 }, { size: data.length })) as Readable & { writeTo(out: Writable): Promise<void> };
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > 2 * 1024 * 1024) return sink.destroy();
        setImmediate(done);
      },
    });
    await assert.rejects(body.writeTo(sink));
    await dropped(s, "aborted");
    assert.equal(await exists(s.cache.pathOf(digest)), false);
    assert.deepEqual(await readdir(join(s.dir, "tmp")), []);
    assert.equal(s.cache.stats().entries, 0);
    // The next pull fills it.
    assert.ok((await pull(s, digest, data.length)).equals(data));
    await filled(s, 1);
  });
}

test("read cache: a start keeps the entries it finds (oldest first) and deletes what a fill left in tmp/", async (t) => {
  const s = await setup(t, "self-writing");
  const data = randomBytes(2 * 1024 * 1024);
  const digest = await s.put(data);
  await pull(s, digest, data.length);
  await filled(s, 1);
  await writeFile(join(s.dir, "tmp", "left-by-a-crash"), "x");
  const again = await ReadCache.open(s.dir, 1024 * 1024 * 1024, () => assert.fail("no fill"));
  assert.deepEqual(await readdir(join(s.dir, "tmp")), []);
  await again.restored;
  assert.equal(again.stats().entries, 1);
  // Opened smaller than what it holds: evicted down to the new bound.
  const smaller = await ReadCache.open(s.dir, 1024 * 1024, () => assert.fail("no fill"));
  await smaller.restored;
  assert.equal(smaller.stats().entries, 0);
  assert.equal(await exists(s.cache.pathOf(digest)), false);
});

test("read cache: a fill whose disk or hash falls behind the client is dropped, and the client's pull goes on at its own pace", async (t) => {
  const s = await setup(t, "self-writing");
  // More than a fill may hold in slots (64 MiB) while its disk lags.
  const data = randomBytes(72 * 1024 * 1024);
  const digest = await s.put(data);
  // A hash that answers nothing until the pull is over: every slot stays busy.
  let answer = () => {};
  const stalled = new Promise<void>((resolve) => (answer = resolve));
  const hash = { algorithm: "sha256" as const, see: () => stalled, digest: () => Promise.resolve(digest), digestSoFar: () => Promise.resolve(digest), dispose() {} };
  const dir = join(s.dir, "..", "slow-cache");
  const slow = await ReadCache.open(dir, 1024 * 1024 * 1024, () => hash);
  const body = (await slow.read(digest, data.length, undefined, (range) => s.store.open(digest, range))) as Readable & { writeTo(out: Writable): Promise<void> };
  const parts: Buffer[] = [];
  await body.writeTo(new Writable({ write: (chunk: Buffer, _encoding, done) => (parts.push(Buffer.from(chunk)), done()) }));
  assert.ok(Buffer.concat(parts).equals(data));
  assert.deepEqual(slow.stats().fillsDropped, {}, "counted once the slots' work is over");
  answer();
  await until("the fill dropped as behind", () => slow.stats().fillsDropped.behind === 1);
  assert.deepEqual(await readdir(join(dir, "tmp")), []);
  assert.equal(await exists(slow.pathOf(digest)), false);
});

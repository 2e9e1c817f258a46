// The blob store's write and read paths on a real filesystem: bytes written through the slot
// ring (direct I/O for aligned blocks, the page cache for heads and tails) and hashed on a worker
// thread come back byte for byte with the right digest, whatever the chunking and offsets; the
// same holds with direct writes switched off; reads write ranges exactly.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { test, type TestContext } from "node:test";
import { BlobStore } from "../../src/blobs/blob-store.ts";
import { CacheFill } from "../../src/blobs/drivers/cache-fill.ts";
import { DIRECT_READ_BYTES, DIRECT_READ_MIN, DIRECT_SETS_MAX, FileBody, READ_BYTES } from "../../src/blobs/drivers/file-body.ts";
import { FilesystemDriver } from "../../src/blobs/drivers/filesystem.ts";
import { SLOT_BYTES, SlotWriter } from "../../src/blobs/drivers/slot-writer.ts";
import type { ChunkSource } from "../../src/blobs/fast-paths.ts";
import type { Digest } from "../../src/domain/digest.ts";

async function storeIn(t: TestContext, directWrites = true): Promise<{ store: BlobStore; root: string }> {
  const root = await mkdtemp(join(tmpdir(), "berth-blob-io-"));
  const store = new BlobStore(new FilesystemDriver(root, { directWrites }));
  t.after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });
  return { store, root };
}

function digestOf(bytes: Buffer, algorithm: "sha256" | "sha512" = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}` as Digest;
}

/** `bytes` cut into chunks of the given sizes, repeated until all bytes are out. */
function chunked(bytes: Buffer, sizes: number[]): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(chunks);
}

async function readAll(store: BlobStore, digest: Digest, range?: { start: number; end: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await store.open(digest, range)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function writeToSink(store: BlobStore, digest: Digest, range?: { start: number; end: number }): Promise<Buffer> {
  const body = (await store.open(digest, range)) as Readable & { writeTo(out: Writable): Promise<void> };
  const parts: Buffer[] = [];
  // A slow consumer: each write completes a tick later, so buffers really queue.
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      parts.push(Buffer.from(chunk));
      setImmediate(done);
    },
  });
  await body.writeTo(sink);
  return Buffer.concat(parts);
}

const sizes = [
  { name: "empty", bytes: 0 },
  { name: "one byte", bytes: 1 },
  { name: "a block less one", bytes: 4095 },
  { name: "a block and one", bytes: 4097 },
  { name: "slots and a tail", bytes: 5 * SLOT_BYTES + 12_345 },
];

for (const { name, bytes } of sizes) {
  test(`receive: ${name} (${bytes} bytes) in odd chunks comes back byte for byte`, async (t) => {
    const { store } = await storeIn(t);
    const data = randomBytes(bytes);
    const digest = digestOf(data);
    // Declared large, so the hash runs on a worker thread even for the small ones.
    const staged = await store.receive(chunked(data, [1, 7, 65_536, 100_003]), digest, undefined, 64 * 1024 * 1024);
    assert.equal(staged.digest, digest);
    assert.equal(staged.size, bytes);
    await store.publish(staged);
    assert.deepEqual(await readAll(store, digest), data);
    assert.deepEqual(await writeToSink(store, digest), data);
  });
}

test("a body that hands over its chunks (ChunkSource): waits mid-chunk, and no chunk is read after it was let go", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "berth-blob-io-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const data = randomBytes(6 * SLOT_BYTES + 777);
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = [65_536, 3, 100_003][i % 3]!;
    chunks.push(Buffer.from(data.subarray(at, at + size))); // copies: each is scribbled on once let go
    at += size;
  }
  let waits = 0;
  const source: ChunkSource = {
    async *[Symbol.asyncIterator]() {
      throw new Error("a ChunkSource must be taken through eachChunk");
    },
    async eachChunk(take) {
      for (const chunk of chunks) {
        const wait = take(chunk);
        if (wait) {
          waits++;
          await wait;
        }
        chunk.fill(0xff); // the writer may not look at it any more
      }
    },
  };
  // A slow hash, so the ring fills and the writer has to wait for slots in the middle of chunks.
  const seen = createHash("sha256");
  const tap = { see: (bytes: Uint8Array) => new Promise<void>((ok) => setTimeout(() => (seen.update(bytes), ok()), 2)) };
  const path = join(root, "blob");
  const written = await new SlotWriter().write(path, source, { durable: true, tap });
  assert.equal(written, data.length);
  assert.ok(waits > 0, "the writer never had to wait: the test did not exercise the waits");
  assert.deepEqual(await readFile(path), data);
  assert.equal(`sha256:${seen.digest("hex")}`, digestOf(data));
});

test("receive: sha512 on the hashing thread; a wrong digest stores nothing", async (t) => {
  const { store, root } = await storeIn(t);
  const data = randomBytes(3 * SLOT_BYTES + 5);
  const staged = await store.receive(Readable.from([data]), digestOf(data, "sha512"));
  assert.equal(staged.digest, digestOf(data, "sha512"));
  await store.discard(staged);
  await assert.rejects(store.receive(Readable.from([data]), digestOf(Buffer.from("something else"))), /does not match/);
  assert.deepEqual(await readdir(join(root, "uploads")), []);
});

test("chunked upload: appends at unaligned offsets, across a restart of the hash state", async (t) => {
  const { store, root } = await storeIn(t);
  const data = randomBytes(2 * SLOT_BYTES + 777_777);
  const cuts = [1000, 4096, 5000, SLOT_BYTES + 3, 700_001];
  let session = await store.startUpload();
  let at = 0;
  for (const [i, cut] of cuts.entries()) {
    session = await store.appendUpload(session, chunked(data.subarray(at, at + cut), [333, 65_536]));
    at += cut;
    assert.equal(session.offset, at);
    // Another store over the same files (a restart): the hash is rebuilt from the stored bytes.
    if (i === 2) {
      const again = new BlobStore(new FilesystemDriver(root));
      t.after(() => again.close());
      session = await again.appendUpload(session, chunked(data.subarray(at, at + 10), [3]));
      at += 10;
    }
  }
  session = await store.appendUpload(session, Readable.from([data.subarray(at)]));
  const staged = await store.finishUpload(session, digestOf(data));
  await store.publish(staged);
  assert.deepEqual(await readAll(store, digestOf(data)), data);
});

test("an append cut off by the client leaves the upload where it was good", async (t) => {
  const { store } = await storeIn(t);
  const data = randomBytes(SLOT_BYTES + 100);
  let session = await store.startUpload();
  session = await store.appendUpload(session, Readable.from([data.subarray(0, 5000)]));
  const broken = new PassThrough();
  const failing = store.appendUpload(session, broken);
  broken.write(data.subarray(5000, 9000));
  setTimeout(() => broken.destroy(new Error("client went away")), 20);
  await assert.rejects(failing, /client went away/);
  // The client resumes from the last offset it was told about.
  session = await store.appendUpload(session, Readable.from([data.subarray(5000)]));
  const staged = await store.finishUpload(session, digestOf(data));
  assert.equal(staged.size, data.length);
});

test("an aborted write leaves no file behind", async (t) => {
  const { store, root } = await storeIn(t);
  const controller = new AbortController();
  const body = new PassThrough();
  const receiving = store.receive(body, digestOf(Buffer.from("x")), controller.signal, 1 << 30);
  body.write(randomBytes(3 * SLOT_BYTES));
  setTimeout(() => {
    controller.abort();
    body.write(randomBytes(10));
  }, 20);
  await assert.rejects(receiving);
  assert.deepEqual(await readdir(join(root, "uploads")), []);
});

test("ranges: read and writeTo return exactly the bytes asked for", async (t) => {
  const { store } = await storeIn(t);
  const data = randomBytes(4 * 1024 * 1024 + 3);
  const staged = await store.receive(Readable.from([data]), digestOf(data));
  await store.publish(staged);
  for (const range of [{ start: 0, end: 0 }, { start: 4095, end: 4097 }, { start: 1024 * 1024 - 1, end: 3 * 1024 * 1024 + 1 }, { start: 10, end: data.length - 1 }]) {
    const expected = data.subarray(range.start, range.end + 1);
    assert.deepEqual(await readAll(store, digestOf(data), range), expected);
    assert.deepEqual(await writeToSink(store, digestOf(data), range), expected);
  }
});

test("writeTo: a response that closes mid-body rejects and leaves nothing open", async (t) => {
  const { store } = await storeIn(t);
  const data = randomBytes(8 * 1024 * 1024);
  const staged = await store.receive(Readable.from([data]), digestOf(data));
  await store.publish(staged);
  const body = (await store.open(digestOf(data))) as Readable & { writeTo(out: Writable): Promise<void> };
  let taken = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      taken += chunk.length;
      if (taken > 1024 * 1024) sink.destroy();
      setImmediate(done);
    },
  });
  await assert.rejects(body.writeTo(sink), /went away|destroyed|premature/i);
  assert.ok(body.destroyed);
});

test("without direct writes (storage.directWrites: false) every path still holds", async (t) => {
  const { store, root } = await storeIn(t, false);
  const data = randomBytes(3 * SLOT_BYTES + 4097);
  const staged = await store.receive(chunked(data, [65_536, 17]), digestOf(data));
  await store.publish(staged);
  assert.deepEqual(await readFile(join(root, "blobs", "sha256", digestOf(data).slice(7, 9), digestOf(data).slice(7))), data);
  let session = await store.startUpload();
  session = await store.appendUpload(session, Readable.from([data.subarray(0, 1001)]));
  session = await store.appendUpload(session, chunked(data.subarray(1001), [4096, 3]));
  assert.equal((await store.finishUpload(session, digestOf(data))).size, data.length);
});

test("a blob written past the page cache is read past it, byte for byte, until the background fill read it through the cache", async (t) => {
  const { store } = await storeIn(t);
  const driver = store.driver as FilesystemDriver;
  // Not a whole number of blocks or read buffers, so the last direct read comes back short.
  const data = randomBytes(DIRECT_READ_MIN + 3 * READ_BYTES + 12_345);
  const digest = digestOf(data);
  const key = `blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`;
  await store.publish(await store.receive(chunked(data, [65_536, 4097]), digest));
  // The machine's filesystem takes O_DIRECT (ext4, xfs, tmpfs on Linux 6.6+); where it does not,
  // nothing is remembered and every read goes through the page cache.
  const direct = driver.slots.writesDirect;
  assert.equal(driver.readsDirect(key), direct, "a push that went past the page cache is remembered under the blob's key");
  const first = (await store.open(digest)) as FileBody;
  const second = (await store.open(digest)) as FileBody;
  assert.equal(first.direct, direct);
  assert.equal(second.direct, direct, "a read before the fill completed goes direct too");
  const sent: Buffer[] = [];
  await first.writeTo(new Writable({ write: (chunk: Buffer, _e, done) => (sent.push(Buffer.from(chunk)), setImmediate(done)) }));
  assert.deepEqual(Buffer.concat(sent), data);
  second.destroy();
  await driver.cacheFill.idle();
  assert.equal(driver.cacheFill.filled, direct ? 1 : 0, "a file read direct is read through the page cache once, in the background");
  assert.equal(driver.readsDirect(key), false, "after the fill, reads go through the page cache");
  const third = (await store.open(digest)) as FileBody;
  assert.equal(third.direct, false);
  third.destroy();
  assert.deepEqual(await writeToSink(store, digestOf(data)), data);
});

test("direct reads of ranges: unaligned starts and ends, across read buffers, up to the file's last byte", async (t) => {
  const data = randomBytes(DIRECT_READ_MIN + 2 * READ_BYTES + 777);
  const digest = digestOf(data);
  const ranges = [
    { start: 0, end: DIRECT_READ_MIN - 1 },
    { start: 1, end: DIRECT_READ_MIN + 1 },
    { start: 4095, end: data.length - 1 },
    { start: READ_BYTES + 4097, end: READ_BYTES + 4097 + DIRECT_READ_MIN + 5 },
    { start: 5, end: data.length - 2 },
  ];
  for (const range of ranges) {
    // Each range read is the first after its own push: a fresh store each time, so the read goes direct.
    const { store } = await storeIn(t);
    await store.publish(await store.receive(Readable.from([data]), digest));
    const body = (await store.open(digest, range)) as FileBody;
    assert.equal(body.direct, (store.driver as FilesystemDriver).slots.writesDirect, `range ${range.start}-${range.end} read direct`);
    const sent: Buffer[] = [];
    await body.writeTo(new Writable({ write: (chunk: Buffer, _e, done) => (sent.push(Buffer.from(chunk)), setImmediate(done)) }));
    assert.deepEqual(Buffer.concat(sent), data.subarray(range.start, range.end + 1), `range ${range.start}-${range.end}`);
  }
});

test("direct reads in blocks of their own size: ranges across several blocks and their edges, and more pulls at once than aligned sets", async (t) => {
  // Four blocks and a piece, so a read ahead of three wraps around the set and the last comes back short.
  const data = randomBytes(4 * DIRECT_READ_BYTES + 12_345);
  const digest = digestOf(data);
  const ranges = [
    { start: 0, end: data.length - 1 },
    { start: DIRECT_READ_BYTES - 1, end: 2 * DIRECT_READ_BYTES },
    { start: DIRECT_READ_BYTES + 4095, end: 4 * DIRECT_READ_BYTES + 1 },
    { start: 3, end: 3 * DIRECT_READ_BYTES + 4096 },
  ];
  for (const range of ranges) {
    const { store } = await storeIn(t);
    await store.publish(await store.receive(Readable.from([data]), digest));
    const body = (await store.open(digest, range)) as FileBody;
    const sent: Buffer[] = [];
    await body.writeTo(new Writable({ write: (chunk: Buffer, _e, done) => (sent.push(Buffer.from(chunk)), setImmediate(done)) }));
    assert.deepEqual(Buffer.concat(sent), data.subarray(range.start, range.end + 1), `range ${range.start}-${range.end}`);
  }
  // Pulls of a file not in the cache beyond the aligned sets allowed read through the cache instead:
  // every one gets every byte, and a pull after them goes direct again (the sets were given back).
  const { store } = await storeIn(t);
  const driver = store.driver as FilesystemDriver;
  await store.publish(await store.receive(Readable.from([data]), digest));
  const bodies = await Promise.all(Array.from({ length: DIRECT_SETS_MAX + 2 }, () => store.open(digest) as Promise<FileBody>));
  const outputs = await Promise.all(
    bodies.map(async (body) => {
      const sent: Buffer[] = [];
      await body.writeTo(new Writable({ write: (chunk: Buffer, _e, done) => (sent.push(Buffer.from(chunk)), setTimeout(done, 1)) }));
      return Buffer.concat(sent);
    }),
  );
  for (const output of outputs) assert.ok(output.equals(data), "each pull at once read every byte");
  await driver.cacheFill.idle();
  assert.equal(driver.readsDirect(`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`), false, "after them the file is read through the cache");
  assert.ok((await Promise.all(Array.from({ length: 3 }, () => readAll(store, digest)))).every((b) => b.equals(data)));
});

test("a chunked upload written past the page cache is read past it after publish; directWrites: false never reads direct", async (t) => {
  for (const directWrites of [true, false]) {
    const { store } = await storeIn(t, directWrites);
    const data = randomBytes(DIRECT_READ_MIN + 5);
    let session = store.startUpload();
    session = await store.appendUpload(session, Readable.from([data.subarray(0, 3 * READ_BYTES + 1)]));
    session = await store.appendUpload(session, Readable.from([data.subarray(3 * READ_BYTES + 1)]));
    await store.publish(await store.finishUpload(session, digestOf(data)));
    const body = (await store.open(digestOf(data))) as FileBody;
    assert.equal(body.direct, directWrites && (store.driver as FilesystemDriver).slots.writesDirect);
    body.destroy();
    assert.deepEqual(await readAll(store, digestOf(data)), data);
  }
});

test("the background cache fill reads each queued file once and skips one deleted meanwhile", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-fill-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const present = join(dir, "present");
  await writeFile(present, randomBytes(3 * 1024 * 1024 + 5));
  const filled: string[] = [];
  const fill = new CacheFill((path) => filled.push(path));
  fill.add(join(dir, "gone"));
  fill.add(present);
  fill.add(present);
  await fill.idle();
  assert.deepEqual(filled, [present]);
});

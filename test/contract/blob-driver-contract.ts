// The blob driver contract: what every BlobDriver (src/blobs/blob-driver.ts) must do, whatever
// storage is under it, plus what the BlobStore over it promises (a resumed upload hashes to the
// right digest after a restart; failed writes leave nothing). A backend joins by calling
// blobDriverContract() with a factory (test/contract/filesystem.test.ts); the same assertions then
// hold on the filesystem today and on S3 and Azure Blob later. Shaped after distribution's
// registry/storage/driver/testsuites.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { describe, test, type TestContext } from "node:test";
import type { BlobDriver } from "../../src/blobs/blob-driver.ts";
import { BlobStore, blobKey, UPLOAD_PREFIX } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";

export interface BlobDriverFixture {
  driver: BlobDriver;
  /** A second driver over the same storage, as a restarted process (or another instance) opens it. */
  reopen(): Promise<BlobDriver>;
  /** Removes what the factory created (a directory, a bucket prefix, a container). */
  close(): Promise<void>;
}

/** Makes an empty store: one per test. */
export type BlobDriverFactory = () => Promise<BlobDriverFixture>;

async function fresh(t: TestContext, factory: BlobDriverFactory): Promise<BlobDriverFixture> {
  const fixture = await factory();
  t.after(() => fixture.close());
  return fixture;
}

/** `bytes` as a source in chunks of the given sizes (repeated until all bytes are out). */
async function* chunks(bytes: Uint8Array, sizes: number[] = [bytes.length || 1]): AsyncIterable<Uint8Array> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + size);
    at += size;
    if (i % 4 === 3) await new Promise((resolve) => setImmediate(resolve)); // let other writers in
  }
}

async function readAll(body: Readable | Promise<Readable>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await body) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function keysUnder(driver: BlobDriver, prefix: string): Promise<string[]> {
  const keys = [];
  for await (const entry of driver.list(prefix)) keys.push(entry.key);
  return keys.sort();
}

const sha256 = (bytes: Uint8Array): Digest => `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;
const missing = { code: "ENOENT" };

export function blobDriverContract(backend: string, factory: BlobDriverFactory): void {
  describe(`blob driver contract (${backend})`, () => {
    describe("write, stat, read", () => {
      test("write returns the byte count; stat tells size and a recent time; read returns the bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(1_300_007); // past a 512 KiB slot, odd length
        const before = Date.now();
        assert.equal(await driver.write("a/b/c/object", chunks(bytes, [65_536, 7, 300_001])), bytes.length);
        const info = await driver.stat("a/b/c/object");
        assert.equal(info?.size, bytes.length);
        assert.ok(info!.modified.getTime() >= before - 2000 && info!.modified.getTime() <= Date.now() + 2000, "modified is about now");
        assert.ok((await readAll(driver.read("a/b/c/object"))).equals(bytes));
      });

      test("an empty write makes an empty object", async (t) => {
        const { driver } = await fresh(t, factory);
        assert.equal(await driver.write("empty", chunks(new Uint8Array(0))), 0);
        assert.equal((await driver.stat("empty"))?.size, 0);
        assert.equal((await readAll(driver.read("empty"))).length, 0);
      });

      test("a write replaces what the key held, leaving none of the old bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("k", chunks(randomBytes(100_000)));
        const shorter = randomBytes(10);
        await driver.write("k", chunks(shorter));
        assert.equal((await driver.stat("k"))?.size, 10);
        assert.ok((await readAll(driver.read("k"))).equals(shorter));
      });

      test("ranges: first byte, last byte, a middle run, the whole object, a one-byte object", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(3 * 1024 * 1024 + 5); // past the 1 MiB read blocks
        await driver.write("k", chunks(bytes, [1_000_000]));
        const last = bytes.length - 1;
        for (const [start, end] of [[0, 0], [last, last], [1_048_575, 1_048_577], [17, 2_500_000], [0, last]] as const) {
          assert.ok((await readAll(driver.read("k", { start, end }))).equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
        }
        await driver.write("one", chunks(Buffer.from("x")));
        assert.equal((await readAll(driver.read("one", { start: 0, end: 0 }))).toString(), "x");
      });

      test("tap sees every byte written, in order", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(1_100_003);
        const seen: Buffer[] = [];
        const tap = { see: async (view: Uint8Array) => void seen.push(Buffer.from(view)) }; // copied: the view is reused
        await driver.write("k", chunks(bytes, [4096, 333_333]), { tap, durable: true });
        assert.ok(Buffer.concat(seen).equals(bytes));
      });
    });

    describe("missing keys", () => {
      test("stat answers null, read rejects with ENOENT, delete and touch do nothing, move rejects with ENOENT", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("dir/present", chunks(Buffer.from("x")));
        assert.equal(await driver.stat("nope"), null);
        assert.equal(await driver.stat("dir/nope"), null);
        assert.equal(await driver.stat("dir/present/below"), null);
        assert.equal(await driver.stat("dir"), null, "a prefix is not an object");
        await assert.rejects(driver.read("nope"), missing);
        await assert.rejects(driver.read("dir/nope", { start: 0, end: 0 }), missing);
        await driver.delete("nope");
        await driver.delete("dir/nope");
        await driver.touch("nope");
        assert.equal(await driver.stat("nope"), null, "touch does not create");
        await assert.rejects(driver.move("nope", "elsewhere"), missing);
        assert.equal(await driver.stat("elsewhere"), null);
        assert.deepEqual(await keysUnder(driver, "nothing"), []);
      });
    });

    describe("append", () => {
      test("appendAt adds after the given length, cutting off what lay past it", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("u", chunks(Buffer.from("hello")));
        assert.equal(await driver.write("u", chunks(Buffer.from(" world")), { appendAt: 5 }), 6);
        assert.equal((await readAll(driver.read("u"))).toString(), "hello world");
        await driver.write("u", chunks(Buffer.from("p!")), { appendAt: 3 });
        assert.equal((await readAll(driver.read("u"))).toString(), "help!");
        assert.equal(await driver.write("u", chunks(new Uint8Array(0)), { appendAt: 4, durable: true }), 0);
        assert.equal((await readAll(driver.read("u"))).toString(), "help", "an empty append cuts back");
      });

      test("appendAt past the object's end is refused (ESHORT) and changes nothing", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("u", chunks(Buffer.from("abc")));
        await assert.rejects(driver.write("u", chunks(Buffer.from("x")), { appendAt: 4 }), { code: "ESHORT" });
        assert.equal((await readAll(driver.read("u"))).toString(), "abc");
      });

      test("large appends at odd offsets come back byte for byte; the tap sees only the appended bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        const parts = [randomBytes(700_001), randomBytes(5), randomBytes(1_200_000)];
        let offset = 0;
        for (const part of parts) {
          const seen: Buffer[] = [];
          const tap = { see: async (view: Uint8Array) => void seen.push(Buffer.from(view)) };
          offset += await driver.write("u", chunks(part, [65_536]), offset === 0 ? { tap } : { appendAt: offset, tap });
          assert.ok(Buffer.concat(seen).equals(part));
        }
        assert.ok((await readAll(driver.read("u"))).equals(Buffer.concat(parts)));
      });
    });

    describe("failed writes", () => {
      test("an aborted write of a new key leaves nothing under it", async (t) => {
        const { driver } = await fresh(t, factory);
        const abort = new AbortController();
        async function* body() {
          yield randomBytes(600_000);
          abort.abort();
          yield randomBytes(600_000);
        }
        await assert.rejects(driver.write("uploads/put-1", body(), { signal: abort.signal }));
        assert.equal(await driver.stat("uploads/put-1"), null);
        assert.deepEqual(await keysUnder(driver, "uploads"), []);
      });

      test("a source that fails midway leaves nothing under a new key", async (t) => {
        const { driver } = await fresh(t, factory);
        async function* body() {
          yield randomBytes(700_000);
          throw new Error("client went away");
        }
        await assert.rejects(driver.write("uploads/put-2", body()), /client went away/);
        assert.equal(await driver.stat("uploads/put-2"), null);
      });

      test("a failed append leaves the object as it was before the append", async (t) => {
        const { driver } = await fresh(t, factory);
        const held = randomBytes(100_003);
        await driver.write("u", chunks(held));
        const abort = new AbortController();
        async function* body() {
          yield randomBytes(900_000);
          abort.abort();
          yield randomBytes(10);
        }
        await assert.rejects(driver.write("u", body(), { appendAt: held.length, signal: abort.signal }));
        assert.equal((await driver.stat("u"))?.size, held.length);
        assert.ok((await readAll(driver.read("u"))).equals(held));
      });
    });

    describe("move, touch, delete, list", () => {
      test("move makes `from` visible as `to`, replacing what `to` held; `from` is gone", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(50_000);
        await driver.write("uploads/x", chunks(bytes));
        await driver.write("blobs/sha256/ab/abc", chunks(Buffer.from("stale bytes")));
        await driver.move("uploads/x", "blobs/sha256/ab/abc");
        assert.equal(await driver.stat("uploads/x"), null);
        await assert.rejects(driver.read("uploads/x"), missing);
        assert.ok((await readAll(driver.read("blobs/sha256/ab/abc"))).equals(bytes));
        await driver.move("blobs/sha256/ab/abc", "new/deep/path/to/it");
        assert.ok((await readAll(driver.read("new/deep/path/to/it"))).equals(bytes));
        // Nothing written to the old name afterwards reaches the new one.
        await driver.write("blobs/sha256/ab/abc", chunks(Buffer.from("other")));
        assert.ok((await readAll(driver.read("new/deep/path/to/it"))).equals(bytes));
      });

      test("touch moves the modification time forward and keeps the bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("k", chunks(Buffer.from("bytes")));
        const first = (await driver.stat("k"))!.modified.getTime();
        await new Promise((resolve) => setTimeout(resolve, 1100)); // past a one-second clock
        await driver.touch("k");
        const touched = (await driver.stat("k"))!;
        assert.ok(touched.modified.getTime() > first, `${touched.modified.getTime()} > ${first}`);
        assert.equal((await readAll(driver.read("k"))).toString(), "bytes");
      });

      test("delete removes the object and may be repeated", async (t) => {
        const { driver } = await fresh(t, factory);
        await driver.write("d/k", chunks(Buffer.from("x")));
        await driver.write("d/k2", chunks(Buffer.from("y")));
        await driver.delete("d/k");
        await driver.delete("d/k");
        assert.equal(await driver.stat("d/k"), null);
        assert.equal((await driver.stat("d/k2"))?.size, 1);
      });

      test("list(prefix) yields every object under the folder `prefix/` at any depth, with full keys and sizes", async (t) => {
        const { driver } = await fresh(t, factory);
        const objects: Record<string, number> = { "a/1": 1, "a/b/2": 2, "a/b/c/3": 3, "ab/4": 4, "b/5": 5, "a-6": 6 };
        for (const [key, size] of Object.entries(objects)) await driver.write(key, chunks(randomBytes(size)));
        const listed = [];
        for await (const entry of driver.list("a")) {
          assert.ok(entry.modified instanceof Date);
          listed.push([entry.key, entry.size]);
        }
        assert.deepEqual(listed.sort(), [["a/1", 1], ["a/b/2", 2], ["a/b/c/3", 3]]);
        assert.deepEqual(await keysUnder(driver, "a/b"), ["a/b/2", "a/b/c/3"]);
        await driver.delete("a/b/2");
        assert.deepEqual(await keysUnder(driver, "a/b"), ["a/b/c/3"]);
      });
    });

    describe("concurrency", () => {
      test("concurrent writers to different keys each get their own bytes back", async (t) => {
        const { driver } = await fresh(t, factory);
        const bodies = Array.from({ length: 8 }, (_, i) => randomBytes(600_000 + i * 77_777));
        const sizes = await Promise.all(bodies.map((bytes, i) => driver.write(`w/${i}`, chunks(bytes, [65_536 + i]), { durable: i % 2 === 0 })));
        assert.deepEqual(sizes, bodies.map((b) => b.length));
        const back = await Promise.all(bodies.map((_, i) => readAll(driver.read(`w/${i}`))));
        back.forEach((bytes, i) => assert.ok(bytes.equals(bodies[i]!), `writer ${i}`));
      });

      test("concurrent appends to different uploads and reads of one object do not mix", async (t) => {
        const { driver } = await fresh(t, factory);
        const shared = randomBytes(2_000_000);
        await driver.write("shared", chunks(shared));
        const uploads = Array.from({ length: 4 }, () => [randomBytes(300_001), randomBytes(400_003)] as const);
        await Promise.all(
          uploads.map(async ([first, second], i) => {
            await driver.write(`up/${i}`, chunks(first));
            await driver.write(`up/${i}`, chunks(second, [10_000]), { appendAt: first.length });
          }),
        );
        const reads = await Promise.all([0, 1, 2].map(() => readAll(driver.read("shared", { start: 5, end: 1_999_990 }))));
        reads.forEach((bytes) => assert.ok(bytes.equals(shared.subarray(5, 1_999_991))));
        for (const [i, [first, second]] of uploads.entries()) assert.ok((await readAll(driver.read(`up/${i}`))).equals(Buffer.concat([first, second])));
      });
    });

    describe("the blob store over the driver", () => {
      test("an upload written in chunks across a restart finishes with the right digest (the hash is rebuilt from the stored bytes)", async (t) => {
        const fixture = await fresh(t, factory);
        const bytes = randomBytes(2_500_003);
        const cut = [0, 700_001, 1_900_000, bytes.length];
        const first = new BlobStore(fixture.driver);
        let session = await first.startUpload();
        session = await first.appendUpload(session, chunks(bytes.subarray(cut[0], cut[1]), [65_536]));
        session = await first.appendUpload(session, chunks(bytes.subarray(cut[1], cut[2]), [65_536]));
        await first.close();
        const second = new BlobStore(await fixture.reopen());
        t.after(() => second.close());
        session = await second.appendUpload(session, chunks(bytes.subarray(cut[2], cut[3]), [65_536]));
        assert.equal(session.offset, bytes.length);
        const staged = await second.finishUpload(session, sha256(bytes));
        assert.equal(staged.digest, sha256(bytes));
        await second.publish(staged);
        assert.ok((await readAll(second.open(sha256(bytes)))).equals(bytes));
        assert.deepEqual(await keysUnder(second.driver, UPLOAD_PREFIX), []);
      });

      test("a resumed upload refuses the wrong digest and keeps nothing", async (t) => {
        const fixture = await fresh(t, factory);
        const bytes = randomBytes(900_000);
        const first = new BlobStore(fixture.driver);
        let session = await first.startUpload();
        session = await first.appendUpload(session, chunks(bytes.subarray(0, 400_000)));
        await first.close();
        const second = new BlobStore(await fixture.reopen());
        t.after(() => second.close());
        session = await second.appendUpload(session, chunks(bytes.subarray(400_000)));
        const wrong = sha256(Buffer.concat([bytes.subarray(0, 400_000), Buffer.alloc(500_000)]));
        await assert.rejects(second.finishUpload(session, wrong), { code: "DIGEST_INVALID" });
        assert.equal(await second.driver.stat(blobKey(wrong)), null);
        assert.deepEqual(await keysUnder(second.driver, UPLOAD_PREFIX), []);
      });

      test("a single push with a wrong digest, an aborted push and a cancelled upload leave nothing behind", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const bytes = randomBytes(1_500_000);
        const wrong = sha256(Buffer.from("something else"));
        await assert.rejects(store.receive(chunks(bytes, [100_000]), wrong), { code: "DIGEST_INVALID" });
        const abort = new AbortController();
        async function* aborted() {
          yield bytes.subarray(0, 800_000);
          abort.abort();
          yield bytes.subarray(800_000);
        }
        await assert.rejects(store.receive(aborted(), sha256(bytes), abort.signal));
        const session = await store.appendUpload(await store.startUpload(), chunks(bytes));
        await store.cancelUpload(session.id);
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
        assert.equal(await store.stat(wrong), null);
        assert.equal(await store.stat(sha256(bytes)), null);
      });
    });
  });
}

// The blob driver contract: what every BlobDriver (src/blobs/blob-driver.ts) must do, whatever
// storage is under it, plus what the BlobStore over it promises (uploads as parts continued by
// handle in another process, the same digest whichever way the bytes were hashed, failed and
// cancelled writes leaving nothing). A backend joins by calling blobDriverContract() with a
// factory (test/contract/filesystem.test.ts); the same assertions then hold on the filesystem
// today and on S3 (multipart parts) and Azure Blob (staged blocks) later. Nothing here assumes a
// file: no modification times, no paths, no shared memory. Shaped after distribution's
// registry/storage/driver/testsuites.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { describe, test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { BlobDriver, BlobWriter } from "../../src/blobs/blob-driver.ts";
import { BlobStore, blobKey, UPLOAD_PREFIX, type UploadSession } from "../../src/blobs/blob-store.ts";
import { commitsCreateOnly } from "../../src/blobs/drivers/create-only.ts";
import type { Digest } from "../../src/domain/digest.ts";

export interface BlobDriverFixture {
  driver: BlobDriver;
  /** A second driver over the same storage, as a restarted process (or another instance) opens it. */
  reopen(): Promise<BlobDriver>;
  /** Removes what the factory created (a directory, a bucket prefix, a container). */
  close(): Promise<void>;
  /** Whether the driver hands out redirect URLs for reads (S3, Azure); the filesystem does not. */
  redirects?: boolean;
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

/** Writes an object the one way the contract offers: a writer, one last part, commit. */
async function put(driver: BlobDriver, key: string, bytes: Uint8Array, sizes?: number[]): Promise<number> {
  const writer = await driver.writer(key);
  const written = await writer.write(chunks(bytes, sizes), { last: true });
  await writer.commit();
  return written;
}

/** Another object under the key: on a driver with create-only commits, the one there deleted first. */
async function replace(driver: BlobDriver, key: string, bytes: Uint8Array): Promise<void> {
  if (commitsCreateOnly(driver)) await driver.delete(key);
  await put(driver, key, bytes);
}

/**
 * The ways an upload's writer ends up making its object (on S3: a multipart upload with a tail
 * as its last part; one PutObject at the write; the tail's one segment, or several joined, put at
 * commit; nothing written). Each writes `size` bytes (0 for "nothing"), in a new writer.
 */
const SHAPES: Record<string, { write(writer: BlobWriter, bytes: Buffer): Promise<void>; size(n: number): number }> = {
  "parts and a short tail": {
    write: async (writer, bytes) => {
      await writer.write(chunks(bytes.subarray(0, 6 * 1024 * 1024), [1024 * 1024]));
      await writer.write(chunks(bytes.subarray(6 * 1024 * 1024)));
    },
    size: (n) => 6 * 1024 * 1024 + 1000 * n,
  },
  "one short last write": { write: async (writer, bytes) => void (await writer.write(chunks(bytes), { last: true })), size: (n) => 1000 * n },
  "one short write, not last": { write: async (writer, bytes) => void (await writer.write(chunks(bytes))), size: (n) => 1000 * n },
  "three short writes": {
    write: async (writer, bytes) => {
      for (let at = 0; at < bytes.length; at += 1000) await writer.write(chunks(bytes.subarray(at, at + 1000)));
    },
    size: (n) => 3000 * n,
  },
  "nothing written": { write: async () => undefined, size: () => 0 },
};

/** A source that yields `first`, then fails (an aborted signal, or the client going away). */
function failing(first: Uint8Array, abort?: AbortController): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield first;
    if (abort) {
      abort.abort();
      yield randomBytes(10);
    }
    throw new Error("client went away");
  })();
}

const sha256 = (bytes: Uint8Array): Digest => `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;
const missing = { code: "ENOENT" };

/**
 * `createOnly`: the driver's upload commits never replace an object (S3, Azure: create-only.ts);
 * the tests of either behaviour are registered for the drivers that have it, and one test checks
 * the driver declares what the caller says.
 */
export function blobDriverContract(backend: string, factory: BlobDriverFactory, { createOnly }: { createOnly: boolean }): void {
  const replacing = createOnly ? () => undefined : test;
  const creating = createOnly ? test : () => undefined;
  describe(`blob driver contract (${backend})`, () => {
    describe("whole objects: a writer with one part, committed", () => {
      test("write returns the byte count; stat tells the size; read returns the bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(1_300_007); // past a 512 KiB slot, odd length
        assert.equal(await put(driver, "a/b/c/object", bytes, [65_536, 7, 300_001]), bytes.length);
        assert.equal((await driver.stat("a/b/c/object"))?.size, bytes.length);
        assert.ok((await readAll(driver.read("a/b/c/object"))).equals(bytes));
      });

      test("an empty part makes an empty object", async (t) => {
        const { driver } = await fresh(t, factory);
        assert.equal(await put(driver, "empty", new Uint8Array(0)), 0);
        assert.equal((await driver.stat("empty"))?.size, 0);
        assert.equal((await readAll(driver.read("empty"))).length, 0);
      });

      test(`commits ${createOnly ? "create only" : "replace"}, as the driver declares`, async (t) => {
        const { driver } = await fresh(t, factory);
        assert.equal(commitsCreateOnly(driver), createOnly);
      });

      replacing("a commit replaces what the key held, leaving none of the old bytes (a driver without create-only commits)", async (t) => {
        const { driver } = await fresh(t, factory);
        await put(driver, "k", randomBytes(100_000));
        const shorter = randomBytes(10);
        await put(driver, "k", shorter);
        assert.equal((await driver.stat("k"))?.size, 10);
        assert.ok((await readAll(driver.read("k"))).equals(shorter));
      });

      test("ranges: first byte, last byte, a middle run, the whole object, a one-byte object", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(3 * 1024 * 1024 + 5); // past the 1 MiB read blocks
        await put(driver, "k", bytes, [1_000_000]);
        const last = bytes.length - 1;
        for (const [start, end] of [[0, 0], [last, last], [1_048_575, 1_048_577], [17, 2_500_000], [0, last]] as const) {
          assert.ok((await readAll(driver.read("k", { start, end }))).equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
        }
        await put(driver, "one", Buffer.from("x"));
        assert.equal((await readAll(driver.read("one", { start: 0, end: 0 }))).toString(), "x");
      });
    });

    describe("uploads as ordered parts", () => {
      test("parts of any size, one byte included, commit to their concatenation in order; size and handle follow each part", async (t) => {
        const { driver } = await fresh(t, factory);
        const parts = [randomBytes(700_001), randomBytes(1), randomBytes(5), randomBytes(1_200_000), randomBytes(3)];
        const writer = await driver.writer(`${UPLOAD_PREFIX}/p`);
        assert.equal(writer.size, 0);
        const handles = new Set([writer.handle]);
        let size = 0;
        for (const part of parts) {
          assert.equal(await writer.write(chunks(part, [65_536, 333])), part.length);
          size += part.length;
          assert.equal(writer.size, size);
          handles.add(writer.handle);
        }
        assert.equal(handles.size, parts.length + 1, "each part changes the handle");
        await writer.commit();
        assert.equal((await driver.stat(`${UPLOAD_PREFIX}/p`))?.size, size);
        assert.ok((await readAll(driver.read(`${UPLOAD_PREFIX}/p`))).equals(Buffer.concat(parts)));
      });

      test("a handle continues the upload in another process: the parts before and after it commit together", async (t) => {
        const fixture = await fresh(t, factory);
        const parts = [randomBytes(600_000), randomBytes(17), randomBytes(900_001)];
        const first = await fixture.driver.writer("up/x");
        await first.write(chunks(parts[0]!, [65_536]));
        await first.write(chunks(parts[1]!));
        const handle = first.handle; // as the upload row keeps it; the first writer is simply dropped
        const other = await fixture.reopen();
        const second = await other.writer("up/x", handle);
        assert.equal(second.size, parts[0]!.length + parts[1]!.length);
        assert.equal(second.handle, handle);
        await second.write(chunks(parts[2]!, [100_000]), { last: true });
        await second.commit();
        assert.ok((await readAll(fixture.driver.read("up/x"))).equals(Buffer.concat(parts)));
      });

      test("an older handle wins over parts written after it: what a crashed request wrote past it is not part of the upload", async (t) => {
        const fixture = await fresh(t, factory);
        const kept = randomBytes(300_000);
        const writer = await fixture.driver.writer("up/y");
        await writer.write(chunks(kept));
        const handle = writer.handle;
        await writer.write(chunks(randomBytes(500_000))); // answered by no one: the row still holds `handle`
        const again = await (await fixture.reopen()).writer("up/y", handle);
        const rest = randomBytes(70_000);
        await again.write(chunks(rest));
        await again.commit();
        assert.ok((await readAll(fixture.driver.read("up/y"))).equals(Buffer.concat([kept, rest])));
      });

      test("a failed part is not part of the upload: size and handle stay, and the part may be written again", async (t) => {
        const { driver } = await fresh(t, factory);
        const head = randomBytes(400_003);
        const writer = await driver.writer("up/f");
        await writer.write(chunks(head));
        const handle = writer.handle;
        const abort = new AbortController();
        await assert.rejects(writer.write(failing(randomBytes(900_000), abort), { signal: abort.signal }));
        await assert.rejects(writer.write(failing(randomBytes(600_000))), /client went away/);
        assert.equal(writer.size, head.length);
        assert.equal(writer.handle, handle);
        const tail = randomBytes(123_457);
        await writer.write(chunks(tail));
        await writer.commit();
        assert.ok((await readAll(driver.read("up/f"))).equals(Buffer.concat([head, tail])));
      });

      test("12 parts of 1 MiB (a chunked push's PATCHes, each under S3's 5 MiB part minimum) commit byte-identical", async (t) => {
        const fixture = await fresh(t, factory);
        const bytes = randomBytes(12 * 1024 * 1024);
        let handle: string | null = null;
        for (let i = 0; i < 12; i++) {
          // Every other part from a reopened driver, as PATCHes landing on different processes.
          const driver = i % 2 === 0 ? fixture.driver : await fixture.reopen();
          const writer = await driver.writer(`${UPLOAD_PREFIX}/mib`, handle);
          assert.equal(writer.size, i * 1024 * 1024);
          await writer.write(chunks(bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024), [65_536]));
          handle = writer.handle;
        }
        const last = await fixture.driver.writer(`${UPLOAD_PREFIX}/mib`, handle);
        await last.commit();
        assert.equal((await fixture.driver.stat(`${UPLOAD_PREFIX}/mib`))?.size, bytes.length);
        assert.equal(sha256(await readAll(fixture.driver.read(`${UPLOAD_PREFIX}/mib`))), sha256(bytes));
        assert.deepEqual(await keysUnder(fixture.driver, UPLOAD_PREFIX), [`${UPLOAD_PREFIX}/mib`], "nothing but the object is left");
      });

      test("a large part that fails midway (after several MiB went out) is not part of the upload; written again, the upload commits byte-identical", async (t) => {
        const { driver } = await fresh(t, factory);
        const head = randomBytes(3 * 1024 * 1024 + 11);
        const body = randomBytes(40 * 1024 * 1024 + 5);
        const writer = await driver.writer(`${UPLOAD_PREFIX}/retry`);
        await writer.write(chunks(head, [1024 * 1024]));
        const handle = writer.handle;
        await assert.rejects(
          writer.write((async function* () {
            yield* chunks(body.subarray(0, 37 * 1024 * 1024), [1024 * 1024]);
            throw new Error("client went away");
          })()),
          /client went away/,
        );
        assert.equal(writer.size, head.length);
        assert.equal(writer.handle, handle);
        await writer.write(chunks(body, [1024 * 1024]), { last: true });
        await writer.commit();
        assert.equal(sha256(await readAll(driver.read(`${UPLOAD_PREFIX}/retry`))), sha256(Buffer.concat([head, body])));
      });

      test("a failed first part, then a good one, commits the good one", async (t) => {
        const { driver } = await fresh(t, factory);
        const writer = await driver.writer("up/g");
        await assert.rejects(writer.write(failing(randomBytes(700_000))), /client went away/);
        assert.equal(writer.size, 0);
        const bytes = randomBytes(9_999);
        await writer.write(chunks(bytes));
        await writer.commit();
        assert.ok((await readAll(driver.read("up/g"))).equals(bytes));
      });

      test("an upload begun and not finished is listed (so gc can find what a crash left); committed, it is an object", async (t) => {
        const { driver } = await fresh(t, factory);
        const writer = await driver.writer(`${UPLOAD_PREFIX}/open`);
        await writer.write(chunks(randomBytes(1000)));
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), [`${UPLOAD_PREFIX}/open`]);
        await writer.commit();
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), [`${UPLOAD_PREFIX}/open`]);
        assert.equal((await driver.stat(`${UPLOAD_PREFIX}/open`))?.size, 1000);
      });
    });

    describe("create-only commits (S3, Azure): an object once under an upload's key is never replaced by another writer", () => {
      for (const [shape, { write, size }] of Object.entries(SHAPES)) {
        creating(`${shape}: a second writer's commit is refused (EEXIST), its cancel too leaves the first object, and nothing of it stays`, async (t) => {
          const { driver } = await fresh(t, factory);
          const key = `${UPLOAD_PREFIX}/taken`;
          const first = randomBytes(size(1));
          const one = await driver.writer(key);
          await write(one, first);
          await one.commit();
          const late = await driver.writer(key);
          // Of another length (one of as many bytes counts as this upload's own, committed before).
          // After an empty object, the late writer writes something.
          const { write: writeLate, size: lateSize } = size(2) === 0 ? SHAPES["one short last write"]! : { write, size };
          await assert.rejects(
            (async () => {
              await writeLate(late, randomBytes(lateSize(2)));
              await late.commit();
            })(),
            { code: "EEXIST" },
          );
          await late.cancel();
          assert.ok((await readAll(driver.read(key))).equals(first));
          assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), [key]);
        });
      }

      for (const [shape, { write, size }] of Object.entries(SHAPES)) {
        creating(`${shape}: a commit repeated from the same handle after the first was done (its answer lost) resolves, and the bytes stay`, async (t) => {
          const fixture = await fresh(t, factory);
          const key = `${UPLOAD_PREFIX}/again`;
          const bytes = randomBytes(size(1));
          const writer = await fixture.driver.writer(key);
          await write(writer, bytes);
          const handle = writer.handle;
          await writer.commit();
          await (await (await fixture.reopen()).writer(key, handle)).commit();
          assert.ok((await readAll(fixture.driver.read(key))).equals(bytes));
        });
      }

      creating("one short last write repeated with the same bytes from no handle (the first try's answer lost before the row recorded it) counts; other bytes are refused", async (t) => {
        const { driver } = await fresh(t, factory);
        const key = `${UPLOAD_PREFIX}/short`;
        const bytes = randomBytes(3000);
        await put(driver, key, bytes);
        await put(driver, key, bytes);
        await assert.rejects(put(driver, key, randomBytes(2999)), { code: "EEXIST" });
        assert.ok((await readAll(driver.read(key))).equals(bytes));
      });
    });

    describe("cancel leaves nothing", () => {
      test("a cancelled upload, fresh or continued by handle, leaves no object, no listed key and no parts to continue", async (t) => {
        const fixture = await fresh(t, factory);
        const { driver } = fixture;
        const writer = await driver.writer(`${UPLOAD_PREFIX}/c1`);
        await writer.write(chunks(randomBytes(800_000), [65_536]));
        await writer.cancel();
        const resumed = await driver.writer(`${UPLOAD_PREFIX}/c2`);
        await resumed.write(chunks(randomBytes(300_000)));
        const handle = resumed.handle;
        await (await (await fixture.reopen()).writer(`${UPLOAD_PREFIX}/c2`, handle)).cancel();
        for (const key of [`${UPLOAD_PREFIX}/c1`, `${UPLOAD_PREFIX}/c2`]) {
          assert.equal(await driver.stat(key), null, key);
          await assert.rejects(driver.read(key), missing);
        }
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
        // The handle names parts that are gone: continuing or committing it is refused.
        await assert.rejects(
          (async () => {
            const stale = await driver.writer(`${UPLOAD_PREFIX}/c2`, handle);
            await stale.write(chunks(randomBytes(10)));
            await stale.commit();
          })(),
          missing,
        );
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), [], "nor does the refused attempt leave anything");
      });

      test("delete of an unfinished upload's key drops its parts too (gc's way with what a crash left)", async (t) => {
        const { driver } = await fresh(t, factory);
        const writer = await driver.writer(`${UPLOAD_PREFIX}/d`);
        await writer.write(chunks(randomBytes(200_000)));
        await driver.delete(`${UPLOAD_PREFIX}/d`);
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
        await assert.rejects(writer.commit(), missing, "its parts are gone");
      });

      test("a failed whole write through the blob store leaves nothing, nor does a wrong digest", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const bytes = randomBytes(1_500_000);
        await assert.rejects(store.receive(chunks(bytes, [100_000]), sha256(Buffer.from("something else"))), { code: "DIGEST_INVALID" });
        const abort = new AbortController();
        await assert.rejects(store.receive(failing(bytes.subarray(0, 800_000), abort), sha256(bytes), abort.signal));
        await assert.rejects(store.receive(failing(bytes.subarray(0, 800_000)), sha256(bytes)), /client went away/);
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
        assert.equal(await store.stat(sha256(bytes)), null);
      });
    });

    describe("redirect URLs", () => {
      test("redirectUrl is a URL that serves the bytes when the driver redirects, and null when reads go through Berth", async (t) => {
        const { driver, redirects } = await fresh(t, factory);
        const bytes = randomBytes(4096);
        await put(driver, "blobs/r", bytes);
        const url = await driver.redirectUrl("blobs/r", 60);
        if (!redirects) {
          assert.equal(url, null);
          return;
        }
        assert.match(url ?? "", /^https?:\/\//);
        const response = await fetch(url!);
        assert.equal(response.status, 200);
        assert.ok(Buffer.from(await response.arrayBuffer()).equals(bytes));
      });
    });

    describe("missing keys", () => {
      test("stat answers null, read rejects with ENOENT, delete does nothing, move rejects with ENOENT", async (t) => {
        const { driver } = await fresh(t, factory);
        await put(driver, "dir/present", Buffer.from("x"));
        assert.equal(await driver.stat("nope"), null);
        assert.equal(await driver.stat("dir/nope"), null);
        assert.equal(await driver.stat("dir/present/below"), null);
        assert.equal(await driver.stat("dir"), null, "a prefix is not an object");
        await assert.rejects(driver.read("nope"), missing);
        await assert.rejects(driver.read("dir/nope", { start: 0, end: 0 }), missing);
        await driver.delete("nope");
        await driver.delete("dir/nope");
        await assert.rejects(driver.move("nope", "elsewhere"), missing);
        assert.equal(await driver.stat("elsewhere"), null);
        assert.deepEqual(await keysUnder(driver, "nothing"), []);
      });
    });

    describe("move, delete, list", () => {
      test("move makes `from` visible as `to`, replacing what `to` held; `from` is gone", async (t) => {
        const { driver } = await fresh(t, factory);
        const bytes = randomBytes(50_000);
        await put(driver, "uploads/x", bytes);
        await put(driver, "blobs/sha256/ab/abc", Buffer.from("stale bytes"));
        await driver.move("uploads/x", "blobs/sha256/ab/abc");
        assert.equal(await driver.stat("uploads/x"), null);
        await assert.rejects(driver.read("uploads/x"), missing);
        assert.ok((await readAll(driver.read("blobs/sha256/ab/abc"))).equals(bytes));
        await driver.move("blobs/sha256/ab/abc", "new/deep/path/to/it");
        assert.ok((await readAll(driver.read("new/deep/path/to/it"))).equals(bytes));
        // Nothing written to the old name afterwards reaches the new one.
        await put(driver, "blobs/sha256/ab/abc", Buffer.from("other"));
        assert.ok((await readAll(driver.read("new/deep/path/to/it"))).equals(bytes));
      });

      test("delete removes the object and may be repeated", async (t) => {
        const { driver } = await fresh(t, factory);
        await put(driver, "d/k", Buffer.from("x"));
        await put(driver, "d/k2", Buffer.from("y"));
        await driver.delete("d/k");
        await driver.delete("d/k");
        assert.equal(await driver.stat("d/k"), null);
        assert.equal((await driver.stat("d/k2"))?.size, 1);
      });

      test("list(prefix) yields every object under the folder `prefix/` at any depth, with full keys and sizes (and nothing else)", async (t) => {
        const { driver } = await fresh(t, factory);
        const objects: Record<string, number> = { "a/1": 1, "a/b/2": 2, "a/b/c/3": 3, "ab/4": 4, "b/5": 5, "a-6": 6 };
        for (const [key, size] of Object.entries(objects)) await put(driver, key, randomBytes(size));
        const listed = [];
        for await (const entry of driver.list("a")) listed.push(entry);
        const sizes = listed.map(({ key, size }) => ({ key, size }));
        assert.deepEqual(sizes.sort((x, y) => x.key.localeCompare(y.key)), [{ key: "a/1", size: 1 }, { key: "a/b/2", size: 2 }, { key: "a/b/c/3", size: 3 }]);
        assert.deepEqual(await keysUnder(driver, "a/b"), ["a/b/2", "a/b/c/3"]);
        await driver.delete("a/b/2");
        assert.deepEqual(await keysUnder(driver, "a/b"), ["a/b/c/3"]);
      });
    });

    describe("modification times (only ever a reason for gc to keep an object)", () => {
      test("stat and list give when the store wrote a committed object, in the same second; writing the key again moves it to a later second", async (t) => {
        const { driver } = await fresh(t, factory);
        const second = (date: Date | undefined) => {
          assert.ok(date instanceof Date && !Number.isNaN(date.getTime()), `a time: ${String(date)}`);
          return Math.floor(date.getTime() / 1000);
        };
        await put(driver, "m/1", randomBytes(10));
        const first = second((await driver.stat("m/1"))?.modified);
        const listed = [];
        for await (const entry of driver.list("m")) listed.push(entry);
        assert.equal(listed.length, 1);
        assert.equal(second(listed[0]!.modified), first);
        await sleep(1100); // S3 and Azure state Last-Modified in whole seconds
        await replace(driver, "m/1", randomBytes(10));
        assert.ok(second((await driver.stat("m/1"))?.modified) > first, "written again: a later second");
      });
    });

    describe("concurrency", () => {
      test("concurrent writers to different keys, part after part, each commit their own bytes", async (t) => {
        const { driver } = await fresh(t, factory);
        const uploads = Array.from({ length: 8 }, (_, i) => [randomBytes(300_001 + i * 77_777), randomBytes(1 + i), randomBytes(400_003)]);
        await Promise.all(
          uploads.map(async (parts, i) => {
            const writer = await driver.writer(`w/${i}`);
            for (const [n, part] of parts.entries()) await writer.write(chunks(part, [65_536 + i]), { last: n === parts.length - 1 });
            if (i % 2 === 0) await writer.commit();
            else await writer.cancel();
          }),
        );
        for (const [i, parts] of uploads.entries()) {
          if (i % 2 === 0) assert.ok((await readAll(driver.read(`w/${i}`))).equals(Buffer.concat(parts)), `writer ${i}`);
          else assert.equal(await driver.stat(`w/${i}`), null, `cancelled writer ${i}`);
        }
      });

      test("reads of one object while other keys are written do not mix", async (t) => {
        const { driver } = await fresh(t, factory);
        const shared = randomBytes(2_000_000);
        await put(driver, "shared", shared);
        const bodies = Array.from({ length: 4 }, () => randomBytes(500_001));
        const [reads] = await Promise.all([
          Promise.all([0, 1, 2].map(() => readAll(driver.read("shared", { start: 5, end: 1_999_990 })))),
          Promise.all(bodies.map((bytes, i) => put(driver, `up/${i}`, bytes, [10_000]))),
        ]);
        reads.forEach((bytes) => assert.ok(bytes.equals(shared.subarray(5, 1_999_991))));
        for (const [i, bytes] of bodies.entries()) assert.ok((await readAll(driver.read(`up/${i}`))).equals(bytes));
      });
    });

    describe("the blob store over the driver", () => {
      test("a running hash kept across parts gives the digest of all the bytes, for sha256 and sha512", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        for (const algorithm of ["sha256", "sha512"] as const) {
          const bytes = randomBytes(2_345_679);
          let session: UploadSession = { ...store.startUpload(algorithm) };
          for (const [from, to] of [[0, 1], [1, 700_001], [700_001, 700_002], [700_002, bytes.length]] as const) {
            session = await store.appendUpload(session, chunks(bytes.subarray(from, to), [65_536, 4097]));
          }
          const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}` as Digest;
          const staged = await store.finishUpload(session, digest);
          assert.equal(staged.digest, digest);
          await store.publish(staged);
          assert.ok((await readAll(store.open(digest))).equals(bytes));
        }
      });

      test("an upload continued in another process finishes with the same digest (its hash rebuilt once from the parts, or the parts read back once at the finish where they cannot be read before), and a wrong digest keeps nothing", async (t) => {
        const fixture = await fresh(t, factory);
        const bytes = randomBytes(2_500_003);
        const cut = [0, 700_001, 1_900_000, bytes.length];
        const first = new BlobStore(fixture.driver);
        let session = first.startUpload();
        session = await first.appendUpload(session, chunks(bytes.subarray(cut[0], cut[1]), [65_536]));
        session = await first.appendUpload(session, chunks(bytes.subarray(cut[1], cut[2]), [65_536]));
        await first.close();
        const other = await fixture.reopen();
        const second = new BlobStore(other);
        t.after(() => second.close());
        // The same upload twice from here: once finished with a wrong digest, once with the right one.
        const copy = { ...session };
        const wrong = await second.appendUpload(copy, chunks(bytes.subarray(cut[2], cut[3]), [65_536]));
        await assert.rejects(second.finishUpload(wrong, sha256(randomBytes(10))), { code: "DIGEST_INVALID" });
        // The upload service then drops the upload (its row, then its bytes: upload-service.ts drop).
        await second.cancelUpload(wrong.id);
        assert.deepEqual(await keysUnder(other, UPLOAD_PREFIX), [], "a mismatch keeps nothing");
        assert.equal(await other.stat(blobKey(sha256(bytes))), null);

        let again = first.startUpload();
        const third = new BlobStore(await fixture.reopen());
        t.after(() => third.close());
        again = await third.appendUpload(again, chunks(bytes.subarray(cut[0], cut[2]), [65_536]));
        const fourth = new BlobStore(await fixture.reopen());
        t.after(() => fourth.close());
        again = await fourth.appendUpload(again, chunks(bytes.subarray(cut[2], cut[3]), [65_536]));
        assert.equal(again.offset, bytes.length);
        const staged = await fourth.finishUpload(again, sha256(bytes));
        assert.equal(staged.digest, sha256(bytes));
        await fourth.publish(staged);
        assert.ok((await readAll(fourth.open(sha256(bytes)))).equals(bytes));
        assert.deepEqual(await keysUnder(other, UPLOAD_PREFIX), []);
      });

      test("a chunk that fails midway is retried and the upload finishes with the digest of the bytes recorded (no driver loses the upload to a failed PATCH)", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const bytes = randomBytes(3 * 1024 * 1024 + 77);
        let session = await store.appendUpload(store.startUpload(), chunks(bytes.subarray(0, 1024 * 1024), [65_536]));
        await assert.rejects(store.appendUpload(session, failing(randomBytes(700_000))), /client went away/);
        session = await store.appendUpload(session, chunks(bytes.subarray(1024 * 1024, 2 * 1024 * 1024), [65_536]));
        // A chunk the row never records (short of its Content-Range): the store goes back to before it.
        const unrecorded = await store.appendUpload(session, chunks(randomBytes(300_000)));
        assert.equal(unrecorded.offset, session.offset + 300_000);
        store.forgetLastPart(session.id);
        session = await store.appendUpload(session, chunks(bytes.subarray(2 * 1024 * 1024), [65_536]));
        const staged = await store.finishUpload(session, sha256(bytes));
        await store.publish(staged);
        assert.ok((await readAll(store.open(sha256(bytes)))).equals(bytes));
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
      });

      test("an upload finishing with the wrong digest publishes nothing, and its cancel keeps nothing", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const bytes = randomBytes(900_000);
        let session = store.startUpload();
        session = await store.appendUpload(session, chunks(bytes.subarray(0, 400_000)));
        session = await store.appendUpload(session, chunks(bytes.subarray(400_000)));
        const wrong = sha256(Buffer.concat([bytes.subarray(0, 400_000), Buffer.alloc(500_000)]));
        await assert.rejects(store.finishUpload(session, wrong), { code: "DIGEST_INVALID" });
        assert.equal(await driver.stat(blobKey(wrong)), null);
        await store.cancelUpload(session.id); // as the upload service does, having deleted the row
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
      });

      test("concurrent uploads through one store, in parts, each publish their own blob", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const blobs = Array.from({ length: 6 }, (_, i) => randomBytes(1_100_000 + i * 1013));
        await Promise.all(
          blobs.map(async (bytes) => {
            let session = store.startUpload();
            for (let at = 0; at < bytes.length; at += 300_000) session = await store.appendUpload(session, chunks(bytes.subarray(at, at + 300_000), [32_768]));
            await store.publish(await store.finishUpload(session, sha256(bytes)));
          }),
        );
        for (const bytes of blobs) assert.ok((await readAll(store.open(sha256(bytes)))).equals(bytes));
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
      });

      test("an upload's object replaced after its bytes were checked (a late writer's commit) is never published, whether the finish kept the hash or read the parts back: publish refuses, nothing under the digest's key; and a move conditioned on a version refuses a replaced source", async (t) => {
        const fixture = await fresh(t, factory);
        const { driver } = fixture;
        const probe = "probe/versioned";
        await put(driver, probe, randomBytes(10));
        const named = await driver.stat(probe);
        if (named?.version === undefined) {
          t.diagnostic("this store names no versions (a rename publishes, no copy): nothing to check");
          return;
        }
        // The driver alone: a move of a version replaced since.
        await replace(driver, probe, randomBytes(10));
        await assert.rejects(driver.move(probe, "probe/to", { ifVersion: named.version }), { code: "ECHANGED" });
        assert.equal(await driver.stat("probe/to"), null);
        await driver.move(probe, "probe/to", { ifVersion: (await driver.stat(probe))!.version });
        assert.equal((await driver.stat("probe/to"))?.size, 10);

        const store = new BlobStore(driver);
        t.after(() => store.close());
        const other = new BlobStore(await fixture.reopen());
        t.after(() => other.close());
        for (const finisher of [store, other]) {
          const bytes = randomBytes(1_300_000);
          let session = store.startUpload();
          session = await store.appendUpload(session, chunks(bytes.subarray(0, 600_000)));
          session = await store.appendUpload(session, chunks(bytes.subarray(600_000)));
          const staged = await finisher.finishUpload(session, sha256(bytes));
          assert.ok(staged.version, "the version of the object checked");
          // Bytes of the same length under the upload's key, as a late Complete of another try would
          // leave (on a store that ignores create-only commits' If-None-Match).
          await replace(driver, staged.key, randomBytes(bytes.length));
          await assert.rejects(finisher.publish(staged), { code: "BLOB_UPLOAD_UNKNOWN" });
          assert.equal(await driver.stat(blobKey(sha256(bytes))), null, "nothing published");
          await finisher.cancelUpload(session.id);
        }
      });

      test("a cancelled upload leaves nothing", async (t) => {
        const { driver } = await fresh(t, factory);
        const store = new BlobStore(driver);
        t.after(() => store.close());
        const session = await store.appendUpload(store.startUpload(), chunks(randomBytes(1_500_000)));
        await store.cancelUpload(session.id);
        assert.deepEqual(await keysUnder(driver, UPLOAD_PREFIX), []);
      });
    });
  });
}

/**
 * A driver offering exactly the contract and nothing more: no tapped writes, no reading parts
 * back. Running the suite over it (filesystem.test.ts) shows the blob store works with a driver
 * like S3 or Azure, which cannot offer either.
 */
export function bareDriver(driver: BlobDriver): BlobDriver {
  return {
    stat: (key) => driver.stat(key),
    read: (key, range) => driver.read(key, range),
    redirectUrl: (key, seconds) => driver.redirectUrl(key, seconds),
    writer: async (key, handle) => bareWriter(await driver.writer(key, handle)),
    move: (from, to) => driver.move(from, to),
    delete: (key) => driver.delete(key),
    list: (prefix) => driver.list(prefix),
  };
}

function bareWriter(writer: BlobWriter): BlobWriter {
  return {
    get size() {
      return writer.size;
    },
    get handle() {
      return writer.handle;
    },
    write: (source, options) => writer.write(source, options),
    commit: () => writer.commit(),
    cancel: () => writer.cancel(),
  };
}

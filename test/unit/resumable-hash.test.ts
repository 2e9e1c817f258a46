// The resumable running hash (hashing.ts, hash-thread.mjs): its saved state, loaded by another
// pool of hashing threads (another process, in effect), goes on to the same digest node:crypto
// gives for all the bytes; digestSoFar does not end it; a state of another algorithm or format is
// refused (null), never misread; the default hash cannot be saved.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { HashThreads } from "../../src/blobs/hashing.ts";

/** Bytes in shared memory, as the hashing threads need them. */
function shared(bytes: Buffer): Buffer {
  const copy = Buffer.from(new SharedArrayBuffer(bytes.length));
  bytes.copy(copy);
  return copy;
}

test("a saved resumable hash goes on in another pool of threads to node:crypto's digest, for sha256 and sha512", async (t) => {
  const [first, second] = [new HashThreads(1), new HashThreads(1)];
  t.after(() => Promise.all([first.close(), second.close()]));
  for (const algorithm of ["sha256", "sha512"] as const) {
    const bytes = randomBytes(3_000_017);
    const cut = 1_234_567;
    const hash = first.start(algorithm, {})!;
    await hash.see(shared(bytes.subarray(0, cut)));
    const saved = await hash.save();
    assert.match(saved!, new RegExp(`^${algorithm}\\.hw4\\.[A-Za-z0-9+/=]+$`));
    assert.equal(await hash.digestSoFar(), `${algorithm}:${createHash(algorithm).update(bytes.subarray(0, cut)).digest("hex")}`);
    hash.dispose();
    const resumed = second.start(algorithm, { from: saved })!;
    await resumed.see(shared(bytes.subarray(cut)));
    assert.equal(await resumed.digest(), `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`);
  }
});

test("a saved state of another algorithm or format is refused; node:crypto's hash cannot be saved", async (t) => {
  const threads = new HashThreads(1);
  t.after(() => threads.close());
  const hash = threads.start("sha256", {})!;
  const saved = (await hash.save())!;
  hash.dispose();
  assert.equal(threads.start("sha512", { from: saved }), null);
  assert.equal(threads.start("sha256", { from: saved.replace(".hw4.", ".hw9.") }), null);
  const plain = threads.start("sha256");
  assert.equal(await plain.save(), null);
  plain.dispose();
});

// The hashing threads (hashing.ts, hash-thread.mjs): node:crypto's digest of every byte seen, for
// sha256 and sha512; digestSoFar answers without ending the hash; an ended hash refuses more.
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

test("a hash on a thread gives node:crypto's digest; digestSoFar goes on; an ended hash refuses more", async (t) => {
  const threads = new HashThreads(2);
  t.after(() => threads.close());
  for (const algorithm of ["sha256", "sha512"] as const) {
    const bytes = randomBytes(3_000_017);
    const cut = 1_234_567;
    const hash = threads.start(algorithm);
    await hash.see(shared(bytes.subarray(0, cut)));
    assert.equal(await hash.digestSoFar(), `${algorithm}:${createHash(algorithm).update(bytes.subarray(0, cut)).digest("hex")}`);
    await hash.see(shared(bytes.subarray(cut)));
    assert.equal(await hash.digest(), `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`);
    await assert.rejects(hash.digest(), /ended/);
    await assert.rejects(hash.see(Buffer.from(new SharedArrayBuffer(1))), /unknown hash/);
  }
});

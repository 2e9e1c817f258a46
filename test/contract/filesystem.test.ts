// The blob driver contract (blob-driver-contract.ts) on the embedded default: FilesystemDriver on
// a fresh directory per test, with direct I/O where the filesystem takes it, with the page cache
// only (storage.directWrites: false), and behind the bare contract (no tapped writes, no reading
// parts back), as an S3 or Azure driver will be. S3 and Azure Blob join with one more line each.
// Then what only the filesystem driver offers: the tap its writers show the hashing threads.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FilesystemDriver } from "../../src/blobs/drivers/filesystem.ts";
import { canTap } from "../../src/blobs/fast-paths.ts";
import { bareDriver, blobDriverContract } from "./blob-driver-contract.ts";

function filesystem(directWrites: boolean, bare = false) {
  return async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-contract-fs-"));
    const open = () => (bare ? bareDriver(new FilesystemDriver(root, { directWrites })) : new FilesystemDriver(root, { directWrites }));
    return {
      driver: open(),
      reopen: async () => open(),
      close: () => rm(root, { recursive: true, force: true }),
    };
  };
}

blobDriverContract("filesystem", filesystem(true), { createOnly: false });
blobDriverContract("filesystem, page cache only", filesystem(false), { createOnly: false });
blobDriverContract("filesystem behind the bare contract", filesystem(true, true), { createOnly: false });

test("the filesystem writer's tap sees every byte of each part, in order, from shared memory", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "berth-contract-fs-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root);
  const writer = await driver.writer("uploads/tapped");
  assert.ok(canTap(writer));
  const parts = [randomBytes(700_001), randomBytes(5), randomBytes(1_200_000)];
  for (const part of parts) {
    const seen: Buffer[] = [];
    const tap = {
      see: async (view: Uint8Array) => {
        assert.ok(view.buffer instanceof SharedArrayBuffer);
        seen.push(Buffer.from(view)); // copied: the view is reused
      },
    };
    await writer.writeTapped((async function* () { for (let at = 0; at < part.length; at += 65_536) yield part.subarray(at, at + 65_536); })(), tap);
    assert.ok(Buffer.concat(seen).equals(part));
  }
  await writer.commit();
  const back: Buffer[] = [];
  for await (const chunk of await driver.read("uploads/tapped")) back.push(chunk as Buffer);
  assert.ok(Buffer.concat(back).equals(Buffer.concat(parts)));
});

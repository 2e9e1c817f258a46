// The blob driver contract (blob-driver-contract.ts) on the embedded default: FilesystemDriver on
// a fresh directory per test, with direct I/O where the filesystem takes it and with the page
// cache only (storage.directWrites: false). S3 and Azure Blob join with one more line each.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FilesystemDriver } from "../../src/blobs/drivers/filesystem.ts";
import { blobDriverContract } from "./blob-driver-contract.ts";

function filesystem(directWrites: boolean) {
  return async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-contract-fs-"));
    return {
      driver: new FilesystemDriver(root, { directWrites }),
      reopen: async () => new FilesystemDriver(root, { directWrites }),
      close: () => rm(root, { recursive: true, force: true }),
    };
  };
}

blobDriverContract("filesystem", filesystem(true));
blobDriverContract("filesystem, page cache only", filesystem(false));

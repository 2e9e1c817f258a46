// Synthetic blobs for the benchmark: one random 1 MiB block repeated, then a short tail that makes
// each blob unique. Nothing of the blob is held in memory but the block, and the digest is known
// before any timing starts: the hash of the shared prefix is computed once and copied per blob.
import { createHash, randomBytes, type Hash } from "node:crypto";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export interface Blob {
  size: number;
  digest: string;
  /** The blob's bytes in order, as views of shared buffers: no copies, nothing allocated per chunk. */
  chunks(start?: number, end?: number): Generator<Buffer>;
}

/** Makes any number of distinct blobs of one size. The size must be a whole number of MiB. */
export class BlobFactory {
  readonly size: number;
  readonly block: Buffer = randomBytes(MiB);
  private readonly prefixHash: Hash;
  private readonly prefixBlocks: number;
  private serial = 0;

  constructor(size: number) {
    if (size < MiB || size % MiB !== 0) throw new Error(`blob size must be a whole number of MiB, not ${size}`);
    this.size = size;
    this.prefixBlocks = size / MiB - 1;
    this.prefixHash = createHash("sha256");
    for (let i = 0; i < this.prefixBlocks; i++) this.prefixHash.update(this.block);
  }

  /** A new blob: the shared prefix, then one MiB starting with a serial number and a random tag. */
  next(): Blob {
    const tail = Buffer.from(this.block);
    tail.write(`berth-bench ${process.pid} ${Date.now()} ${this.serial++} ${randomBytes(8).toString("hex")}`, 0, "latin1");
    const digest = `sha256:${this.prefixHash.copy().update(tail).digest("hex")}`;
    const { block, prefixBlocks, size } = this;
    return {
      size,
      digest,
      *chunks(start = 0, end = size) {
        // Blocks are MiB-aligned, so each position maps to (block index, offset in block).
        let at = start;
        while (at < end) {
          const index = Math.floor(at / MiB);
          const within = at % MiB;
          const source = index < prefixBlocks ? block : tail;
          const take = Math.min(MiB - within, end - at);
          yield within === 0 && take === MiB ? source : source.subarray(within, within + take);
          at += take;
        }
      },
    };
  }
}

/** A small blob held whole, for configs and layers of the small test image. */
export function smallBlob(content: Buffer): Blob & { content: Buffer } {
  return {
    size: content.length,
    digest: `sha256:${createHash("sha256").update(content).digest("hex")}`,
    content,
    *chunks(start = 0, end = content.length) {
      yield content.subarray(start, end);
    },
  };
}

/** A small OCI image: a config, one layer, and the manifest naming them. */
export function smallImage(): { config: Blob & { content: Buffer }; layer: Blob & { content: Buffer }; manifest: Buffer } {
  const layer = smallBlob(Buffer.from(`berth bench layer ${Date.now()} ${"x".repeat(4000)}`));
  const config = smallBlob(Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  })));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer.digest, size: layer.size }],
  }));
  return { config, layer, manifest };
}

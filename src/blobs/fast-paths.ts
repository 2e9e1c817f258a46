// Optimisations between the HTTP body, the blob store and the filesystem driver, kept out of the
// driver contract (blob-driver.ts): a driver that does not offer them works the same, only with
// one more copy of each byte (see hashing.ts `hashedSource`).
import type { BlobDriver, BlobWriter, PartOptions } from "./blob-driver.ts";

/**
 * A reader of the bytes a writer stores, in order, while the write goes on (the blob store's
 * running digest). The writer passes views of shared memory (SharedArrayBuffer) so another thread
 * can read them, and keeps each view unchanged until the promise `see` returned settles.
 */
export interface WriteTap {
  see(bytes: Uint8Array): Promise<void>;
}

/**
 * A writer that shows every byte of a part to a tap from its own write buffers (the filesystem's
 * shared-memory slots): hashing on other threads then costs no copy. The blob store prefers it.
 */
export interface TappedParts {
  writeTapped(source: AsyncIterable<Uint8Array>, tap: WriteTap, options?: PartOptions): Promise<number>;
}

export function canTap(writer: BlobWriter): writer is BlobWriter & TappedParts {
  return typeof (writer as Partial<TappedParts>).writeTapped === "function";
}

/**
 * A body that hands over its chunks as they arrive, without an await per chunk (a request body
 * from node:http: one callback per 64 KiB read; an await each was a tenth of a CPU-second per GiB).
 * `take` gets each chunk in order and may use it only until it returns, or until the promise it
 * returns settles; no chunk comes while that promise is pending. eachChunk resolves after the last
 * chunk was taken, and rejects when the body fails or `take` throws or rejects.
 */
/**
 * A driver whose hidden writers show nothing under their key until commit() and leave other
 * writers of the same key alone (S3: each multipart upload is invisible until completed). The
 * blob store writes a whole blob whose digest the client sent (a monolithic push) straight to the
 * digest's key through one and commits it only after the digest matched: publishing it then
 * costs no copy and no delete. The filesystem writes in place, Azure's staged block ids of one
 * blob are shared by all its writers: neither offers it.
 */
export interface HiddenWrites {
  hiddenWriter(key: string): Promise<BlobWriter>;
}

export function writesHidden(driver: BlobDriver): driver is BlobDriver & HiddenWrites {
  return typeof (driver as Partial<HiddenWrites>).hiddenWriter === "function";
}

export interface ChunkSource extends AsyncIterable<Uint8Array> {
  eachChunk(take: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void>;
}

export function isChunkSource(source: AsyncIterable<Uint8Array>): source is ChunkSource {
  return typeof (source as Partial<ChunkSource>).eachChunk === "function";
}

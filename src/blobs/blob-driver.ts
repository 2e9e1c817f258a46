// What a storage backend must do: bytes under keys, nothing about digests. The filesystem is
// the embedded default; S3 and Azure Blob implement the same few methods later.
import type { Readable } from "node:stream";

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

export interface ObjectInfo {
  size: number;
  modified: Date;
}

export interface WriteOptions {
  /**
   * Append to an existing object, after cutting it back to this length. Refused (code ESHARED)
   * when the object's bytes also show under another key: an older Berth published uploads by
   * hard link, and an append to such a file would grow the published blob.
   */
  appendAt?: number;
  /** Make the bytes durable before returning. */
  durable?: boolean;
  signal?: AbortSignal;
  /** Sees every byte written, in order, while the write goes on (the blob store's running digest). */
  tap?: WriteTap;
}

/**
 * A reader of the bytes a driver writes. The driver passes views of shared memory
 * (SharedArrayBuffer) so another thread can read them, and keeps each view unchanged until the
 * promise `see` returned settles.
 */
export interface WriteTap {
  see(bytes: Uint8Array): Promise<void>;
}

/**
 * A body that hands over its chunks as they arrive, without an await per chunk (a request body
 * from node:http: one callback per 64 KiB read; an await each was a tenth of a CPU-second per GiB).
 * `take` gets each chunk in order and may use it only until it returns, or until the promise it
 * returns settles; no chunk comes while that promise is pending. eachChunk resolves after the last
 * chunk was taken, and rejects when the body fails or `take` throws or rejects.
 */
export interface ChunkSource extends AsyncIterable<Uint8Array> {
  eachChunk(take: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void>;
}

export function isChunkSource(source: AsyncIterable<Uint8Array>): source is ChunkSource {
  return typeof (source as Partial<ChunkSource>).eachChunk === "function";
}

// What each method does with a key that holds nothing is part of the contract that
// test/contract/blob-driver-contract.ts checks on every driver.
export interface BlobDriver {
  /** null when nothing is stored under the key (a prefix of other keys is not an object). */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Rejects with code ENOENT when nothing is stored under the key. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Returns the number of bytes written. A failed write leaves nothing under the key; a failed
   * append leaves the object cut back to appendAt (an appendAt past its end: code ESHORT).
   */
  write(key: string, source: AsyncIterable<Uint8Array>, options?: WriteOptions): Promise<number>;
  /**
   * Atomically makes `from` visible as `to`, replacing whatever `to` held, and `from` is gone
   * from then on: the two names never show the same bytes, so nothing written to `from` (an
   * upload) can ever change `to` (a published blob). Nothing under `from`: rejects with ENOENT.
   */
  move(from: string, to: string): Promise<void>;
  /** Marks an object as used now (so gc's grace period restarts); nothing under the key: does nothing. */
  touch(key: string): Promise<void>;
  /** Nothing under the key: does nothing. */
  delete(key: string): Promise<void>;
  /** Every object under the folder `prefix/`, at any depth, with its full key; in no set order. */
  list(prefix: string): AsyncIterable<{ key: string } & ObjectInfo>;
}

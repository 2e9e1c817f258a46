// What a storage backend must do: bytes under keys, nothing about digests, and nothing about
// files. The filesystem is the embedded default; S3 (multipart uploads) and Azure Blob (staged
// blocks) implement the same few methods. The contract is written down here and checked on every
// driver by test/contract/blob-driver-contract.ts; README.md says how S3 and Azure map onto it.
//
// Modification times are reported (ObjectInfo.modified) but only ever used to keep an object gc
// would otherwise delete (services/gc.ts): gc decides what goes from database rows, never from the
// storage's clock. Deliberately absent: truncation (a failed or torn part is the driver's to forget), and the
// shared-memory tap the filesystem offers the blob store's hashing threads (a capability of that
// driver, fast-paths.ts, which the blob store uses when a writer offers it).
import type { Readable } from "node:stream";

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

export interface ObjectInfo {
  size: number;
  /**
   * Names what the key holds now, and changes whenever another object replaces it (S3's ETag,
   * Azure's ETag); absent where the store names none (the filesystem). move() can be made
   * conditional on it.
   */
  version?: string;
  /**
   * When the object under the key was last written, by the store's clock (S3's and Azure's
   * Last-Modified: whole seconds; the filesystem's mtime). Absent for an upload not yet committed
   * (S3 parts, Azure staged blocks). Only ever a reason to keep an object (services/gc.ts).
   */
  modified?: Date;
}

export interface MoveOptions {
  /**
   * Move only while `from` is still this version (ObjectInfo.version, or what commit() returned):
   * else reject with code ECHANGED and leave `to` as it was. How the blob store makes sure what it
   * publishes is the object whose bytes it checked, not one a late writer put there since.
   */
  ifVersion?: string;
}

/**
 * The driver's record of an upload's parts, kept by the caller in the upload row and handed back
 * to `writer()` to continue: on the filesystem the count and total of the parts of one file; on S3 the
 * multipart upload id, each part's number and ETag, and a tail shorter than the 5 MiB minimum
 * part; on Azure the ids of the staged blocks. Plain text (JSON), opaque to the caller, at most a
 * few kilobytes per thousand parts.
 */
export type UploadHandle = string;

export interface PartOptions {
  signal?: AbortSignal;
  /**
   * No part follows this one: the driver may finish it as only a last part may be (S3: shorter
   * than 5 MiB without keeping a tail; the filesystem: durable at once, so commit has nothing
   * left to flush). A hint: commit() still works when it was not given.
   */
  last?: boolean;
}

/**
 * Writes one upload as an ordered list of parts, then makes them one object (commit) or drops
 * them (cancel). A writer belongs to one request; the handle lets a later writer, in this process
 * or another, continue the same upload. The caller makes sure one writer at a time works on an
 * upload (the upload row's lease).
 */
export interface BlobWriter {
  /** Bytes in the parts written so far. */
  readonly size: number;
  /** What to keep in the upload row, so writer(key, handle) continues after the last part written. */
  readonly handle: UploadHandle;
  /**
   * Appends one part: the source's bytes, after all parts before it; returns its length. Parts may
   * be of any size, one byte included (a driver with a minimum part size buffers). A part that
   * fails (the source throws, the signal aborts, the storage refuses) is not part of the upload:
   * size and handle stay as they were, and the same part may be written again.
   */
  write(source: AsyncIterable<Uint8Array>, options?: PartOptions): Promise<number>;
  /**
   * Makes the parts, in order, the object under the writer's key, durably. The writer is done
   * afterwards. A handle that no longer matches the stored parts (they were cancelled, or lost):
   * rejects with code ENOENT. Resolves with the committed object's version where the store names
   * versions and knows it (ObjectInfo.version), else nothing.
   *
   * What the key held: replaced on the filesystem; on a driver with create-only commits (S3,
   * Azure: drivers/create-only.ts) an object stored under the key already is never replaced (it
   * may be a published blob's bytes): the commit rejects with code EEXIST and the object stays,
   * and cancel() afterwards leaves it too. Unless that object holds as many bytes as the handle
   * records: then it counts as this upload's, made by a try whose answer was lost, and the commit
   * resolves with no version (the caller reads it back). A hidden writer's commit (fast-paths.ts)
   * replaces.
   */
  commit(): Promise<string | void>;
  /** Drops every part: nothing of the upload stays in storage. The writer is done afterwards. */
  cancel(): Promise<void>;
}

/**
 * Reading back the parts of an upload before it is committed. Optional (S3 and Azure cannot read
 * uncommitted parts): the blob store uses it to rebuild a running hash when an upload moves to
 * another process, and to compare a retried closing PUT with the bytes already held.
 */
export interface ReadableParts {
  readParts(range: ByteRange): Promise<Readable>;
}

/** What move() rejects with when `from` is no longer the version it was asked to move. */
export function changed(key: string, cause?: unknown): Error {
  return Object.assign(new Error(`the object under ${key} was replaced since it was checked`), { code: "ECHANGED", cause });
}

/**
 * A driver whose move() is a copy of the bytes (S3, Azure: O(size) inside the store): the blob
 * store copies an upload to its digest's key before the metadata transaction, so no transaction
 * (on SQLite the one writer lock) is held for the copy, and deletes the upload's object once the
 * transaction committed (blob-commit.ts).
 */
export interface CopyingDriver {
  /** move() without the delete of `from`: `to` holds a separate object with `from`'s bytes; same options and errors. */
  copy(from: string, to: string, options?: MoveOptions): Promise<void>;
  /** Removes the committed object under the key, nothing else (an upload's object, its parts already gone). */
  deleteObject(key: string): Promise<void>;
}

/** How one store copies an object inside itself, for copyOfVersion. */
export interface StoreCopy {
  /** Copies `from` (`source`: its stat) to `to`, with the store's own condition on `ifVersion` when given. */
  copy(source: ObjectInfo, ifVersion: string | undefined): Promise<void>;
  /** Whether the store refused the copy for that condition (HTTP 412). */
  refused(err: unknown): boolean;
  /** The store's "nothing under the key" as the contract's ENOENT; anything else unchanged. */
  missingAsEnoent(err: unknown, key: string): unknown;
}

/**
 * CopyingDriver.copy's rule, the same on every store: copy only the object whose bytes were
 * checked. `from` is stat'ed first (nothing there: ENOENT; another version than `ifVersion`:
 * ECHANGED, before any byte is copied); the copy itself is conditioned on that version in the
 * store's terms (S3's CopySourceIfMatch, Azure's source if-match), since a late writer may replace
 * `from` between the stat and the copy, and the store refusing it is ECHANGED as well.
 */
export async function copyOfVersion(driver: Pick<BlobDriver, "stat">, from: string, options: MoveOptions, store: StoreCopy): Promise<void> {
  const info = await driver.stat(from);
  if (!info) throw Object.assign(new Error(`nothing stored under ${from}`), { code: "ENOENT" });
  const { ifVersion } = options;
  if (ifVersion !== undefined && info.version !== undefined && info.version !== ifVersion) throw changed(from);
  try {
    await store.copy(info, ifVersion);
  } catch (err) {
    if (store.refused(err)) throw changed(from, err);
    throw store.missingAsEnoent(err, from);
  }
}

export function copiesOnMove(driver: BlobDriver): driver is BlobDriver & CopyingDriver {
  return typeof (driver as Partial<CopyingDriver>).copy === "function";
}

export function canReadParts(writer: BlobWriter): writer is BlobWriter & ReadableParts {
  return typeof (writer as Partial<ReadableParts>).readParts === "function";
}

// What each method does with a key that holds nothing is part of the contract that
// test/contract/blob-driver-contract.ts checks on every driver.
export interface BlobDriver {
  /** null when nothing is committed under the key (a prefix of other keys is not an object). */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Rejects with code ENOENT when nothing is stored under the key. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * A URL from which a client may GET the object's bytes directly until `expiresInSeconds` have
   * passed (S3: a presigned URL; Azure: a SAS URL), or null when reads go through Berth (the
   * filesystem). Asked only after the caller's access check; the URL itself grants the read.
   */
  redirectUrl(key: string, expiresInSeconds: number): Promise<string | null>;
  /**
   * A writer of the object under `key`: a new upload when `handle` is absent, else the upload
   * whose parts the handle records. A handle whose parts are gone: rejects with code ENOENT,
   * here or at the first write or commit, before anything of that write is stored.
   * Before commit, what stat/read/list show under the key is unspecified (the filesystem writes
   * in place, S3 and Azure show nothing); callers never read a key being written.
   */
  writer(key: string, handle?: UploadHandle | null): Promise<BlobWriter>;
  /**
   * Makes `from`'s bytes visible as `to`, whole and at once (a reader of `to` sees what it held
   * before or all of the new bytes, never part), replacing whatever `to` held, and `from` is gone
   * once it resolves. Nothing written to `from` (an upload) can ever change `to` (a published
   * blob): on the filesystem one rename; on S3 and Azure a copy into a separate object, then the
   * delete of `from` (a crash between them leaves `from` for gc, never a shared object). That is
   * all the blob store relies on. Nothing under `from`: rejects with ENOENT; `from` no longer the
   * version `options.ifVersion` names: rejects with ECHANGED.
   */
  move(from: string, to: string, options?: MoveOptions): Promise<void>;
  /** Removes the object and any uncommitted parts under the key; nothing there: does nothing. */
  delete(key: string): Promise<void>;
  /**
   * Every key under the folder `prefix/`, at any depth, in no set order: committed objects and
   * the keys of uploads begun and neither committed nor cancelled (so gc can find what a crash
   * left; their size is what was stored so far, as far as the backend tells).
   */
  list(prefix: string): AsyncIterable<{ key: string } & ObjectInfo>;
}

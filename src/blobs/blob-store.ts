// Content-addressed blobs over a BlobDriver. This is the only place a blob's bytes are checked
// against a digest: bytes are hashed as they stream to a temporary key, and become visible under
// blobs/<alg>/<xx>/<hex> only through publish(), after the digest matched. On S3 and Azure a
// chunked upload's committed object is not copied there: the blob row names it (the metadata
// transaction publishes it; BlobLocator, below), since the copy cost as long as the upload. Nothing here trusts
// a file by its name: publish() replaces whatever sits at the digest's path only with bytes just
// verified, and a file found there is taken as an upload's only when the upload's row recorded,
// before the move, that its bytes verified as that digest (a closing PUT retried after a crash).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { canReadParts, copiesOnMove, type BlobDriver, type MoveOptions, type BlobWriter, type ByteRange, type PartOptions, type UploadHandle } from "./blob-driver.ts";
import { canTap, writesHidden } from "./fast-paths.ts";
import { hashedSource, hashHere, HashThreads, type LocalHash, type RunningHash } from "./hashing.ts";
import { ReadCache } from "./read-cache.ts";

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Verified bytes under a temporary key, waiting to be published (or discarded). */
export interface StagedBlob {
  digest: Digest;
  size: number;
  key: string;
  /** Already at the digest's path (and hashed there): publish() only checks it is still there. */
  published?: boolean;
  /**
   * Written to the digest's path from this request's own body (a monolithic push on S3,
   * fast-paths.ts HiddenWrites): removed before the transaction (gc), the same request sent
   * again writes it again.
   */
  written?: boolean;
  /**
   * The bytes are this upload's own (its parts, committed): a failed commit keeps them, so the
   * retried closing PUT finds them (the upload row still names them).
   */
  upload?: string;
  /**
   * The version (BlobDriver ObjectInfo.version: S3's or Azure's ETag) of the object whose bytes
   * were checked: publish() copies it only while it is still that one, so an object a late writer
   * (a dead instance's Complete arriving late) put under the upload's key since is never published.
   */
  version?: string;
  /**
   * Copied to the digest's key (published) before the transaction from this key, which still
   * holds the bytes (blob-commit.ts): deleted once the transaction committed (settle()).
   */
  copiedFrom?: string;
  /**
   * Published where it is (an upload's committed object, `key`): the transaction records the blob
   * row naming `key` (or keeps a row whose object is there), and nothing is copied (prepare()).
   */
  inPlace?: boolean;
}

/**
 * Where a blob's bytes live when not under its digest's key: the blob rows (metadata BlobRows,
 * migration 032), asked by every read on a driver that publishes in place, unless the caller read
 * the row already (rowAlreadyRead: a HEAD or GET, with its link check). Given the rows of a
 * transaction when the read happens inside one (SQLite has one connection: a read outside the
 * transaction would wait for it).
 */
export interface BlobLocator {
  /** undefined: no row; null: the digest's own key. */
  objectKey(digest: Digest): Promise<string | null | undefined>;
}

/**
 * The locator of one blob whose row a query has already read (a HEAD or GET's link check reads
 * it in the same query: BlobLinkRows.seenWithKey), so keyOf asks the database nothing more.
 * `objectKey` as BlobLocator.objectKey answers it.
 */
export function rowAlreadyRead(digest: Digest, objectKey: string | null | undefined): BlobLocator {
  return {
    objectKey: (asked) => (asked === digest ? Promise.resolve(objectKey) : Promise.reject(new Error(`the row read is ${digest}'s, not ${asked}'s`))),
  };
}

/** Plain data the caller stores (the upload row), so the next PATCH may land after a restart. */
export interface UploadSession {
  id: string;
  offset: number;
  /** The hash kept while bytes stream in; another algorithm at finish costs one re-read. */
  algorithm: DigestAlgorithm;
  /** The driver's record of the parts written (blob-driver.ts); null before the first part. */
  handle: UploadHandle | null;
  /**
   * A name this store gave the last part written (random per part), kept with the handle: a running
   * hash held in memory is used only for the session whose writer is the one it saw last, so it
   * never stands for parts another process (or a part the row never recorded) wrote.
   */
  writer?: string | null;
  /** The digest the upload row recorded the bytes verified as, just before they were moved there. */
  verified?: Digest | null;
}

/**
 * Running hash of an upload (node:crypto's, on a hashing thread), kept while the process lives.
 * Another process (a restart, or an instance the upload moved to) rebuilds it once from the parts
 * where the driver can read them back (the filesystem): one re-read per hand-over, never per
 * chunk. Where it cannot (S3, Azure: parts are readable only once committed), that process writes
 * its parts unhashed and the finish commits the parts, reads them back once and hashes them
 * (finishByReading). A resumable hash whose state the row saved with each chunk did the same job
 * at 4 to 5 times node:crypto's CPU on every byte of every chunked push, for the rare hand-over
 * (docs/performance.md, "The chunked push on S3"). A state an older Berth saved is not needed:
 * its upload finishes by reading back too.
 */
interface HashState {
  hash: RunningHash;
  offset: number;
  /** The session writer (UploadSession.writer) of the parts this hash saw; null: none to trust it for. */
  writer: string | null;
}

/**
 * Running hashes kept at most (least recently used dropped first): one per upload between its
 * chunks, each an open hash on a hashing thread. An upload whose hash was dropped costs one
 * re-read at its next chunk, nothing more.
 */
const KEEP_HASHES = 256;

/** Bodies declared smaller than this are hashed on the main thread: a thread's round trip costs more. */
const HASH_HERE_BELOW = 1024 * 1024;

export const BLOB_PREFIX = "blobs";
export const UPLOAD_PREFIX = "uploads";

export function blobKey(digest: Digest): string {
  const hex = hexOf(digest);
  return `${BLOB_PREFIX}/${algorithmOf(digest)}/${hex.slice(0, 2)}/${hex}`;
}

/** blobs/sha256/ab/abcd… → sha256:abcd… (null for anything else). */
export function digestOfKey(key: string): Digest | null {
  const parts = key.split("/");
  if (parts.length !== 4 || parts[0] !== BLOB_PREFIX) return null;
  const candidate = `${parts[1]}:${parts[3]}`;
  return /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(candidate) && parts[3]!.startsWith(parts[2]!) ? (candidate as Digest) : null;
}

function uploadKey(id: string): string {
  return `${UPLOAD_PREFIX}/${id}`;
}

export class BlobStore {
  readonly driver: BlobDriver;
  private readonly hashes = new Map<string, HashState>();
  private readonly threads = new HashThreads();
  /** The blob rows, on a driver whose publish would be a copy (S3, Azure); else null: every blob is at its digest's key. */
  private readonly rows: BlobLocator | null;
  /** The local read cache in front of the store (storage.cache.dir), or null. */
  private cache: ReadCache | null = null;

  constructor(driver: BlobDriver, rows?: BlobLocator) {
    this.driver = driver;
    this.rows = rows && copiesOnMove(driver) ? rows : null;
  }

  /** Puts a read cache in `dir` in front of the store (read-cache.ts); open() uses it when given the blob's size. */
  async useReadCache(dir: string, maxBytes: number): Promise<ReadCache> {
    this.cache = await ReadCache.open(dir, maxBytes, (algorithm, size) => this.hashFor(algorithm, size));
    return this.cache;
  }

  /** Whether blob rows say where bytes are (S3, Azure): else every blob is at its digest's key. */
  get locatesByRows(): boolean {
    return this.rows !== null;
  }

  /**
   * The key holding the digest's bytes: the one its row names, else the digest's own. `rows`: a
   * transaction's, or the row a query already read (rowAlreadyRead); else the store's own.
   */
  async keyOf(digest: Digest, rows?: BlobLocator): Promise<string> {
    if (!this.rows) return blobKey(digest);
    return (await (rows ?? this.rows).objectKey(digest)) ?? blobKey(digest);
  }

  /** Stops the hashing threads. */
  close(): Promise<void> {
    for (const state of this.hashes.values()) state.hash.dispose();
    this.hashes.clear();
    return this.threads.close();
  }

  /** Forgets the running hash kept for an upload (it failed, moved, or is gone). */
  forgetHash(id: string): void {
    const kept = this.hashes.get(id);
    if (kept) dispose(kept);
    this.hashes.delete(id);
  }

  /**
   * The row will not record the upload's last part (a chunk short of its Content-Range): forget the
   * hash that saw it. The next part goes on from what the row records: the parts re-read, or the
   * hash state saved with them.
   */
  forgetLastPart(id: string): void {
    this.forgetHash(id);
  }

  /**
   * Forgets the running hashes of uploads that are gone or whose last part another writer wrote
   * (another process took them over, gc purged them): `current` answers the upload rows' writers.
   */
  async pruneHashes(current: (ids: string[]) => Promise<Map<string, string | null>>): Promise<void> {
    if (this.hashes.size === 0) return;
    const writers = await current([...this.hashes.keys()]);
    for (const [id, state] of this.hashes) {
      if (!writers.has(id) || writers.get(id) !== state.writer) this.forgetHash(id);
    }
  }

  private keep(id: string, state: HashState): void {
    this.forgetHash(id);
    this.hashes.set(id, state);
    for (const oldest of this.hashes.keys()) {
      if (this.hashes.size <= KEEP_HASHES) break;
      this.forgetHash(oldest);
    }
  }

  /** The running hash kept for exactly the session's parts (same writer, same offset), else undefined. */
  private keptFor(session: UploadSession, algorithm: DigestAlgorithm): HashState | undefined {
    const kept = this.hashes.get(session.id);
    if (!kept || kept.writer === null || kept.writer !== (session.writer ?? null) || kept.offset !== session.offset || kept.hash.algorithm !== algorithm) return undefined;
    return kept;
  }

  /** A running hash for a body of `declaredSize` bytes (undefined: unknown, maybe large). */
  private hashFor(algorithm: DigestAlgorithm, declaredSize?: number): RunningHash {
    return declaredSize !== undefined && declaredSize < HASH_HERE_BELOW ? hashHere(algorithm) : this.threads.start(algorithm);
  }

  /** `rows`: a transaction's, when asked inside one (BlobLocator), or the row already read (keyOf). */
  async stat(digest: Digest, rows?: BlobLocator): Promise<BlobInfo | null> {
    const info = await this.driver.stat(await this.keyOf(digest, rows));
    return info ? { digest, size: info.size } : null;
  }

  /**
   * The blob's bytes (`range`, else all). `known.size`: the size the caller's stat found, after
   * its access and link checks: only then may the bytes come from, and fill, the read cache
   * (a pull). Without it (fsck, gc, indexing) they always come from the store. `rows`: as keyOf's.
   */
  async open(digest: Digest, range?: ByteRange, known?: { size: number }, rows?: BlobLocator): Promise<Readable> {
    const key = await this.keyOf(digest, rows);
    if (!this.cache || !known) return this.driver.read(key, range);
    return this.cache.read(digest, known.size, range, (r) => this.driver.read(key, r));
  }

  /** Where a client may fetch the blob directly for a while, or null: serve it through Berth. `rows`: as keyOf's. */
  async redirectUrl(digest: Digest, expiresInSeconds: number, rows?: BlobLocator): Promise<string | null> {
    return this.driver.redirectUrl(await this.keyOf(digest, rows), expiresInSeconds);
  }

  /** Streams a whole blob to a temporary key, hashing as it goes; throws DIGEST_INVALID on mismatch. */
  async receive(body: AsyncIterable<Uint8Array>, expected: Digest, signal?: AbortSignal, declaredSize?: number): Promise<StagedBlob> {
    const check = (digest: Digest) => {
      if (digest !== expected) throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    };
    const hash = this.hashFor(algorithmOf(expected), declaredSize);
    // S3: straight to the digest's key, visible only once committed after the check (fast-paths.ts).
    if (writesHidden(this.driver)) {
      const key = blobKey(expected);
      return { ...(await this.writeWhole(body, hash, signal, check, await this.driver.hiddenWriter(key))), key, published: true, written: true };
    }
    return this.writeWhole(body, hash, signal, check);
  }

  /**
   * Streams bytes of unknown digest to a temporary key, hashing as they go (for packages whose
   * digest the client does not send). More than `maxBytes` aborts with `tooLarge()`.
   */
  async stage(body: AsyncIterable<Uint8Array>, algorithm: DigestAlgorithm, maxBytes: number, tooLarge: () => Error, signal?: AbortSignal): Promise<StagedBlob> {
    async function* bounded(source: AsyncIterable<Uint8Array>) {
      let seen = 0;
      for await (const chunk of source) {
        seen += chunk.length;
        if (seen > maxBytes) throw tooLarge();
        yield chunk;
      }
    }
    return this.writeWhole(bounded(body), this.hashFor(algorithm), signal);
  }

  /** One part, hashed, committed once `check` accepts its digest; on any failure nothing stays. */
  private async writeWhole(body: AsyncIterable<Uint8Array>, hash: RunningHash, signal?: AbortSignal, check?: (digest: Digest) => void, hidden?: BlobWriter): Promise<StagedBlob> {
    const key = uploadKey(`put-${randomUUID()}`);
    let writer: BlobWriter | null = hidden ?? null;
    try {
      writer ??= await this.driver.writer(key);
      const size = await writeHashed(writer, body, hash, { signal, last: true });
      const digest = await hash.digest();
      check?.(digest);
      await writer.commit();
      return { digest, size, key };
    } catch (err) {
      hash.dispose();
      await bestEffort(writer ? writer.cancel() : this.driver.delete(key));
      throw err;
    }
  }

  /** Reads staged bytes back (to inspect a package before it is published). */
  openStaged(staged: StagedBlob): Promise<Readable> {
    return this.driver.read(staged.key);
  }

  /**
   * Makes staged bytes visible under their digest, replacing any file already there. Replacing
   * instead of keeping: a file at the digest's path may hold other bytes (a crash of an older
   * Berth, bit rot, a hand-made copy), and the staged bytes were just verified, so moving them
   * over it costs less than re-hashing it and leaves the right bytes either way.
   */
  async publish(staged: StagedBlob): Promise<void> {
    if (staged.inPlace) return this.stillThere(staged);
    if (!staged.published) return this.move(staged, (from, to, options) => this.driver.move(from, to, options));
    // Written or copied there before the caller's transaction began; gc may have removed it since
    // (an object without a row). Looked at again here, inside the transaction, where gc can no
    // longer interleave.
    const info = await this.driver.stat(blobKey(staged.digest));
    if (info?.size === staged.size) return;
    // Copied from bytes that are still there (an upload's, a put- key): the same request sent again copies them again.
    if (staged.copiedFrom !== undefined) throw new CopyRemoved(staged.digest);
    // Written from the request's own body: a 503 the client sends again (docker and containerd
    // do), which writes it again, rather than a 404 that ends its push.
    if (staged.written) throw new RegistryError("UNAVAILABLE", "the blob's object was removed (gc) before the push was recorded; send the request again", { digest: staged.digest });
    // Found there (publishedBy: a first try moved the upload's bytes there): they are gone with it.
    throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "the blob's file went away before it was committed; push it again", { digest: staged.digest });
  }

  /**
   * Before the caller's transaction: where publishing is a copy (S3, Azure), the copy to the
   * digest's key, so that the transaction is not held for it; publish() then only checks the copy
   * is still there. Elsewhere (a rename) the staged blob as it is. A failed transaction leaves the
   * copy as an object without a row (gc's stray, after its grace) and the bytes copied where they were.
   */
  async prepare(staged: StagedBlob): Promise<StagedBlob> {
    const driver = this.driver;
    if (staged.published || !copiesOnMove(driver)) return staged;
    // An upload's committed object stays where it is: the row will name it. Its key is never
    // written again (the upload row goes in the same transaction, and the drivers commit an
    // upload's object only where none is: S3's If-None-Match, Azure's ifNoneMatch).
    if (staged.upload !== undefined && this.rows) return { ...staged, inPlace: true };
    await this.move(staged, (from, to, options) => driver.copy(from, to, options));
    return { ...staged, key: blobKey(staged.digest), published: true, copiedFrom: staged.key };
  }

  /**
   * After the transaction committed: the bytes prepare() copied from, now a second copy no row
   * names; and the staged object itself when a row already named another object holding the
   * digest's bytes (`surplus`: the same blob pushed twice, the second in place or, after one in
   * place, to the digest's key).
   */
  async settle(staged: StagedBlob, surplus = false): Promise<void> {
    const driver = this.driver;
    if (!copiesOnMove(driver)) return;
    if (staged.copiedFrom !== undefined) await driver.deleteObject(staged.copiedFrom);
    if (surplus && (staged.inPlace || staged.published)) await driver.deleteObject(staged.key);
  }

  /**
   * Whether the bytes of a digest whose row names `objectKey` (null: the digest's key) are there,
   * whole: then a second upload of the same digest is surplus, and the row keeps its object (a
   * read or a redirect URL may be using it).
   */
  async holds(digest: Digest, objectKey: string | null, size: number): Promise<boolean> {
    return (await this.driver.stat(objectKey ?? blobKey(digest)))?.size === size;
  }

  /**
   * publish() of an upload published in place, inside the transaction: its object is still the
   * one whose bytes were checked (the version the commit or the read-back saw).
   */
  private async stillThere(staged: StagedBlob): Promise<void> {
    const info = await this.driver.stat(staged.key);
    if (!info || info.size !== staged.size) throw missingUploadData(staged.upload ?? staged.key);
    if (staged.version !== undefined && info.version !== undefined && info.version !== staged.version) {
      throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "the upload's bytes were replaced after they were checked (a late write of another request); start the upload again", { digest: staged.digest });
    }
  }

  private async move(staged: StagedBlob, how: (from: string, to: string, options: MoveOptions) => Promise<void>): Promise<void> {
    try {
      await how(staged.key, blobKey(staged.digest), { ifVersion: staged.version });
    } catch (err) {
      if ((err as { code?: string }).code !== "ECHANGED") throw err;
      throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "the upload's bytes were replaced after they were checked (a late write of another request); start the upload again", { digest: staged.digest });
    }
  }

  /** Drops staged bytes after a failed commit; an upload's own bytes stay (its row still names them). */
  async discard(staged: StagedBlob): Promise<void> {
    if (staged.copiedFrom !== undefined) return this.discard({ ...staged, key: staged.copiedFrom, published: false, copiedFrom: undefined });
    if (!staged.published && staged.upload === undefined) await this.driver.delete(staged.key);
  }

  /**
   * A new upload: nothing is stored until its first part (most clients finish with one PUT
   * carrying the whole blob, which receive() writes and hashes on its own).
   */
  startUpload(algorithm: DigestAlgorithm = "sha256"): UploadSession {
    return { id: randomUUID(), offset: 0, algorithm, handle: null, writer: null, verified: null };
  }

  /**
   * Appends a chunk as the upload's next part; the returned session (offset, handle, writer) goes
   * to the upload row. The running hash is kept under the new writer name, which counts only once
   * the row records it: a caller that does not record the part calls forgetHash().
   */
  async appendUpload(session: UploadSession, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadSession> {
    const writer = await this.writerOf(session);
    const state = await this.hashState(session, session.algorithm, writer);
    // A failed part leaves the hash unknown: the next part goes on from what the row records
    // (the parts re-read, or the saved state, which the row keeps until a part is recorded).
    this.hashes.delete(session.id);
    if (!state) {
      // Parts this process did not see, on a driver that cannot read them back: unhashed, until the finish reads them all.
      try {
        await writer.write(body, { signal });
      } catch (err) {
        throw lostUpload(err, session.id);
      }
      return { ...session, offset: writer.size, handle: writer.handle, writer: randomUUID() };
    }
    try {
      await writeHashed(writer, body, state.hash, { signal });
    } catch (err) {
      state.hash.dispose();
      throw lostUpload(err, session.id);
    }
    const name = randomUUID();
    this.keep(session.id, { hash: state.hash, offset: writer.size, writer: name });
    return { ...session, offset: writer.size, handle: writer.handle, writer: name };
  }

  /** Verifies all bytes of an upload against `expected` and commits them, staged for publish. */
  async finishUpload(session: UploadSession, expected: Digest): Promise<StagedBlob> {
    const writer = await this.writerOf(session);
    const state = await this.hashState(session, algorithmOf(expected), writer);
    if (!state) return this.finishByReading(session, expected, writer);
    this.hashes.delete(session.id);
    const digest = await state.hash.digest();
    // The parts stay for the caller to drop with the upload's row (as readBack's).
    if (digest !== expected) throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    return this.commitHashed(writer, session, expected);
  }

  /**
   * Commits parts whose every byte this process hashed as `expected`: the object the commit made
   * is the one to publish (its version). A commit that found the object made already by a try
   * whose answer was lost does not know which object is there now, where the store has versions:
   * that one is read back, as finishByReading does.
   */
  private async commitHashed(writer: BlobWriter, session: UploadSession, expected: Digest): Promise<StagedBlob> {
    const version = await this.commitParts(writer, session.id);
    const key = uploadKey(session.id);
    if (!version && (await this.driver.stat(key))?.version !== undefined) return this.readBack(session, expected);
    return { digest: expected, size: session.offset, key, upload: session.id, ...(version && { version }) };
  }

  /**
   * finishUpload on a driver that cannot read parts back, with no running hash of every part (some
   * were written by another process, or a digest of another algorithm than the upload hashed): the
   * parts are committed, read back once and hashed; a mismatch deletes them.
   */
  private async finishByReading(session: UploadSession, expected: Digest, writer: BlobWriter): Promise<StagedBlob> {
    this.forgetHash(session.id);
    await this.commitParts(writer, session.id);
    return this.readBack(session, expected);
  }

  /** The committed upload hashed from the store; its version taken first, so publish() copies only what was read. */
  private async readBack(session: UploadSession, expected: Digest): Promise<StagedBlob> {
    const key = uploadKey(session.id);
    let digest: Digest;
    let version: string | undefined;
    try {
      const info = await this.driver.stat(key);
      if (!info) throw missingUploadData(session.id);
      version = info.version;
      digest = (await hashOf((range) => this.driver.read(key, range), session.offset, algorithmOf(expected))).peek();
    } catch (err) {
      throw lostUpload(err, session.id); // committed, then moved away by a first try (completedUnreadable)
    }
    // Not deleted here: the caller drops the upload (its row, then its object) when it is still
    // the upload's; on S3 and Azure the object under the upload's key may be a blob by now (a
    // request that lost its lease reading back what another published in place).
    if (digest !== expected) throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    return { digest, size: session.offset, key, upload: session.id, ...(version && { version }) };
  }

  /**
   * A closing PUT may find the upload already holding every byte of `expected`, its own last chunk
   * included: it repeats the last PATCH, whose answer was lost, or it is retried after its first
   * try died (kill -9, a failed commit). Appending that chunk again would spoil the upload, so when
   * the bytes held hash to `expected` the chunk is compared with the last bytes held instead: the
   * same bytes give the blob to commit (201, as if the first try had answered), other bytes
   * DIGEST_INVALID. Null: the upload is still short of `expected` (the normal case): append the
   * chunk, then finishUpload().
   *
   * Only the upload's own bytes are looked at: the running hash this process kept for exactly
   * the parts the row records (one question to its thread), else the parts read back once (kept
   * for the append that usually follows). A file at the digest's path stands for the upload only
   * when its row recorded, before the move, that its bytes verified as `expected` and its parts
   * are gone: the first try moved them there. On a driver that cannot read parts back (S3, Azure)
   * without the kept hash, the parts are committed and read back (completedUnreadable).
   */
  async completedUpload(session: UploadSession, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ByteRange }): Promise<StagedBlob | null> {
    if (session.offset === 0 || (last?.range && last.range.end + 1 !== session.offset)) return null;
    const algorithm = algorithmOf(expected);
    const kept = this.keptFor(session, algorithm);
    if (kept) {
      // The normal path: finishUpload() ends this very hash.
      if (!last || (await kept.hash.digestSoFar()) !== expected) return null;
      const writer = await this.writerOf(session);
      if (canReadParts(writer)) {
        if (!(await endsWith((range) => writer.readParts(range), session.offset, last.body))) throw lastChunkDiffers(expected);
      } else {
        for await (const _ of last.body); // cannot be compared; what is published is the bytes verified, whatever the chunk
      }
      this.hashes.delete(session.id);
      dispose(kept);
      return this.commitHashed(writer, session, expected);
    }
    let writer: BlobWriter | null = null;
    let hash: LocalHash | null = null;
    try {
      writer = await this.writerOf(session);
      if (!canReadParts(writer)) return await this.completedUnreadable(session, expected, writer, last);
      const held = writer;
      hash = await hashOf((range) => held.readParts(range), session.offset, algorithm);
    } catch (err) {
      const code = err instanceof RegistryError ? err.code : (err as { code?: string }).code;
      if (code !== "ENOENT" && code !== "BLOB_UPLOAD_UNKNOWN") throw err;
      // The upload's parts are gone: moved to the digest's path by a first try, if its row says so.
      if (session.verified === expected) return this.publishedBy(session, expected, last);
      return null; // the normal path reports the upload as lost
    }
    if (hash.peek() !== expected) {
      this.keep(session.id, { hash, offset: session.offset, writer: session.writer ?? null });
      return null;
    }
    const held = writer as BlobWriter & { readParts: (range: ByteRange) => Promise<Readable> };
    if (last && !(await endsWith((range) => held.readParts(range), session.offset, last.body))) throw lastChunkDiffers(expected);
    try {
      await this.commitParts(held, session.id);
    } catch (err) {
      // The upload's own bytes are the digest's, but its file is also another name (an older
      // Berth hard-linked finished uploads as the blob): never written again. The file at the
      // digest's path, hashed here, is then the blob to link, which these bytes prove the pusher has.
      if (!(err instanceof RegistryError && err.code === "BLOB_UPLOAD_UNKNOWN")) throw err;
      const published = await this.publishedBy(session, expected);
      if (!published) throw err;
      return published;
    }
    return { digest: expected, size: session.offset, key: uploadKey(session.id), upload: session.id };
  }

  /**
   * completedUpload on a driver that cannot read parts back, without a hash this process kept for
   * exactly these parts: they are read back when they must already be whole (below).
   */
  private async completedUnreadable(session: UploadSession, expected: Digest, writer: BlobWriter, last?: { body: AsyncIterable<Uint8Array>; range?: ByteRange }): Promise<StagedBlob | null> {
    // The parts are committed and read back when they must already be whole: the row says a first
    // try verified them as `expected` (it died publishing them), or the last chunk's range ends
    // where the upload does (a repeat of bytes it holds: the append would be refused as out of
    // order). Whole: the answer the first try lost; anything else DIGEST_INVALID (and the parts
    // go). Otherwise the chunk is appended as usual and the finish reads everything back: never a
    // wrong blob, at worst a start over.
    if (session.verified !== expected && !last?.range) return null;
    let staged: StagedBlob;
    try {
      staged = await this.finishByReading(session, expected, writer);
    } catch (err) {
      // The parts are gone: moved to the digest's key by the first try (Azure: copied, then
      // deleted), which the row recorded before the move.
      if (!(err instanceof RegistryError && err.code === "BLOB_UPLOAD_UNKNOWN") || session.verified !== expected) throw err;
      const published = await this.publishedBy(session, expected, last);
      if (!published) throw err;
      return published;
    }
    if (last) for await (const _ of last.body); // cannot be compared; what is published is the bytes verified, whatever the chunk
    return staged;
  }

  /** The blob a first try published from this upload (its row recorded the digest before the move), hashed again here. */
  private async publishedBy(session: UploadSession, expected: Digest, last?: { body: AsyncIterable<Uint8Array> }): Promise<StagedBlob | null> {
    const published = await this.driver.stat(blobKey(expected));
    const readBlob = (range: ByteRange) => this.driver.read(blobKey(expected), range);
    if (published?.size !== session.offset || (await hashOf(readBlob, session.offset, algorithmOf(expected))).peek() !== expected) return null;
    if (last && !(await endsWith(readBlob, session.offset, last.body))) throw lastChunkDiffers(expected);
    return { digest: expected, size: session.offset, key: blobKey(expected), published: true };
  }

  /** Drops an upload's parts, whatever the driver made of them. */
  async cancelUpload(id: string): Promise<void> {
    this.forgetHash(id);
    await this.driver.delete(uploadKey(id));
  }

  /** The writer continuing a session; BLOB_UPLOAD_UNKNOWN when its parts are gone. */
  private async writerOf(session: UploadSession): Promise<BlobWriter> {
    // An upload row of an older Berth has bytes but no handle: they cannot be continued.
    if (session.handle === null && session.offset > 0) throw missingUploadData(session.id);
    let writer: BlobWriter;
    try {
      writer = await this.driver.writer(uploadKey(session.id), session.handle);
    } catch (err) {
      throw lostUpload(err, session.id);
    }
    if (writer.size !== session.offset) throw missingUploadData(session.id);
    return writer;
  }

  private async commitParts(writer: BlobWriter, id: string): Promise<string | void> {
    try {
      return await writer.commit();
    } catch (err) {
      throw lostUpload(err, id);
    }
  }

  /**
   * The running hash at session.offset, rebuilt from the stored parts when this process lacks it;
   * null where it cannot be (S3, Azure: parts another process wrote): the finish reads them back.
   */
  private async hashState(session: UploadSession, algorithm: DigestAlgorithm, writer: BlobWriter): Promise<HashState | null> {
    const kept = this.keptFor(session, algorithm);
    if (kept) return kept;
    this.forgetHash(session.id);
    if (session.offset === 0) return { hash: this.threads.start(algorithm), offset: 0, writer: null };
    if (!canReadParts(writer)) return null;
    try {
      return { hash: await hashOf((range) => writer.readParts(range), session.offset, algorithm), offset: session.offset, writer: session.writer ?? null };
    } catch (err) {
      throw lostUpload(err, session.id);
    }
  }
}

/**
 * A clean-up after a request failed (the client's wrong digest, a broken body): its failure must
 * not replace the request's error (a 400 would become a 503 the client sends again, to get the
 * 400 then). What it leaves is gc's: an object or an upload no row names (services/gc.ts, 4).
 */
export async function bestEffort(cleanUp: Promise<unknown>): Promise<void> {
  await cleanUp.catch(() => undefined);
}

/** Ends a kept hash. */
function dispose(state: HashState): void {
  state.hash.dispose();
}

/** Writes one part through the writer's tapped fast path when it has one, else through hashedSource. */
function writeHashed(writer: BlobWriter, body: AsyncIterable<Uint8Array>, hash: RunningHash, options: PartOptions): Promise<number> {
  return canTap(writer) ? writer.writeTapped(body, hash, options) : writer.write(hashedSource(body, hash), options);
}

type ReadRange = (range: ByteRange) => Promise<Readable>;

/**
 * A hash of the first `length` bytes `read` gives. Here, on the main thread: the stored bytes
 * are not in shared memory (and this is rare: after a restart, a failed chunk, a retried finish).
 */
async function hashOf(read: ReadRange, length: number, algorithm: DigestAlgorithm): Promise<LocalHash> {
  const hash = hashHere(algorithm);
  if (length === 0) return hash;
  for await (const chunk of await read({ start: 0, end: length - 1 })) await hash.see(chunk as Buffer);
  return hash;
}

/** Whether `body` holds exactly the bytes that end at `end` of what `read` gives (streamed, never buffered). */
async function endsWith(read: ReadRange, end: number, body: AsyncIterable<Uint8Array>): Promise<boolean> {
  const sent = hashHere("sha256");
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    await sent.see(chunk);
  }
  if (length > end) return false;
  const stored = hashHere("sha256");
  if (length > 0) for await (const chunk of await read({ start: end - length, end: end - 1 })) await stored.see(chunk as Buffer);
  return sent.peek() === stored.peek();
}

function lastChunkDiffers(expected: Digest): RegistryError {
  return new RegistryError("DIGEST_INVALID", "the upload already holds all of the digest's bytes, and this chunk differs from its last ones", { expected });
}

/** A driver's word that the upload's parts are gone (ENOENT) as BLOB_UPLOAD_UNKNOWN. */
/**
 * A driver's word that the upload's parts are gone (ENOENT), or that another writer's object is
 * under its key (EEXIST: create-only commits, drivers/create-only.ts), as BLOB_UPLOAD_UNKNOWN.
 */
function lostUpload(err: unknown, id: string): unknown {
  const code = (err as { code?: string }).code;
  return code === "ENOENT" || code === "EEXIST" ? missingUploadData(id) : err;
}

function missingUploadData(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload data is missing; start the upload again", { id });
}

/**
 * publish() found the copy prepare() made gone (gc removed the digest's object in between). The
 * bytes it was copied from are still there, so the caller may prepare again; sent to a client, it
 * is a 503 to send again.
 */
export class CopyRemoved extends RegistryError {
  constructor(digest: Digest) {
    super("UNAVAILABLE", "the blob's object was removed (gc) before the push was recorded; send the request again", { digest });
  }
}

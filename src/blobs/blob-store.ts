// Content-addressed blobs over a BlobDriver. This is the only place a blob's bytes are checked
// against a digest: bytes are hashed as they stream to a temporary key, and become visible under
// blobs/<alg>/<xx>/<hex> only through publish(), after the digest matched. Nothing here trusts
// a file by its name: publish() replaces whatever sits at the digest's path, and a file found
// there is used only after it was hashed (a closing PUT retried after a crash).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { canReadParts, type BlobDriver, type BlobWriter, type ByteRange, type PartOptions, type UploadHandle } from "./blob-driver.ts";
import { canTap } from "./fast-paths.ts";
import { hashedSource, hashHere, HashThreads, type LocalHash, type RunningHash } from "./hashing.ts";

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
}

/** Plain data the caller stores (the upload row), so the next PATCH may land after a restart. */
export interface UploadSession {
  id: string;
  offset: number;
  /** The hash kept while bytes stream in; another algorithm at finish costs one re-read. */
  algorithm: DigestAlgorithm;
  /** The driver's record of the parts written (blob-driver.ts); null before the first part. */
  handle: UploadHandle | null;
}

/**
 * Running hash of an upload, kept while the process lives. Another process (a restart, or an
 * instance the upload moved to) rebuilds it once from the parts when the driver can read them
 * back, and keeps it from then on: one re-read per hand-over, not per chunk. A saved hash state
 * in the upload row, or routing each upload to the process that owns it, would avoid even that
 * re-read (docs/architecture.md, "Storage"); neither changes this interface.
 */
interface HashState {
  hash: RunningHash;
  offset: number;
}

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

  constructor(driver: BlobDriver) {
    this.driver = driver;
  }

  /** Stops the hashing threads. */
  close(): Promise<void> {
    return this.threads.close();
  }

  /** A running hash for a body of `declaredSize` bytes (undefined: unknown, maybe large). */
  private hashFor(algorithm: DigestAlgorithm, declaredSize?: number): RunningHash {
    return declaredSize !== undefined && declaredSize < HASH_HERE_BELOW ? hashHere(algorithm) : this.threads.start(algorithm);
  }

  async stat(digest: Digest): Promise<BlobInfo | null> {
    const info = await this.driver.stat(blobKey(digest));
    return info ? { digest, size: info.size } : null;
  }

  open(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.driver.read(blobKey(digest), range);
  }

  /** Where a client may fetch the blob directly for a while, or null: serve it through Berth. */
  redirectUrl(digest: Digest, expiresInSeconds: number): Promise<string | null> {
    return this.driver.redirectUrl(blobKey(digest), expiresInSeconds);
  }

  /** Streams a whole blob to a temporary key, hashing as it goes; throws DIGEST_INVALID on mismatch. */
  async receive(body: AsyncIterable<Uint8Array>, expected: Digest, signal?: AbortSignal, declaredSize?: number): Promise<StagedBlob> {
    const staged = await this.writeWhole(body, this.hashFor(algorithmOf(expected), declaredSize), signal, (digest) => {
      if (digest !== expected) throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    });
    return staged;
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
  private async writeWhole(body: AsyncIterable<Uint8Array>, hash: RunningHash, signal?: AbortSignal, check?: (digest: Digest) => void): Promise<StagedBlob> {
    const key = uploadKey(`put-${randomUUID()}`);
    let writer: BlobWriter | null = null;
    try {
      writer = await this.driver.writer(key);
      const size = await writeHashed(writer, body, hash, { signal, last: true });
      const digest = await hash.digest();
      check?.(digest);
      await writer.commit();
      return { digest, size, key };
    } catch (err) {
      hash.dispose();
      await (writer ? writer.cancel() : this.driver.delete(key));
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
    if (!staged.published) return this.driver.move(staged.key, blobKey(staged.digest));
    // Hashed before the caller's transaction began; gc may have removed it since (a file without
    // a row). Looked at again here, inside the transaction, where gc can no longer interleave.
    const info = await this.driver.stat(blobKey(staged.digest));
    if (info?.size !== staged.size) throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "the blob's file went away before it was committed; push it again", { digest: staged.digest });
  }

  async discard(staged: StagedBlob): Promise<void> {
    if (!staged.published) await this.driver.delete(staged.key);
  }

  /**
   * A new upload: nothing is stored until its first part (most clients finish with one PUT
   * carrying the whole blob, which receive() writes and hashes on its own).
   */
  startUpload(algorithm: DigestAlgorithm = "sha256"): UploadSession {
    return { id: randomUUID(), offset: 0, algorithm, handle: null };
  }

  /** Appends a chunk as the upload's next part; the returned session (offset, handle) goes to the upload row. */
  async appendUpload(session: UploadSession, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadSession> {
    const writer = await this.writerOf(session);
    const state = await this.hashState(session, session.algorithm, writer);
    this.hashes.delete(session.id); // a failed part leaves the state unknown; rebuilt next time
    try {
      await writeHashed(writer, body, state.hash, { signal });
    } catch (err) {
      state.hash.dispose();
      throw lostUpload(err, session.id);
    }
    state.offset = writer.size;
    this.hashes.set(session.id, state);
    return { ...session, offset: writer.size, handle: writer.handle };
  }

  /** Verifies all bytes of an upload against `expected` and commits them, staged for publish. */
  async finishUpload(session: UploadSession, expected: Digest): Promise<StagedBlob> {
    const writer = await this.writerOf(session);
    const state = await this.hashState(session, algorithmOf(expected), writer);
    this.hashes.delete(session.id);
    const digest = await state.hash.digest();
    if (digest !== expected) {
      await writer.cancel();
      throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    }
    await this.commitParts(writer, session.id);
    return { digest, size: session.offset, key: uploadKey(session.id) };
  }

  /**
   * A closing PUT retried after its first try died (kill -9, a failed commit) may find the upload
   * already holding every byte of `expected`, its own last chunk included, or already published.
   * Appending that chunk again would spoil the upload, so when the bytes held hash to `expected`
   * the chunk is compared with the last bytes held instead: the same bytes give the blob to
   * commit (201, as if the first try had answered), other bytes DIGEST_INVALID. Null: the upload
   * is still short of `expected` (the normal case): append the chunk, then finishUpload().
   *
   * Free on the normal path: a running hash kept at this offset means this process appended the
   * bytes and no finish ran since. Otherwise the bytes held are hashed once, which an append
   * after a restart needs anyway (the hash is kept for it). A driver that cannot read parts back
   * (S3, Azure) cannot tell: null, and the normal path decides.
   */
  async completedUpload(session: UploadSession, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ByteRange }): Promise<StagedBlob | null> {
    if (session.offset === 0 || (last?.range && last.range.end + 1 !== session.offset)) return null;
    if (this.hashes.get(session.id)?.offset === session.offset) return null;
    const algorithm = algorithmOf(expected);
    const published = await this.driver.stat(blobKey(expected));
    const readBlob = (range: ByteRange) => this.driver.read(blobKey(expected), range);
    if (published?.size === session.offset && (await hashOf(readBlob, session.offset, algorithm)).peek() === expected) {
      // The first try got as far as publishing: the upload is the blob now (or, from an older
      // Berth, a second name of it, never to be written again).
      if (last && !(await endsWith(readBlob, session.offset, last.body))) throw lastChunkDiffers(expected);
      return { digest: expected, size: session.offset, key: blobKey(expected), published: true };
    }
    let writer: BlobWriter;
    try {
      writer = await this.writerOf(session);
    } catch {
      return null; // the normal path reports the upload as lost
    }
    if (!canReadParts(writer) || writer.size !== session.offset) return null;
    const readHeld = (range: ByteRange) => writer.readParts(range);
    let hash: LocalHash;
    try {
      hash = await hashOf(readHeld, session.offset, algorithm);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return null; // the parts are gone: the normal path reports the upload as lost
      throw err;
    }
    if (hash.peek() !== expected) {
      this.hashes.get(session.id)?.hash.dispose();
      this.hashes.set(session.id, { hash, offset: session.offset });
      return null;
    }
    if (last && !(await endsWith(readHeld, session.offset, last.body))) throw lastChunkDiffers(expected);
    await this.commitParts(writer, session.id);
    return { digest: expected, size: session.offset, key: uploadKey(session.id) };
  }

  /** Drops an upload's parts, whatever the driver made of them. */
  async cancelUpload(id: string): Promise<void> {
    this.hashes.get(id)?.hash.dispose();
    this.hashes.delete(id);
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

  private async commitParts(writer: BlobWriter, id: string): Promise<void> {
    try {
      await writer.commit();
    } catch (err) {
      throw lostUpload(err, id);
    }
  }

  /** The running hash at session.offset, rebuilt from the stored parts when this process lacks it. */
  private async hashState(session: UploadSession, algorithm: DigestAlgorithm, writer: BlobWriter): Promise<HashState> {
    const kept = this.hashes.get(session.id);
    if (kept && kept.offset === session.offset && kept.hash.algorithm === algorithm) return kept;
    kept?.hash.dispose();
    if (session.offset === 0) return { hash: this.threads.start(algorithm), offset: 0 };
    // Neither kept here nor readable back (S3, Azure): until the upload row can carry a saved
    // hash state, an upload that moved process is lost and the client starts over.
    if (!canReadParts(writer)) throw missingUploadData(session.id);
    try {
      return { hash: await hashOf((range) => writer.readParts(range), session.offset, algorithm), offset: session.offset };
    } catch (err) {
      throw lostUpload(err, session.id);
    }
  }
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
function lostUpload(err: unknown, id: string): unknown {
  return (err as { code?: string }).code === "ENOENT" ? missingUploadData(id) : err;
}

function missingUploadData(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload data is missing; start the upload again", { id });
}

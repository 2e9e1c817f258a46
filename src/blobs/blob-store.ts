// Content-addressed blobs over a BlobDriver. This is the only place a blob's bytes are checked
// against a digest: bytes are hashed as they stream to a temporary key, and become visible under
// blobs/<alg>/<xx>/<hex> only through publish(), after the digest matched.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { BlobDriver, ByteRange } from "./blob-driver.ts";
import { hashHere, HashThreads, type RunningHash } from "./hashing.ts";

export interface BlobInfo {
  digest: Digest;
  size: number;
  modified: Date;
}

/** Verified bytes under a temporary key, waiting to be published (or discarded). */
export interface StagedBlob {
  digest: Digest;
  size: number;
  key: string;
}

/** Plain data the caller stores, so the next PATCH may land after a restart. */
export interface UploadSession {
  id: string;
  offset: number;
  /** The hash kept while bytes stream in; another algorithm at finish costs one re-read. */
  algorithm: DigestAlgorithm;
}

/** Running hash of an upload, kept while the process lives; rebuilt from the bytes otherwise. */
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
    return info ? { digest, size: info.size, modified: info.modified } : null;
  }

  open(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.driver.read(blobKey(digest), range);
  }

  /** Streams a whole blob to a temporary key, hashing as it goes; throws DIGEST_INVALID on mismatch. */
  async receive(body: AsyncIterable<Uint8Array>, expected: Digest, signal?: AbortSignal, declaredSize?: number): Promise<StagedBlob> {
    const hash = this.hashFor(algorithmOf(expected), declaredSize);
    const key = uploadKey(`put-${randomUUID()}`);
    let size: number;
    let digest: Digest;
    try {
      size = await this.driver.write(key, body, { durable: true, signal, tap: hash });
      digest = await hash.digest();
    } catch (err) {
      hash.dispose();
      await this.driver.delete(key);
      throw err;
    }
    if (digest !== expected) {
      await this.driver.delete(key);
      throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    }
    return { digest, size, key };
  }

  /**
   * Streams bytes of unknown digest to a temporary key, hashing as they go (for packages whose
   * digest the client does not send). More than `maxBytes` aborts with `tooLarge()`.
   */
  async stage(body: AsyncIterable<Uint8Array>, algorithm: DigestAlgorithm, maxBytes: number, tooLarge: () => Error, signal?: AbortSignal): Promise<StagedBlob> {
    const hash = this.hashFor(algorithm);
    const key = uploadKey(`put-${randomUUID()}`);
    async function* bounded(source: AsyncIterable<Uint8Array>) {
      let seen = 0;
      for await (const chunk of source) {
        seen += chunk.length;
        if (seen > maxBytes) throw tooLarge();
        yield chunk;
      }
    }
    let size: number;
    let digest: Digest;
    try {
      size = await this.driver.write(key, bounded(body), { durable: true, signal, tap: hash });
      digest = await hash.digest();
    } catch (err) {
      hash.dispose();
      await this.driver.delete(key);
      throw err;
    }
    return { digest, size, key };
  }

  /** Reads staged bytes back (to inspect a package before it is published). */
  openStaged(staged: StagedBlob): Promise<Readable> {
    return this.driver.read(staged.key);
  }

  /** Makes staged bytes visible under their digest. Idempotent: an existing blob is kept. */
  async publish(staged: StagedBlob): Promise<void> {
    await this.driver.publish(staged.key, blobKey(staged.digest));
  }

  async discard(staged: StagedBlob): Promise<void> {
    await this.driver.delete(staged.key);
  }

  /** Restarts gc's grace period for a blob that was just used again (dedup hit, mount). */
  touch(digest: Digest): Promise<void> {
    return this.driver.touch(blobKey(digest));
  }

  async startUpload(algorithm: DigestAlgorithm = "sha256"): Promise<UploadSession> {
    const id = randomUUID();
    await this.driver.write(uploadKey(id), emptySource());
    // No hash yet: most clients finish with one PUT carrying the whole blob, which receive()
    // hashes on its own; the first chunk appended starts one (hashState).
    return { id, offset: 0, algorithm };
  }

  /** Appends a chunk at session.offset (cutting off bytes a crashed request left past it). */
  async appendUpload(session: UploadSession, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<UploadSession> {
    const state = await this.hashState(session, session.algorithm);
    this.hashes.delete(session.id); // a failed append leaves the state unknown; rebuilt next time
    let written: number;
    try {
      written = await this.driver.write(uploadKey(session.id), body, { appendAt: session.offset, signal, tap: state.hash });
    } catch (err) {
      state.hash.dispose();
      if ((err as { code?: string }).code === "ESHORT") throw missingUploadData(session.id);
      throw err;
    }
    state.offset = session.offset + written;
    this.hashes.set(session.id, state);
    return { ...session, offset: state.offset };
  }

  /** Verifies all bytes of an upload against `expected` and stages them for publish. */
  async finishUpload(session: UploadSession, expected: Digest): Promise<StagedBlob> {
    const key = uploadKey(session.id);
    const info = await this.driver.stat(key);
    if (!info || info.size < session.offset) throw missingUploadData(session.id);
    // Cuts off bytes a crashed request left past the recorded offset, and makes the rest durable.
    await this.driver.write(key, emptySource(), { appendAt: session.offset, durable: true });
    const state = await this.hashState(session, algorithmOf(expected));
    this.hashes.delete(session.id);
    const digest = await state.hash.digest();
    if (digest !== expected) {
      await this.driver.delete(key);
      throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    }
    return { digest, size: session.offset, key };
  }

  async cancelUpload(id: string): Promise<void> {
    this.hashes.get(id)?.hash.dispose();
    this.hashes.delete(id);
    await this.driver.delete(uploadKey(id));
  }

  /** The running hash at session.offset, rebuilt from the stored bytes when this process lacks it. */
  private async hashState(session: UploadSession, algorithm: DigestAlgorithm): Promise<HashState> {
    const kept = this.hashes.get(session.id);
    if (kept && kept.offset === session.offset && kept.hash.algorithm === algorithm) return kept;
    kept?.hash.dispose();
    if (session.offset === 0) return { hash: this.threads.start(algorithm), offset: 0 };
    // Rebuilt here, on the main thread: the stored bytes are not in shared memory (and this is
    // rare: after a restart, a failed chunk, or a finish with another algorithm).
    const hash = hashHere(algorithm);
    const stream = await this.driver.read(uploadKey(session.id), { start: 0, end: session.offset - 1 });
    for await (const chunk of stream) await hash.see(chunk as Buffer);
    return { hash, offset: session.offset };
  }
}

function missingUploadData(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload data is missing; start the upload again", { id });
}

async function* emptySource(): AsyncIterable<Uint8Array> {}

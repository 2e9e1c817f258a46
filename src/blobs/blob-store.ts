// Content-addressed blobs over a BlobDriver. This is the only place a blob's bytes are checked
// against a digest: bytes are hashed as they stream to a temporary key, and become visible under
// blobs/<alg>/<xx>/<hex> only through publish(), after the digest matched. Nothing here trusts
// a file by its name: publish() replaces whatever sits at the digest's path, and a file found
// there is used only after it was hashed (a closing PUT retried after a crash).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { BlobDriver, ByteRange } from "./blob-driver.ts";
import { hashHere, HashThreads, type LocalHash, type RunningHash } from "./hashing.ts";

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
  /** Already at the digest's path (and hashed there): publish() only restarts its grace period. */
  published?: boolean;
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
    await this.touch(staged.digest);
  }

  async discard(staged: StagedBlob): Promise<void> {
    if (!staged.published) await this.driver.delete(staged.key);
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
      throw lostUpload(err, session.id);
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
    await this.settle(key, session);
    const state = await this.hashState(session, algorithmOf(expected));
    this.hashes.delete(session.id);
    const digest = await state.hash.digest();
    if (digest !== expected) {
      await this.driver.delete(key);
      throw new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest", { expected, actual: digest });
    }
    return { digest, size: session.offset, key };
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
   * after a restart needs anyway (the hash is kept for it).
   */
  async completedUpload(session: UploadSession, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ByteRange }): Promise<StagedBlob | null> {
    if (session.offset === 0 || (last?.range && last.range.end + 1 !== session.offset)) return null;
    if (this.hashes.get(session.id)?.offset === session.offset) return null;
    const algorithm = algorithmOf(expected);
    const key = uploadKey(session.id);
    let held: StagedBlob;
    const published = await this.driver.stat(blobKey(expected));
    if (published?.size === session.offset && (await this.hashOf(blobKey(expected), session.offset, algorithm)).peek() === expected) {
      // The first try got as far as publishing: the upload file is the blob now (or, from an
      // older Berth, a second name of it, never to be written again).
      held = { digest: expected, size: session.offset, key: blobKey(expected), published: true };
    } else {
      const file = await this.driver.stat(key);
      if (!file || file.size < session.offset) return null;
      const hash = await this.hashOf(key, session.offset, algorithm);
      if (hash.peek() !== expected) {
        this.hashes.get(session.id)?.hash.dispose();
        this.hashes.set(session.id, { hash, offset: session.offset });
        return null;
      }
      held = { digest: expected, size: session.offset, key };
    }
    if (last && !(await this.endsWith(held.key, session.offset, last.body))) {
      throw new RegistryError("DIGEST_INVALID", "the upload already holds all of the digest's bytes, and this chunk differs from its last ones", { expected });
    }
    if (!held.published) await this.settle(key, session);
    return held;
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
    const info = await this.driver.stat(uploadKey(session.id));
    if (!info || info.size < session.offset) throw missingUploadData(session.id);
    return { hash: await this.hashOf(uploadKey(session.id), session.offset, algorithm), offset: session.offset };
  }

  /**
   * A hash of the first `length` bytes under `key`. Here, on the main thread: the stored bytes
   * are not in shared memory (and this is rare: after a restart, a failed chunk, a retried finish).
   */
  private async hashOf(key: string, length: number, algorithm: DigestAlgorithm): Promise<LocalHash> {
    const hash = hashHere(algorithm);
    if (length === 0) return hash;
    for await (const chunk of await this.driver.read(key, { start: 0, end: length - 1 })) await hash.see(chunk as Buffer);
    return hash;
  }

  /** Whether `body` holds exactly the bytes that end at `end` under `key` (streamed, never buffered). */
  private async endsWith(key: string, end: number, body: AsyncIterable<Uint8Array>): Promise<boolean> {
    const sent = hashHere("sha256");
    let length = 0;
    for await (const chunk of body) {
      length += chunk.length;
      await sent.see(chunk);
    }
    if (length > end) return false;
    const stored = hashHere("sha256");
    if (length > 0) for await (const chunk of await this.driver.read(key, { start: end - length, end: end - 1 })) await stored.see(chunk as Buffer);
    return sent.peek() === stored.peek();
  }

  /** Cuts off bytes a crashed request left past the recorded offset, and makes the rest durable. */
  private async settle(key: string, session: UploadSession): Promise<void> {
    try {
      await this.driver.write(key, emptySource(), { appendAt: session.offset, durable: true });
    } catch (err) {
      throw lostUpload(err, session.id);
    }
  }
}

/** A driver's refusal to append (the file is short, or shared with a published blob) as BLOB_UPLOAD_UNKNOWN. */
function lostUpload(err: unknown, id: string): unknown {
  const code = (err as { code?: string }).code;
  return code === "ESHORT" || code === "ESHARED" ? missingUploadData(id) : err;
}

function missingUploadData(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload data is missing; start the upload again", { id });
}

async function* emptySource(): AsyncIterable<Uint8Array> {}

// A local disk cache of blob bytes in front of an object store (storage.cache.dir; S3 and Azure
// only), as Artifactory keeps a cache-fs in front of S3. A streamed pull cannot be faster than the
// store reads; a rollout pulls the same layers many times from many nodes, and a local file reads
// several times faster. Blobs are content-addressed and immutable, so an entry never goes stale:
// the bytes of a digest are always the same bytes.
//
// The cache is asked only after the access and link checks (BlobService.stat, then
// BlobStore.open with the size it found): which repository may read a blob stays a database
// question, and a digest in the cache is never a reason to answer. Per instance; the directory may
// be wiped at any time (a hit whose file is gone reads from the store).
//
//   hit  (an entry of the size asked): the file's bytes, ranges too (read-cache-bodies.ts
//        CachedBody); a file gone, of another size or failing halfway: the store's, entry dropped.
//   miss, a whole blob, no fill of it running, size ≤ maxBytes: the store's body, teed into
//        <dir>/tmp/<uuid> while it is hashed (Fill); exactly `size` bytes of the digest: fsync,
//        evict least recently used entries until it fits, rename to <dir>/<alg>/<xx>/<hex>.
//        Anything else (a mismatch, a client gone, the disk behind or failing) deletes the file.
//   miss, a range: the store's bytes, no fill.
//
// The index (digest → the file: size, inode, change time; least recently used first) lives in
// memory. A hit serves the file only while it is that same file, unchanged since it was verified:
// a file written to, replaced or truncated since (its change time moves, which no user-space call
// can set back) is dropped and the store answers. A start deletes what tmp/ holds and admits the
// regular files it finds (oldest modified first) in the background, each only once it hashed to
// its name (restore): a file changed while Berth was down is never taken on trust. Bit rot the
// filesystem does not see is the disk's to report, as for the filesystem store's own blobs (fsck).
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, isDigest, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import type { ByteRange } from "./blob-driver.ts";
import { CachedBody, Fill, FillingBody, type CachedFile, type FillOwner } from "./read-cache-bodies.ts";
import { hashHere, type RunningHash } from "./hashing.ts";
import type { ReadCacheCounts } from "../observability/metrics.ts";

/** The counts the metrics read (observability/metrics.ts ReadCacheCounts), and the entries' count. */
export interface ReadCacheStats extends ReadCacheCounts {
  entries: number;
}

const TEMP = "tmp";

export class ReadCache implements FillOwner {
  /** digest → its file, least recently used first (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<Digest, CachedFile>();
  /** Bytes of the entries plus those of admissions renaming now. */
  private total = 0;
  private readonly filling = new Set<Digest>();
  private readonly counts: Omit<ReadCacheStats, "bytes" | "entries"> = { hits: 0, misses: 0, fills: 0, fillsDropped: {}, evictions: 0 };

  readonly dir: string;
  readonly maxBytes: number;
  /** A running hash for a fill of `size` bytes (the blob store's hashing threads). */
  private readonly startHash: (algorithm: DigestAlgorithm, size: number) => RunningHash;

  private constructor(dir: string, maxBytes: number, startHash: (algorithm: DigestAlgorithm, size: number) => RunningHash) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.startHash = startHash;
  }

  /** The files found at start, admitted as they verify (restore); tests wait for it. */
  restored: Promise<void> = Promise.resolve();

  /** The cache in `dir` (created), temporary files deleted; the files found there are restored in the background. */
  static async open(dir: string, maxBytes: number, startHash: (algorithm: DigestAlgorithm, size: number) => RunningHash): Promise<ReadCache> {
    const cache = new ReadCache(dir, maxBytes, startHash);
    await rm(join(dir, TEMP), { recursive: true, force: true });
    await mkdir(join(dir, TEMP), { recursive: true });
    const found: { digest: Digest; modified: number }[] = [];
    for (const algorithm of ["sha256", "sha512"] as const) {
      for (const prefix of await readdir(join(dir, algorithm)).catch(() => [])) {
        for (const hex of await readdir(join(dir, algorithm, prefix)).catch(() => [])) {
          const digest = `${algorithm}:${hex}`;
          if (!isDigest(digest) || !hex.startsWith(prefix)) continue;
          // lstat: a symlink is never an entry (nothing Berth wrote is one).
          const info = await lstat(join(dir, algorithm, prefix, hex)).catch(() => null);
          if (info?.isFile()) found.push({ digest, modified: info.mtimeMs });
        }
      }
    }
    cache.restored = cache.restore(found.sort((a, b) => a.modified - b.modified).map((f) => f.digest));
    return cache;
  }

  /**
   * Admits each file found at start that hashes to its digest and is still the file hashed; one
   * that does not is deleted. One at a time, on this thread in 1 MiB reads: a start must not wait
   * for gigabytes to hash, and a pull meanwhile only misses.
   */
  private async restore(digests: Digest[]): Promise<void> {
    for (const digest of digests) {
      const path = this.pathOf(digest);
      try {
        const before = await lstat(path);
        if (!before.isFile()) continue;
        const hash = hashHere(algorithmOf(digest));
        for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) await hash.see(chunk as Buffer);
        const actual = await hash.digest();
        const after = await lstat(path);
        const same = after.ino === before.ino && after.ctimeMs === before.ctimeMs && after.size === before.size;
        // Filled or replaced meanwhile: the fill's entry stands; changed meanwhile: not this file's to judge.
        if (!same || this.entries.has(digest) || this.filling.has(digest)) continue;
        if (actual !== digest || after.size > this.maxBytes) {
          await unlink(path);
          continue;
        }
        await Promise.all(this.evictFor(after.size).map((p) => unlink(p).catch(() => undefined)));
        this.entries.set(digest, { size: after.size, ino: after.ino, ctimeMs: after.ctimeMs });
        this.total += after.size;
      } catch {
        // Gone or unreadable: not an entry.
      }
    }
  }

  stats(): ReadCacheStats {
    return { ...this.counts, fillsDropped: { ...this.counts.fillsDropped }, bytes: this.total, entries: this.entries.size };
  }

  pathOf(digest: Digest): string {
    const hex = hexOf(digest);
    return join(this.dir, algorithmOf(digest), hex.slice(0, 2), hex);
  }

  /**
   * The bytes of a blob of `size` bytes (`range`, else all): from the cache when it holds them,
   * else from `fromStore`, filling the cache on the way when the whole blob is read.
   */
  async read(digest: Digest, size: number, range: ByteRange | undefined, fromStore: (range?: ByteRange) => Promise<Readable>): Promise<Readable> {
    const whole = range === undefined || (range.start === 0 && range.end === size - 1);
    const entry = this.entries.get(digest);
    if (entry?.size === size) {
      this.counts.hits++;
      this.entries.delete(digest);
      this.entries.set(digest, entry);
      return new CachedBody(this.pathOf(digest), entry, range ?? { start: 0, end: size - 1 }, fromStore, (replaced) => this.forget(digest, entry, !replaced));
    }
    this.counts.misses++;
    if (!whole || size === 0 || size > this.maxBytes || this.filling.has(digest)) return fromStore(range);
    this.filling.add(digest);
    let body: Readable;
    try {
      await mkdir(join(this.dir, TEMP), { recursive: true }); // again: the directory may have been wiped
      body = await fromStore(range);
    } catch (err) {
      this.filling.delete(digest);
      throw err;
    }
    const temp = join(this.dir, TEMP, randomUUID());
    return new FillingBody(body, new Fill(this, digest, size, temp, this.startHash(algorithmOf(digest), size)));
  }

  /**
   * Drops the entry (its file is gone or wrong) and (`removeFile`) the file. `file`: only while
   * the entry is still that one. A file someone else put at the path stays: a later fill renames
   * over it, a start hashes it.
   */
  forget(digest: Digest, file?: CachedFile, removeFile = true): void {
    const entry = this.entries.get(digest);
    if (entry === undefined || (file !== undefined && entry !== file)) return;
    this.entries.delete(digest);
    this.total -= entry.size;
    if (removeFile) void unlink(this.pathOf(digest)).catch(() => undefined);
  }

  async admit(digest: Digest, size: number, temp: string): Promise<void> {
    try {
      // An entry of another size under this digest (a store that answered otherwise before) is
      // replaced: the rename puts the new file over it.
      const previous = this.entries.get(digest);
      if (previous !== undefined) {
        this.entries.delete(digest);
        this.total -= previous.size;
      }
      // Room is made (and counted) before the rename, so the entries never pass maxBytes.
      const evicted = this.evictFor(size);
      this.total += size;
      let file: CachedFile;
      try {
        await Promise.all(evicted.map((path) => unlink(path).catch(() => undefined)));
        const path = this.pathOf(digest);
        await mkdir(dirname(path), { recursive: true });
        await rename(temp, path);
        // After the rename, which sets the change time: the file as verified, to tell a changed one by.
        const info = await stat(path);
        file = { size, ino: info.ino, ctimeMs: info.ctimeMs };
      } catch (err) {
        this.total -= size;
        throw err;
      }
      this.entries.set(digest, file);
      this.counts.fills++;
    } catch {
      await unlink(temp).catch(() => undefined);
      this.countDrop("error");
    } finally {
      this.filling.delete(digest);
    }
  }

  dropped(digest: Digest, reason: string): void {
    this.filling.delete(digest);
    this.countDrop(reason);
  }

  private countDrop(reason: string): void {
    this.counts.fillsDropped[reason] = (this.counts.fillsDropped[reason] ?? 0) + 1;
  }

  /** Takes least recently used entries out of the index until `size` more bytes fit; their paths. */
  private evictFor(size: number): string[] {
    const paths: string[] = [];
    for (const [digest, file] of this.entries) {
      if (this.total + size <= this.maxBytes) break;
      this.entries.delete(digest);
      this.total -= file.size;
      this.counts.evictions++;
      paths.push(this.pathOf(digest));
    }
    return paths;
  }
}

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
// The index (digest → size, in least recently used order) lives in memory; a start rebuilds it
// from the files (oldest modified first) and deletes what tmp/ holds.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { algorithmOf, hexOf, isDigest, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import type { ByteRange } from "./blob-driver.ts";
import { CachedBody, Fill, FillingBody, type FillOwner } from "./read-cache-bodies.ts";
import type { RunningHash } from "./hashing.ts";
import type { ReadCacheCounts } from "../observability/metrics.ts";

/** The counts the metrics read (observability/metrics.ts ReadCacheCounts), and the entries' count. */
export interface ReadCacheStats extends ReadCacheCounts {
  entries: number;
}

const TEMP = "tmp";

export class ReadCache implements FillOwner {
  /** digest → size, least recently used first (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<Digest, number>();
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

  /** The cache in `dir` (created), its index rebuilt from the files there, temporary files deleted. */
  static async open(dir: string, maxBytes: number, startHash: (algorithm: DigestAlgorithm, size: number) => RunningHash): Promise<ReadCache> {
    const cache = new ReadCache(dir, maxBytes, startHash);
    await rm(join(dir, TEMP), { recursive: true, force: true });
    await mkdir(join(dir, TEMP), { recursive: true });
    const found: { digest: Digest; size: number; modified: number }[] = [];
    for (const algorithm of ["sha256", "sha512"] as const) {
      for (const prefix of await readdir(join(dir, algorithm)).catch(() => [])) {
        for (const hex of await readdir(join(dir, algorithm, prefix)).catch(() => [])) {
          const digest = `${algorithm}:${hex}`;
          const path = join(dir, algorithm, prefix, hex);
          if (!isDigest(digest) || !hex.startsWith(prefix)) continue;
          const info = await stat(path).catch(() => null);
          if (info?.isFile()) found.push({ digest, size: info.size, modified: info.mtimeMs });
        }
      }
    }
    for (const { digest, size } of found.sort((a, b) => a.modified - b.modified)) {
      cache.entries.set(digest, size);
      cache.total += size;
    }
    await Promise.all(cache.evictFor(0).map((path) => unlink(path).catch(() => undefined)));
    return cache;
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
    if (this.entries.get(digest) === size) {
      this.counts.hits++;
      this.entries.delete(digest);
      this.entries.set(digest, size);
      return new CachedBody(this.pathOf(digest), size, range ?? { start: 0, end: size - 1 }, fromStore, () => this.forget(digest));
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

  /** Drops the entry (its file is gone or wrong, or gc deleted the blob); the file goes too. */
  forget(digest: Digest): void {
    const size = this.entries.get(digest);
    if (size === undefined) return;
    this.entries.delete(digest);
    this.total -= size;
    void unlink(this.pathOf(digest)).catch(() => undefined);
  }

  async admit(digest: Digest, size: number, temp: string): Promise<void> {
    try {
      // An entry of another size under this digest (a store that answered otherwise before) is
      // replaced: the rename puts the new file over it.
      const previous = this.entries.get(digest);
      if (previous !== undefined) {
        this.entries.delete(digest);
        this.total -= previous;
      }
      // Room is made (and counted) before the rename, so the entries never pass maxBytes.
      const evicted = this.evictFor(size);
      this.total += size;
      try {
        await Promise.all(evicted.map((path) => unlink(path).catch(() => undefined)));
        const path = this.pathOf(digest);
        await mkdir(dirname(path), { recursive: true });
        await rename(temp, path);
      } catch (err) {
        this.total -= size;
        throw err;
      }
      this.entries.set(digest, size);
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
    for (const [digest, bytes] of this.entries) {
      if (this.total + size <= this.maxBytes) break;
      this.entries.delete(digest);
      this.total -= bytes;
      this.counts.evictions++;
      paths.push(this.pathOf(digest));
    }
    return paths;
  }
}

// Blobs as files under one root. Durability: write, fsync, rename, fsync the directory, so a
// crash at any point leaves either the old state or the new one, never a torn file under its key.
// An upload is one file at its key, written in place part after part (FileWriter); its handle
// records how many bytes the parts hold, so a part a crash tore is cut off by the next writer.
import { close, constants, fdatasync, fstat, ftruncate, open as openCallback } from "node:fs";
import { promisify } from "node:util";
import { mkdir, open, opendir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import type { BlobDriver, BlobWriter, ByteRange, ObjectInfo, PartOptions, ReadableParts, UploadHandle } from "../blob-driver.ts";
import type { TappedParts, WriteTap } from "../fast-paths.ts";
import { CacheFill } from "./cache-fill.ts";
import { DIRECT_READ_MIN, FileBody } from "./file-body.ts";
import { SlotWriter } from "./slot-writer.ts";

const openFd = promisify(openCallback);
const statFd = promisify(fstat);
const closeFd = promisify(close);
const datasync = promisify(fdatasync);
const truncateFd = promisify(ftruncate);

/** Files remembered as written past the page cache (a hint: beyond this, the oldest are read through it). */
const UNCACHED_KEPT = 4096;

export class FilesystemDriver implements BlobDriver {
  readonly root: string;
  readonly slots: SlotWriter;
  /**
   * Paths this process wrote with O_DIRECT and has not read into the page cache since, oldest
   * first: their large reads (the pull right after a push) go past the page cache too
   * (file-body.ts says why), until the background fill that the first such read queues has read
   * the file through the cache (cache-fill.ts). Only a hint: a direct read is correct whatever the
   * cache holds, and a file missing here (another process wrote it, a restart) is read through the
   * page cache.
   */
  private readonly uncached = new Set<string>();
  readonly cacheFill = new CacheFill((path) => this.uncached.delete(path));

  constructor(root: string, options: { directWrites?: boolean } = {}) {
    this.root = root;
    this.slots = new SlotWriter(options.directWrites ?? true);
  }

  path(key: string): string {
    return join(this.root, ...key.split("/"));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { size: info.size, modified: info.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.path(key);
    const fd = await openFd(path, "r");
    try {
      const start = range?.start ?? 0;
      const end = range ? range.end : (await statFd(fd)).size - 1;
      const direct = end - start + 1 >= DIRECT_READ_MIN && this.uncached.has(path) ? await openFd(path, constants.O_RDONLY | constants.O_DIRECT).catch(() => null) : null;
      return new FileBody(fd, start, end, direct, () => this.cacheFill.add(path));
    } catch (err) {
      await closeFd(fd);
      throw err;
    }
  }

  /** Whether `key`'s large reads go past the page cache now (for tests). */
  readsDirect(key: string): boolean {
    return this.uncached.has(this.path(key));
  }

  /** Remembers that `path` was (last) written past the page cache. */
  wroteUncached(path: string): void {
    this.uncached.delete(path);
    this.uncached.add(path);
    if (this.uncached.size > UNCACHED_KEPT) this.uncached.delete(this.uncached.values().next().value!);
  }

  /** Files are served by Berth itself. */
  async redirectUrl(): Promise<string | null> {
    return null;
  }

  async writer(key: string, handle?: UploadHandle | null): Promise<BlobWriter> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    return new FileWriter(this, key, handle ? partsOf(handle) : { parts: 0, size: 0 });
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.path(from);
    const target = this.path(to);
    await mkdir(dirname(target), { recursive: true });
    // rename(), not link(): with a link, the upload file and the blob were one inode until the
    // upload name was unlinked, and a crash in between left an upload whose next append grew the
    // published blob. rename() replaces what `to` held; callers move only verified bytes there.
    await rename(source, target);
    // The file's pages moved with it: whether the page cache holds them is remembered for `to` now.
    this.uncached.delete(target);
    if (this.uncached.delete(source)) this.wroteUncached(target);
    await syncDirectory(dirname(target));
    // When both names were already links of one inode (left by an older Berth), rename() does
    // nothing and `from` stays: drop it. Otherwise `from` is gone and this is a no-op.
    await this.delete(from);
  }

  async delete(key: string): Promise<void> {
    this.uncached.delete(this.path(key));
    try {
      await unlink(this.path(key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  /** Upload files in progress are files like any other: listed with the bytes they hold so far. */
  async *list(prefix: string): AsyncIterable<{ key: string } & ObjectInfo> {
    yield* this.walk(this.path(prefix));
  }

  private async *walk(dir: string): AsyncIterable<{ key: string } & ObjectInfo> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for await (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        yield* this.walk(path);
      } else if (entry.isFile()) {
        const info = await stat(path).catch(() => null);
        if (info) yield { key: relative(this.root, path).split(sep).join("/"), size: info.size, modified: info.mtime };
      }
    }
  }
}

/**
 * One upload file. The first part creates it; every later part is appended at the size the handle
 * records, after cutting off whatever lies past it (a part torn by a crash, or by a request that
 * failed and whose cut did not finish). Parts go through the driver's SlotWriter: direct I/O from
 * shared-memory slots, which a tap may read (the blob store's hashing threads).
 */
class FileWriter implements BlobWriter, TappedParts, ReadableParts {
  private readonly driver: FilesystemDriver;
  private readonly key: string;
  private readonly path: string;
  /** Parts written (empty ones not counted): the first one creates the file. */
  private parts: number;
  /** The last part was written with `last` and nothing changed since: commit has nothing to flush. */
  private flushed = false;
  size: number;

  constructor(driver: FilesystemDriver, key: string, held: FileParts) {
    this.driver = driver;
    this.key = key;
    this.path = driver.path(key);
    this.parts = held.parts;
    this.size = held.size;
  }

  get handle(): UploadHandle {
    return JSON.stringify({ parts: this.parts, size: this.size } satisfies FileParts);
  }

  write(source: AsyncIterable<Uint8Array>, options: PartOptions = {}): Promise<number> {
    return this.writeTapped(source, undefined, options);
  }

  async writeTapped(source: AsyncIterable<Uint8Array>, tap: WriteTap | undefined, options: PartOptions = {}): Promise<number> {
    const first = this.parts === 0;
    this.flushed = false;
    let written: number;
    try {
      written = await this.driver.slots.write(this.path, source, { appendAt: first ? undefined : this.size, durable: options.last === true, signal: options.signal, tap });
    } catch (err) {
      // A failed first part leaves no file, as a failed PUT leaves nothing on S3 or Azure (the
      // contract suite's aborted-writer case); a failed later part was cut back by the SlotWriter.
      if (first) await unlink(this.path).catch(() => undefined);
      throw gone(err);
    }
    if (written > 0) this.parts++;
    if (written > 0 && this.driver.slots.writesDirect) this.driver.wroteUncached(this.path);
    this.size += written;
    this.flushed = options.last === true;
    return written;
  }

  async readParts(range: ByteRange): Promise<Readable> {
    if (range.end >= this.size) throw new RangeError(`bytes ${range.start}-${range.end} are past the ${this.size} written`);
    // A file cut short (lost, or replaced) would end the stream early: say so before reading.
    if (((await this.driver.stat(this.key))?.size ?? 0) < this.size) throw Object.assign(new Error(`${this.path} no longer holds the upload's ${this.size} bytes`), { code: "ENOENT" });
    return this.driver.read(this.key, range);
  }

  /** Cuts the file back to the parts written and makes it durable (an empty upload: an empty file). */
  async commit(): Promise<void> {
    if (this.flushed) return;
    const flags = this.parts === 0 ? constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC : constants.O_WRONLY;
    let fd: number;
    try {
      fd = await openFd(this.path, flags, 0o644);
    } catch (err) {
      throw gone(err);
    }
    try {
      const { size, nlink } = await statFd(fd);
      if (size < this.size || nlink > 1) throw Object.assign(new Error(`${this.path} no longer holds the upload's ${this.size} bytes`), { code: "ENOENT" });
      if (size > this.size) await truncateFd(fd, this.size);
      await datasync(fd);
    } finally {
      await closeFd(fd).catch(() => undefined);
    }
    this.flushed = true;
  }

  async cancel(): Promise<void> {
    await unlink(this.path).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

/**
 * A filesystem upload's handle: how many parts and how many bytes they hold. One file keeps the
 * parts in order by itself, so their count and total are all a later writer needs (and the
 * handle stays the same few bytes however many chunks a client sends).
 */
interface FileParts {
  parts: number;
  size: number;
}

function partsOf(handle: UploadHandle): FileParts {
  const parsed = JSON.parse(handle) as Partial<FileParts>;
  const { parts, size } = parsed;
  if (!Number.isSafeInteger(parts) || !Number.isSafeInteger(size) || parts! < 0 || size! < 0) throw new Error(`not a filesystem upload handle: ${handle.slice(0, 100)}`);
  return { parts: parts!, size: size! };
}

/**
 * The upload's parts are no longer there as the handle records them: the file is missing or
 * short (ESHORT), or it is also a published blob's (ESHARED: an older Berth published by hard
 * link, and appending would grow the blob). The contract calls all of these ENOENT.
 */
function gone(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === "ESHORT" || code === "ESHARED") return Object.assign(new Error((err as Error).message), { code: "ENOENT", cause: err });
  return err;
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

// Blobs as files under one root. Durability: write, fsync, rename, fsync the directory, so a
// crash at any point leaves either the old state or the new one, never a torn file under its key.
import { close, fstat, open as openCallback } from "node:fs";
import { promisify } from "node:util";
import { mkdir, open, opendir, rename, stat, unlink, utimes } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import type { BlobDriver, ByteRange, ObjectInfo, WriteOptions } from "../blob-driver.ts";
import { FileBody } from "./file-body.ts";
import { SlotWriter } from "./slot-writer.ts";

const openFd = promisify(openCallback);
const statFd = promisify(fstat);
const closeFd = promisify(close);

export class FilesystemDriver implements BlobDriver {
  readonly root: string;
  private readonly writer: SlotWriter;

  constructor(root: string, options: { directWrites?: boolean } = {}) {
    this.root = root;
    this.writer = new SlotWriter(options.directWrites ?? true);
  }

  private path(key: string): string {
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
    const fd = await openFd(this.path(key), "r");
    if (range) return new FileBody(fd, range.start, range.end);
    try {
      const { size } = await statFd(fd);
      return new FileBody(fd, 0, size - 1);
    } catch (err) {
      await closeFd(fd);
      throw err;
    }
  }

  async write(key: string, source: AsyncIterable<Uint8Array>, options: WriteOptions = {}): Promise<number> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    try {
      return await this.writer.write(path, source, options);
    } catch (err) {
      // A failed write of a whole object leaves nothing under its key, as a failed PUT leaves
      // nothing on S3 or Azure (the contract suite's aborted-writer case): no torn file for a
      // reader or `berth gc` to find. A failed append is cut back to appendAt by the writer.
      if (options.appendAt === undefined) await unlink(path).catch(() => undefined);
      throw err;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.path(from);
    const target = this.path(to);
    await mkdir(dirname(target), { recursive: true });
    // rename(), not link(): with a link, the upload file and the blob were one inode until the
    // upload name was unlinked, and a crash in between left an upload whose next append grew the
    // published blob. rename() replaces what `to` held; callers move only verified bytes there.
    await rename(source, target);
    await syncDirectory(dirname(target));
    // When both names were already links of one inode (left by an older Berth), rename() does
    // nothing and `from` stays: drop it. Otherwise `from` is gone and this is a no-op.
    await this.delete(from);
  }

  async touch(key: string): Promise<void> {
    const now = new Date();
    try {
      await utimes(this.path(key), now, now);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

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

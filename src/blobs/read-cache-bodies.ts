// The two response bodies of the read cache (read-cache.ts): a hit read from the cached file, and
// a miss read from the store that fills the cache on the way. Both write themselves to the
// response (http/send-body.ts) through the reused buffers of the body underneath (FileBody, the
// S3 driver's S3Body), so the cache costs a pull no fresh memory per chunk; both also work as
// plain Readables (anything but the HTTP layer, and the tests).
//
// The response never waits on the cache's disk: a fill copies each chunk into slots of its own
// (the buffers underneath are reused once the socket took them) and writes and hashes the slots
// in the background. A slot is taken for the next bytes while earlier ones are still being
// written, up to FILL_SLOTS_MAX per fill and SLOT_BUDGET across fills; past either the fill is
// dropped instead of holding the response back. Why that much: on the 2-core VM Berth is measured
// on, shared with other builds, a 4 MiB write into the page cache took up to 120 ms (the kernel
// throttling dirty pages), and with only 16 MiB of slots every fill of a 256 MiB pull at
// 135 MiB/s was dropped; the slots are taken only while the disk lags.
import { close, fdatasync, fstat, open, unlink, write } from "node:fs";
import { PassThrough, Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import type { Digest } from "../domain/digest.ts";
import type { ByteRange } from "./blob-driver.ts";
import { FileBody } from "./drivers/file-body.ts";
import type { RunningHash } from "./hashing.ts";

const openFd = promisify(open);
const closeFd = promisify(close);
const writeAt = promisify(write);
const syncData = promisify(fdatasync);
const unlinkFile = promisify(unlink);
const fstatOf = promisify(fstat);

/** Bytes per fill slot: one disk write and one message to a hashing thread each. */
export const SLOT_BYTES = 4 * 1024 * 1024;
/** Slots one fill may hold: how far the cache's disk may fall behind one response (64 MiB). */
const FILL_SLOTS_MAX = 16;
/** Bytes of slots all fills of the process may hold at once (the memory the cache may take). */
const SLOT_BUDGET = 128 * 1024 * 1024;
/** Slots kept for the next fills (shared memory, so a hashing thread reads them without a copy). */
const IDLE_SLOTS = 4;
const idleSlots: Buffer[] = [];
/** Bytes of slots held by fills now. */
let slotBytesHeld = 0;

interface SelfWriting {
  writeTo(out: Writable): Promise<void>;
}

function writesItself(body: Readable): body is Readable & SelfWriting {
  return typeof (body as Partial<SelfWriting>).writeTo === "function";
}

/** `body` written to `out` its fastest way (its own writeTo, else piped), `out` ended. */
async function sendTo(body: Readable, out: Writable): Promise<void> {
  if (writesItself(body)) return body.writeTo(out);
  await pipeline(body, out);
}

/**
 * `out` with some of its methods replaced; everything else (events, state) is `out`'s own, so
 * FileBody and S3Body see the response as it is.
 */
function wrapped(out: Writable, replace: Partial<Pick<Writable, "write" | "end" | "destroy">>): Writable {
  return new Proxy(out, {
    get(target, prop) {
      if (prop in replace) return replace[prop as keyof typeof replace];
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A body that writes itself to the response (writeTo), and, read as a plain stream, writes
 * itself into its own readable side the first time it is read.
 */
abstract class SelfWritingBody extends PassThrough implements SelfWriting {
  private started = false;

  constructor() {
    super({ highWaterMark: 1024 * 1024 });
  }

  abstract writeTo(out: Writable): Promise<void>;

  override _read(size: number): void {
    if (!this.started) {
      this.started = true;
      // The bodies underneath reuse a buffer once its write called back, which a PassThrough
      // does before its reader took the bytes: each chunk is copied on the way in.
      const copying = wrapped(this, {
        write: ((bytes: Uint8Array, callback?: (error?: Error | null) => void) => this.write(Buffer.from(bytes), callback)) as Writable["write"],
      });
      this.writeTo(copying).catch((err: unknown) => this.destroy(err as Error));
    }
    super._read(size);
  }
}

/** A cache entry's file as it was verified: a file with another inode or change time is not it. */
export interface CachedFile {
  size: number;
  ino: number;
  ctimeMs: number;
}

/**
 * A cache hit: the file's bytes over `range`. A file gone or not the one verified when opened, or
 * read short or failing halfway, is not an answer: the rest comes from the store (`fromStore`,
 * from the first byte not yet handed to the response), and `broken()` drops the entry (`replaced`:
 * another file is at the path now, which is not this entry's to delete).
 */
export class CachedBody extends SelfWritingBody {
  private readonly path: string;
  private readonly file: CachedFile;
  private readonly range: ByteRange;
  private readonly fromStore: (range: ByteRange) => Promise<Readable>;
  private readonly broken: (replaced?: boolean) => void;

  constructor(path: string, file: CachedFile, range: ByteRange, fromStore: (range: ByteRange) => Promise<Readable>, broken: (replaced?: boolean) => void) {
    super();
    this.path = path;
    this.file = file;
    this.range = range;
    this.fromStore = fromStore;
    this.broken = broken;
  }

  async writeTo(out: Writable): Promise<void> {
    const { start, end } = this.range;
    let fd: number | null = null;
    let replaced = false;
    try {
      fd = await openFd(this.path, "r");
      const { size, ino, ctimeMs } = await fstatOf(fd);
      replaced = ino !== this.file.ino;
      // Written to, truncated or replaced since it was verified: not the digest's bytes any more.
      if (replaced || size !== this.file.size || ctimeMs !== this.file.ctimeMs) throw new Error("cached file changed");
    } catch {
      if (fd !== null) await closeFd(fd).catch(() => undefined);
      this.broken(replaced);
      return sendTo(await this.fromStore(this.range), out);
    }
    // Bytes handed to the response so far: where the store takes over if the file fails.
    let handed = 0;
    const file = new FileBody(fd, start, end);
    const counting = wrapped(out, {
      write: ((bytes: Uint8Array, callback?: (error?: Error | null) => void) => {
        handed += bytes.length;
        return out.write(bytes, callback);
      }) as Writable["write"],
      // FileBody destroys the response when the file fails: here the store answers instead.
      destroy: (() => counting) as unknown as Writable["destroy"],
    });
    try {
      await file.writeTo(counting);
      return;
    } catch (err) {
      if (out.destroyed || out.writableEnded) throw err; // the client went away: nothing to finish
    }
    this.broken();
    await sendTo(await this.fromStore({ start: start + handed, end }), out);
  }
}

/** What a fill reports to the cache. */
export interface FillOwner {
  /** Verified bytes of `digest` in `temp`: move them into place (or drop them). */
  admit(digest: Digest, size: number, temp: string): Promise<void>;
  /** The fill ended without an entry (`reason` for the metrics: behind, mismatch, aborted, error). */
  dropped(digest: Digest, reason: string): void;
}

/**
 * The cache's copy of one whole blob as it streams from the store: slots written to `temp` and
 * hashed in the background; admitted only when exactly `size` bytes hashed to `digest`.
 */
export class Fill {
  /** Slots this fill holds: the one being filled last, those being written before it. */
  private readonly held: Buffer[] = [];
  /** Slots of this fill whose write and hash completed, for its next bytes. */
  private readonly free: Buffer[] = [];
  /** The slot being filled, and how far. */
  private current: Buffer | null = null;
  private fill = 0;
  /** The write and hash of each slot in flight. */
  private readonly busy = new Set<Promise<void>>();
  private seen = 0;
  private written = 0;
  private fd: number | null = null;
  private readonly opened: Promise<void>;
  private done = false;
  private completing = false;
  /** The file closed and the slots given back (once: two fills must never share a slot). */
  private released = false;
  private readonly owner: FillOwner;
  private readonly digest: Digest;
  private readonly size: number;
  private readonly temp: string;
  private readonly hash: RunningHash;

  constructor(owner: FillOwner, digest: Digest, size: number, temp: string, hash: RunningHash) {
    this.owner = owner;
    this.digest = digest;
    this.size = size;
    this.temp = temp;
    this.hash = hash;
    this.opened = openFd(temp, "wx").then((fd) => {
      this.fd = fd;
    });
    this.opened.catch(() => this.drop("error"));
  }

  /** Copies `bytes` into the slots (synchronously: the caller's buffer may be reused at once). */
  see(bytes: Uint8Array): void {
    if (this.done) return;
    this.seen += bytes.length;
    if (this.seen > this.size) return this.drop("mismatch");
    for (let at = 0; at < bytes.length; ) {
      const slot = (this.current ??= this.takeSlot());
      if (!slot) return this.drop("behind");
      const n = Math.min(slot.length - this.fill, bytes.length - at);
      slot.fill(bytes.subarray(at, at + n), this.fill, this.fill + n);
      this.fill += n;
      at += n;
      if (this.fill === slot.length) this.flush();
    }
  }

  /** A slot for the next bytes: one of this fill's that is done, else a new one within the bounds; null: none. */
  private takeSlot(): Buffer | null {
    const reused = this.free.pop();
    if (reused) return reused;
    // A blob of one slot or less (configs, small layers) gets one slot of its own size.
    const bytes = Math.min(SLOT_BYTES, this.size);
    if (this.held.length >= FILL_SLOTS_MAX || slotBytesHeld + bytes > SLOT_BUDGET) return null;
    const slot = (bytes === SLOT_BYTES && idleSlots.pop()) || Buffer.from(new SharedArrayBuffer(bytes));
    slotBytesHeld += bytes;
    this.held.push(slot);
    return slot;
  }

  /** Starts the write and hash of the current slot. */
  private flush(): void {
    const slot = this.current!;
    const bytes = slot.subarray(0, this.fill);
    const position = this.written;
    this.written += this.fill;
    const work = (async () => {
      await this.opened;
      const writing = (async () => {
        for (let off = 0; off < bytes.length; ) off += (await writeAt(this.fd!, bytes, off, bytes.length - off, position + off)).bytesWritten;
      })();
      await Promise.all([writing, this.hash.see(bytes)]);
      this.free.push(slot);
    })();
    work.catch(() => this.drop("error"));
    this.busy.add(work);
    void work.finally(() => this.busy.delete(work)).catch(() => undefined);
    this.current = null;
    this.fill = 0;
  }

  /** Every byte was seen: verify, then hand the file to the cache. Never rejects; once only. */
  async complete(): Promise<void> {
    if (this.done || this.completing) return;
    this.completing = true;
    if (this.seen !== this.size) return this.drop("mismatch");
    if (this.fill > 0) this.flush();
    try {
      await Promise.all([...this.busy]);
    } catch {
      return this.drop("error"); // a slot's write or hash failed (dropped already)
    }
    if (this.done) return;
    this.done = true;
    let reason = "error";
    try {
      if ((await this.hash.digest()) !== this.digest) {
        reason = "mismatch";
        throw new Error("the store's bytes do not match the digest");
      }
      await syncData(this.fd!); // a power loss must not leave a file of the right size with other bytes
    } catch {
      await this.release();
      this.owner.dropped(this.digest, reason);
      return;
    }
    await this.release(false);
    await this.owner.admit(this.digest, this.size, this.temp); // never rejects
  }

  /** Ends the fill without an entry; the temporary file goes once the slots' work is over. */
  drop(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.hash.dispose();
    void this.release().finally(() => this.owner.dropped(this.digest, reason));
  }

  /** Waits for the slots, closes the file and (`removeFile`) deletes it; gives the slots back. */
  private async release(removeFile = true): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.allSettled([this.opened, ...this.busy]);
    if (this.fd !== null) await closeFd(this.fd).catch(() => undefined);
    this.fd = null;
    if (removeFile) await unlinkFile(this.temp).catch(() => undefined);
    for (const slot of this.held) {
      slotBytesHeld -= slot.length;
      if (slot.length === SLOT_BYTES && idleSlots.length < IDLE_SLOTS) idleSlots.push(slot);
    }
    this.held.length = 0;
  }
}

/**
 * A miss of a whole blob: the store's body, each chunk shown to the fill as it passes. The fill
 * completes when the store's last byte reached the response; a client gone first drops it.
 */
export class FillingBody extends SelfWritingBody {
  /** Every byte of the store's body went by: the fill is complete()'s now, whatever the reader does. */
  private passed = false;

  private readonly inner: Readable;
  private readonly fill: Fill;

  constructor(inner: Readable, fill: Fill) {
    super();
    this.inner = inner;
    this.fill = fill;
  }

  async writeTo(out: Writable): Promise<void> {
    const fill = this.fill;
    // The store's last byte went by (before the reader is told the body ended, so a reader that
    // then destroys the body does not count as gone): the fill is complete()'s now.
    const passed = () => {
      this.passed = true;
      void fill.complete();
    };
    try {
      if (writesItself(this.inner)) {
        const tapped = wrapped(out, {
          write: ((bytes: Uint8Array, callback?: (error?: Error | null) => void) => {
            fill.see(bytes);
            return out.write(bytes, callback);
          }) as Writable["write"],
          end: ((...args: Parameters<Writable["end"]>) => {
            passed();
            return out.end(...args);
          }) as Writable["end"],
        });
        await this.inner.writeTo(tapped);
      } else {
        await pipeline(
          this.inner,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              fill.see(chunk);
              yield chunk;
            }
            passed();
          },
          out,
        );
      }
    } catch (err) {
      if (!this.passed) fill.drop("aborted");
      throw err;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    if (!this.passed) this.fill.drop("aborted");
    super._destroy(error, callback);
  }
}

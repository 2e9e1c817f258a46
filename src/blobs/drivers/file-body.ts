// A blob file (or a byte range of it) as a Readable, plus a faster way out for the HTTP layer:
// writeTo() reads into a few reused buffers and hands each to the response, reusing it only
// after the socket took it. A plain Readable allocates a new buffer for every read; on a pull of
// 1 GiB that was a gigabyte of fresh memory and most of the CPU (page faults and garbage
// collection), about half of what the socket write itself cost.
//
// A file the driver knows is not in the page cache (written with O_DIRECT, not read since) is
// read by writeTo() with O_DIRECT as well, in 4 MiB blocks, three ahead: a buffered read of it would fill
// the page cache on the way, which on the VMs Berth was measured on cost 2.3 to 2.4 CPU-seconds
// per GiB (every page fresh memory, a host fault each), against 0.2 for the direct read, and left
// the first pull after a push at half of distribution's rate (docs/performance.md). When such a
// read completes, the driver fills the cache in the background (cache-fill.ts), for the pulls after it.
import { close, read } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { promisify } from "node:util";

const readAt = promisify(read);
const closeFd = promisify(close);

export const READ_BYTES = 1024 * 1024;
/**
 * Direct reads are larger. Nothing but the disk stands between a direct read and its bytes, and
 * this VM's disk gave a 1 GiB file 1.4 GiB/s (median of 3) in 4 MiB reads three deep against
 * 0.95 in 1 MiB reads, for half the CPU (docs/performance.md, 2026-12-07).
 */
export const DIRECT_READ_BYTES = 4 * 1024 * 1024;
/** Buffers per response: READ_AHEAD being read, the others queued on the socket. */
const BUFFERS = 4;
/** Reads in flight: two keep a disk busy when the blob is not in the page cache. */
const READ_AHEAD = 2;
/** Direct reads in flight: all buffers but the one on the socket (a disk's queue wants depth, not size). */
const DIRECT_READ_AHEAD = BUFFERS - 1;
/** Direct I/O alignment of offsets, lengths and memory that suits any block device (as the slot writer's). */
const ALIGN = 4096;
/** Bodies shorter than a full set of buffers are never read direct: too small to matter. */
export const DIRECT_READ_MIN = BUFFERS * READ_BYTES;
/** Sets of buffers kept for the next pulls (plain and aligned apart). */
const IDLE_SETS = 4;
const idle: Buffer[][] = [];
const idleAligned: Buffer[][] = [];
/**
 * Aligned sets in use at once (16 MiB each). A rollout pulling one new blob from many nodes would
 * otherwise hold a set per pull; past this many, a pull reads through the page cache instead, and
 * the pulls after it find the file there.
 */
export const DIRECT_SETS_MAX = 2;
let directSetsInUse = 0;
/** Aligned sets kept idle: one, since each is 16 MiB. */
const IDLE_ALIGNED_SETS = 1;

/**
 * A set of BUFFERS buffers in one allocation, placed where O_DIRECT accepts the memory. Allocators
 * put a header before a large block (glibc: 16 bytes), so the offset is found by trying a direct
 * read of one block of `fd` (at least DIRECT_READ_MIN long) at each candidate; null: none fits.
 */
async function alignedSet(fd: number): Promise<Buffer[] | null> {
  const memory = new ArrayBuffer(BUFFERS * DIRECT_READ_BYTES + ALIGN);
  for (const offset of [ALIGN - 16, ...Array.from({ length: ALIGN / 16 }, (_, i) => i * 16)]) {
    const fits = await readAt(fd, new Uint8Array(memory, offset, ALIGN), 0, ALIGN, 0).then(
      () => true,
      () => false,
    );
    if (fits) return Array.from({ length: BUFFERS }, (_, i) => Buffer.from(memory, offset + i * DIRECT_READ_BYTES, DIRECT_READ_BYTES));
  }
  return null;
}

export class FileBody extends Readable {
  private readonly fd: number;
  private position: number;
  /** Inclusive. */
  private readonly end: number;
  /** The same file opened with O_DIRECT, which writeTo() reads through; null: read through the page cache. */
  private readonly directFd: number | null;
  private fdClosed = false;
  /** Called once writeTo() sent every byte through direct reads (the driver then fills the cache). */
  private readonly afterDirectRead: (() => void) | undefined;

  constructor(fd: number, start: number, end: number, directFd: number | null = null, afterDirectRead?: () => void) {
    super({ highWaterMark: READ_BYTES });
    this.fd = fd;
    this.position = start;
    this.end = end;
    this.directFd = directFd;
    this.afterDirectRead = afterDirectRead;
  }

  /** Whether writeTo() reads past the page cache (the driver knew the file was not in it). */
  get direct(): boolean {
    return this.directFd !== null;
  }

  override _read(): void {
    const length = Math.min(READ_BYTES, this.end - this.position + 1);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const buffer = Buffer.allocUnsafeSlow(length);
    readAt(this.fd, buffer, 0, length, this.position).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) return this.destroy(new Error("blob file is shorter than its recorded size"));
        this.position += bytesRead;
        this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeFd().then(() => callback(error), (closeError: Error) => callback(error ?? closeError));
  }

  /** Writes the remaining bytes to `out` and ends it; rejects if `out` closes first. */
  async writeTo(out: Writable): Promise<void> {
    const start = this.position;
    // Direct reads start at the block holding `start` and read whole blocks; the bytes before
    // `start` (the head of the first read) and past `end` (a range's, or the file's last block
    // read short) are not sent.
    let buffers: Buffer[] | null = null;
    if (this.directFd !== null && this.end - start + 1 >= DIRECT_READ_MIN && directSetsInUse < DIRECT_SETS_MAX) {
      directSetsInUse++;
      buffers = idleAligned.pop() ?? (await alignedSet(this.directFd).catch(() => null));
      if (buffers === null) directSetsInUse--;
    }
    const direct = buffers !== null;
    const fd = direct ? this.directFd! : this.fd;
    const base = direct ? start - (start % ALIGN) : start;
    const span = this.end - base + 1;
    const block = direct ? DIRECT_READ_BYTES : READ_BYTES;
    const count = Math.ceil(span / block);
    /** Bytes of read i up to `end` (the first one's head included). */
    const lengthOf = (i: number) => Math.min(block, span - i * block);
    const readLengthOf = (i: number) => (direct ? Math.ceil(lengthOf(i) / ALIGN) * ALIGN : lengthOf(i));
    const readAhead = direct ? DIRECT_READ_AHEAD : READ_AHEAD;
    // A body shorter than the set gets buffers of its own size: a 2 KiB config must not take 4 MiB,
    // least of all when many small blobs are pulled at once.
    const fullSet = count >= BUFFERS;
    buffers ??= fullSet
      ? (idle.pop() ?? Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(READ_BYTES)))
      : Array.from({ length: count }, (_, i) => Buffer.allocUnsafeSlow(lengthOf(i)));
    const set = buffers;
    /** The socket write of each buffer, until it completed. */
    const writing: (Promise<void> | null)[] = new Array(BUFFERS).fill(null);
    const reading = new Map<number, Promise<number>>();
    let onClose = () => {};
    const gone = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error("the client went away"));
      out.once("close", onClose);
    });
    gone.catch(() => undefined);
    const read = (i: number) => {
      const at = i % BUFFERS;
      const done = (async () => {
        // The buffer's last write (BUFFERS chunks ago) must have reached the socket.
        if (writing[at]) await Promise.race([writing[at], gone]);
        writing[at] = null;
        return (await readAt(fd, set[at]!, 0, readLengthOf(i), base + i * block)).bytesRead;
      })();
      done.catch(() => undefined); // awaited in order below, or abandoned with the response
      reading.set(i, done);
    };
    try {
      for (let i = 0; i < Math.min(readAhead, count); i++) read(i);
      for (let i = 0; i < count; i++) {
        const bytesRead = await Promise.race([reading.get(i)!, gone]);
        reading.delete(i);
        if (bytesRead < lengthOf(i)) throw new Error("blob file is shorter than its recorded size");
        if (i + readAhead < count) read(i + readAhead);
        const buffer = set[i % BUFFERS]!;
        const from = i === 0 ? start - base : 0;
        const to = lengthOf(i);
        const piece = from === 0 && to === buffer.length ? buffer : buffer.subarray(from, to);
        const written = new Promise<void>((ok, fail) => out.write(piece, (error) => (error ? fail(error) : ok())));
        written.catch(() => undefined);
        writing[i % BUFFERS] = written;
      }
      await Promise.race([Promise.all(writing), gone]);
      this.position = this.end + 1;
      out.end();
      // Every read and write completed: the buffers are free again.
      const pool = direct ? idleAligned : idle;
      if ((direct || fullSet) && pool.length < (direct ? IDLE_ALIGNED_SETS : IDLE_SETS)) pool.push(set);
      if (direct) this.afterDirectRead?.();
    } catch (error) {
      // Writes may still hold the buffers: they are left to the garbage collector. Reads in flight
      // finish first, so the descriptor is never closed under them (and reused by another file).
      out.destroy();
      await Promise.allSettled(reading.values());
      throw error;
    } finally {
      if (direct) directSetsInUse--;
      out.off("close", onClose);
      this.destroy();
    }
  }

  private async closeFd(): Promise<void> {
    if (this.fdClosed) return;
    this.fdClosed = true;
    if (this.directFd !== null) await closeFd(this.directFd).catch(() => undefined);
    await closeFd(this.fd);
  }
}

// Writes a stream to a file through a small ring of shared-memory slots, with direct I/O where
// the filesystem allows it.
//
// Why: on the machines Berth was measured on, writing a blob through the page cache cost 0.4 to
// 3 s of kernel CPU per GiB (every page is newly allocated, and on a VM that is a host fault),
// more than receiving and hashing it. O_DIRECT writes from the slots skip that copy, and a
// running hash (the tap) reads the same slots from another thread, so receiving, hashing and
// writing overlap on different cores. The slots are reused from a pool, so a push touches the
// same few MiB of memory whatever the blob's size.
//
// Direct I/O needs aligned memory, lengths and offsets: the bulk of a write goes that way, while a
// head that starts mid-block (an append) and the tail after the last full block go through the
// page cache. Both reach the same file; fdatasync at the end makes all of it durable.
import { close, constants, fdatasync, fstat, ftruncate, open, unlink, write } from "node:fs";
import { promisify } from "node:util";
import { isChunkSource, type WriteTap } from "../fast-paths.ts";

const openFile = promisify(open);
const closeFile = promisify(close);
const writeFile = promisify(write);
const datasync = promisify(fdatasync);
const truncateFile = promisify(ftruncate);
const statFile = promisify(fstat);
const unlinkFile = promisify(unlink);

export const SLOT_BYTES = 512 * 1024;
export const SLOTS = 4;
/** Direct I/O alignment that suits any block device (512- and 4096-byte sectors). */
const ALIGN = 4096;
/** Rings kept for reuse once a write is done: fresh memory costs page faults on first touch. */
const IDLE_RINGS = 4;
/** Without direct I/O, durable writes flush this often, so the final fsync has little left to do. */
const SYNC_EVERY = 64 * 1024 * 1024;

/** SLOTS buffers of SLOT_BYTES in one SharedArrayBuffer, starting at `base` (aligned for direct I/O). */
class Ring {
  readonly memory = new SharedArrayBuffer(SLOTS * SLOT_BYTES + ALIGN);
  slots: Buffer[] = [];

  place(base: number): this {
    this.slots = Array.from({ length: SLOTS }, (_, i) => Buffer.from(this.memory, base + i * SLOT_BYTES, SLOT_BYTES));
    return this;
  }
}

export interface SlotWriteOptions {
  /** Write from this offset after cutting the file back to it; absent: a new, empty file. */
  appendAt?: number;
  durable?: boolean;
  signal?: AbortSignal;
  tap?: WriteTap;
}

/** The file holds fewer bytes than the offset an append was to start at. */
export class ShortFileError extends Error {
  readonly code = "ESHORT";
}

/** The file has more than one name (an older Berth's hard-link publish): writing it would change the others. */
export class SharedFileError extends Error {
  readonly code = "ESHARED";
}

export class SlotWriter {
  private readonly idle: Ring[] = [];
  /** null until the first write finds out; then whether this filesystem takes O_DIRECT. */
  private direct: boolean | null;
  private probes = 0;

  /** `directWrites: false` keeps every write in the page cache (storage.directWrites). */
  constructor(directWrites = true) {
    this.direct = directWrites ? null : false;
  }

  /** Whether writes go past the page cache (their whole blocks): known after the first write. */
  get writesDirect(): boolean {
    return this.direct === true;
  }

  /**
   * Writes `source` to `path`; returns the number of bytes written. A source that hands over its
   * chunks itself (ChunkSource: a request body) is taken without an await per chunk; any other
   * iterable chunk by chunk.
   */
  async write(path: string, source: AsyncIterable<Uint8Array>, options: SlotWriteOptions = {}): Promise<number> {
    const start = options.appendAt ?? 0;
    // An append never creates the file: a missing one is an upload whose bytes are gone (ENOENT).
    const flags = constants.O_WRONLY | (options.appendAt === undefined ? constants.O_CREAT | constants.O_TRUNC : 0);
    const fd = await openFile(path, flags, 0o644);
    let directFd: number | null = null;
    let ring: Ring | null = null;
    /** Each slot's hash and write while they run; null once both are done. */
    const pending: (Promise<void> | null)[] = new Array(SLOTS).fill(null);
    let failure: unknown = null;
    let written = 0;
    /** Set once the file is known to be ours to cut back to appendAt (long enough, not shared). */
    let appending = false;
    try {
      if (options.appendAt !== undefined) {
        const { size, nlink } = await statFile(fd);
        if (nlink > 1) throw new SharedFileError(`${path} is also published under another name; it is never written again`);
        if (size < options.appendAt) throw new ShortFileError(`${path} holds ${size} bytes, fewer than the ${options.appendAt} to append after`);
        if (size > options.appendAt) await truncateFile(fd, options.appendAt);
        appending = true;
      }
      let slot = 0;
      let fill = 0;
      let position = start;
      let capacity = SLOT_BYTES;
      let unsynced = 0;
      /** Hands the full slot to the hash and the file; a promise only when the next slot is not free yet. */
      const dispatch = (): Promise<void> | undefined => {
        const bytes = ring!.slots[slot]!.subarray(0, fill);
        const index = slot;
        const seen = options.tap?.see(bytes);
        const stored = this.writeAt(fd, directFd, bytes, position);
        const both: Promise<void> = Promise.all([seen, stored])
          .then(
            () => undefined,
            (error: unknown) => {
              failure ??= error;
            },
          )
          .then(() => {
            if (pending[index] === both) pending[index] = null;
          });
        pending[index] = both;
        position += fill;
        written += fill;
        unsynced += fill;
        fill = 0;
        capacity = SLOT_BYTES;
        slot = (slot + 1) % SLOTS;
        const busy = pending[slot];
        const syncNow = options.durable === true && directFd === null && unsynced >= SYNC_EVERY;
        if (syncNow) unsynced = 0;
        if (!busy && !syncNow) {
          if (failure) throw failure;
          return undefined;
        }
        return (async () => {
          if (busy) await busy;
          if (failure) throw failure;
          if (syncNow) await datasync(fd);
        })();
      };
      /** Taken at the first byte: empty writes (a new upload, a final fsync) need no memory. */
      const takeRing = async () => {
        ring = this.idle.pop() ?? (await this.newRing(`${path}.probe-${++this.probes}`));
        if (this.direct) directFd = await openFile(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
        // A head that starts mid-block fills a short first slot, so every later slot is aligned.
        if (directFd !== null && start % ALIGN !== 0) capacity = ALIGN - (start % ALIGN);
      };
      /**
       * Copies a chunk into the slots, from `offset` on. Returns a promise only when it has to wait
       * (for the ring, or for a slot still being hashed and written); the chunk must stay unchanged
       * until then, and is no longer needed after.
       */
      const take = (chunk: Uint8Array, offset = 0): Promise<void> | undefined => {
        options.signal?.throwIfAborted();
        if (chunk.length === 0) return undefined;
        if (ring === null) return takeRing().then(() => take(chunk, offset));
        const slots = ring.slots;
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        while (offset < bytes.length) {
          const n = Math.min(capacity - fill, bytes.length - offset);
          // fill(), not copy(): copy() into shared memory takes V8's element-wise path (~2 GiB/s
          // in a push, a third of the main thread); fill() with a buffer is a memcpy (~25 GiB/s).
          slots[slot]!.fill(offset === 0 && n === bytes.length ? bytes : bytes.subarray(offset, offset + n), fill, fill + n);
          fill += n;
          offset += n;
          if (fill === capacity) {
            const wait = dispatch();
            if (wait) return wait.then(() => take(bytes, offset));
          }
        }
        return undefined;
      };
      if (isChunkSource(source)) {
        await source.eachChunk(take);
      } else {
        for await (const chunk of source) await take(chunk);
      }
      options.signal?.throwIfAborted();
      if (fill > 0) await dispatch();
      await Promise.all(pending);
      if (failure) throw failure;
      if (options.durable) await datasync(fd);
    } catch (error) {
      // A failed append (the disk full mid-chunk, the client gone) leaves no bytes past the offset
      // it started at: the file then agrees with the offset the caller still records, and a full
      // disk gets the space back at once. Writes still in flight land first, or they would
      // extend the file again after the cut.
      if (appending) {
        await Promise.all(pending);
        await truncateFile(fd, start).catch(() => undefined);
      }
      throw error;
    } finally {
      // No write may still read the ring when it goes back to the pool.
      await Promise.all(pending);
      if (ring && this.idle.length < IDLE_RINGS) this.idle.push(ring);
      if (directFd !== null) await closeFile(directFd).catch(() => undefined);
      await closeFile(fd).catch(() => undefined);
    }
    return written;
  }

  /** Writes all of `bytes` at `at`: the aligned part directly, the rest through the page cache. */
  private async writeAt(fd: number, directFd: number | null, bytes: Buffer, at: number): Promise<void> {
    let done = 0;
    if (directFd !== null && this.direct && at % ALIGN === 0) {
      const aligned = bytes.length - (bytes.length % ALIGN);
      try {
        while (done < aligned) done += (await writeFile(directFd, bytes, done, aligned - done, at + done)).bytesWritten;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
        this.direct = false; // refused after all: the page cache takes the rest, now and later
      }
    }
    while (done < bytes.length) done += (await writeFile(fd, bytes, done, bytes.length - done, at + done)).bytesWritten;
  }

  /**
   * A new ring, placed where direct I/O accepts its memory. Allocators put a header before a
   * large block (glibc: 16 bytes, so a page starts 16 bytes short of a page in); the offset is
   * found by trying, on a scratch file beside the target, and the first ring also learns whether direct I/O works.
   */
  private async newRing(probePath: string): Promise<Ring> {
    const ring = new Ring();
    if (this.direct === false) return ring.place(0);
    const probe = await openFile(probePath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600).catch(() => null);
    if (probe === null) {
      this.direct = false;
      return ring.place(0);
    }
    try {
      for (const offset of [ALIGN - 16, ...Array.from({ length: ALIGN / 16 }, (_, i) => i * 16)]) {
        const fits = await writeFile(probe, new Uint8Array(ring.memory, offset, ALIGN), 0, ALIGN, 0).then(() => true, () => false);
        if (fits) {
          this.direct = true;
          return ring.place(offset);
        }
      }
      this.direct = false;
      return ring.place(0);
    } finally {
      await closeFile(probe).catch(() => undefined);
      await unlinkFile(probePath).catch(() => undefined);
    }
  }
}

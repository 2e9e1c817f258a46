// A blob file (or a byte range of it) as a Readable, plus a faster way out for the HTTP layer:
// writeTo() reads into a few reused buffers and hands each to the response, reusing it only
// after the socket took it. A plain Readable allocates a new buffer for every read; on a pull of
// 1 GiB that was a gigabyte of fresh memory and most of the CPU (page faults and garbage
// collection), about half of what the socket write itself cost.
import { close, read } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { promisify } from "node:util";

const readAt = promisify(read);
const closeFd = promisify(close);

export const READ_BYTES = 1024 * 1024;
/** Buffers per response: READ_AHEAD being read, the others queued on the socket. */
const BUFFERS = 4;
/** Reads in flight: two keep a disk busy when the blob is not in the page cache. */
const READ_AHEAD = 2;
/** Sets of buffers kept for the next pulls. */
const IDLE_SETS = 4;
const idle: Buffer[][] = [];

export class FileBody extends Readable {
  private readonly fd: number;
  private position: number;
  /** Inclusive. */
  private readonly end: number;
  private fdClosed = false;

  constructor(fd: number, start: number, end: number) {
    super({ highWaterMark: READ_BYTES });
    this.fd = fd;
    this.position = start;
    this.end = end;
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
    const count = Math.ceil((this.end - start + 1) / READ_BYTES);
    const lengthOf = (i: number) => Math.min(READ_BYTES, this.end - start - i * READ_BYTES + 1);
    // A body shorter than the set gets buffers of its own size: a 2 KiB config must not take 4 MiB,
    // least of all when many small blobs are pulled at once.
    const fullSet = count >= BUFFERS;
    const buffers = fullSet
      ? (idle.pop() ?? Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(READ_BYTES)))
      : Array.from({ length: count }, (_, i) => Buffer.allocUnsafeSlow(lengthOf(i)));
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
        return (await readAt(this.fd, buffers[at]!, 0, lengthOf(i), start + i * READ_BYTES)).bytesRead;
      })();
      done.catch(() => undefined); // awaited in order below, or abandoned with the response
      reading.set(i, done);
    };
    try {
      for (let i = 0; i < Math.min(READ_AHEAD, count); i++) read(i);
      for (let i = 0; i < count; i++) {
        const bytesRead = await Promise.race([reading.get(i)!, gone]);
        reading.delete(i);
        if (bytesRead !== lengthOf(i)) throw new Error("blob file is shorter than its recorded size");
        if (i + READ_AHEAD < count) read(i + READ_AHEAD);
        const buffer = buffers[i % BUFFERS]!;
        const written = new Promise<void>((ok, fail) => out.write(bytesRead === READ_BYTES ? buffer : buffer.subarray(0, bytesRead), (error) => (error ? fail(error) : ok())));
        written.catch(() => undefined);
        writing[i % BUFFERS] = written;
      }
      await Promise.race([Promise.all(writing), gone]);
      this.position = this.end + 1;
      out.end();
      // Every read and write completed: the buffers are free again.
      if (fullSet && idle.length < IDLE_SETS) idle.push(buffers);
    } catch (error) {
      // Writes may still hold the buffers: they are left to the garbage collector. Reads in flight
      // finish first, so the descriptor is never closed under them (and reused by another file).
      out.destroy();
      await Promise.allSettled(reading.values());
      throw error;
    } finally {
      out.off("close", onClose);
      this.destroy();
    }
  }

  private async closeFd(): Promise<void> {
    if (this.fdClosed) return;
    this.fdClosed = true;
    await closeFd(this.fd);
  }
}

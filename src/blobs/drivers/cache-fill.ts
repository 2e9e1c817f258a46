// Reads files through the page cache in the background, one at a time, after a pull read them past
// it (file-body.ts). The direct read made that pull fast and cheap, but left the file out of the
// cache, so without this the next pull paid the fill instead, and a blob pulled a few times in a
// row (the usual rollout) read slower on the whole than before the direct reads. The fill costs
// what the first pull's buffered read used to (mostly the kernel taking fresh pages), now off every
// client's path. Until it completes, the driver keeps reading the file direct: a buffered pull
// racing the fill over the same pages was measured slower than either alone (1 GiB at 141–278 MiB/s).
import { close, open, read } from "node:fs";
import { promisify } from "node:util";

const openFd = promisify(open);
const readAt = promisify(read);
const closeFd = promisify(close);

const FILL_BYTES = 1024 * 1024;
/** Paths waiting; more are dropped (a hint: such a file is queued again by its next direct read). */
const QUEUED_MAX = 64;

export class CacheFill {
  private readonly queue: string[] = [];
  private running: Promise<void> | null = null;
  private buffer: Buffer | null = null;
  /** Files read to their end so far (what tests see). */
  filled = 0;

  private readonly onFilled: (path: string) => void;

  /** `onFilled(path)`: the file was read to its end, so its pages are in the cache. */
  constructor(onFilled: (path: string) => void) {
    this.onFilled = onFilled;
  }

  /** Queues `path` for a read through the page cache. */
  add(path: string): void {
    if (this.queue.length >= QUEUED_MAX || this.queue.includes(path)) return;
    this.queue.push(path);
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  /** Resolves when every queued file was read (for tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let path = this.queue.shift(); path !== undefined; path = this.queue.shift()) {
      // A file gone meanwhile (deleted by gc) or unreadable is skipped: nothing depends on the fill.
      await this.fill(path).catch(() => undefined);
    }
    this.buffer = null;
  }

  private async fill(path: string): Promise<void> {
    const fd = await openFd(path, "r");
    try {
      const buffer = (this.buffer ??= Buffer.allocUnsafeSlow(FILL_BYTES));
      for (let position = 0; ; position += FILL_BYTES) {
        const { bytesRead } = await readAt(fd, buffer, 0, FILL_BYTES, position);
        if (bytesRead < FILL_BYTES) break;
      }
    } finally {
      await closeFd(fd);
    }
    this.filled++;
    this.onFilled(path);
  }
}

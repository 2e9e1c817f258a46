// Reads files through the page cache in the background, one at a time, after their first pull
// went past it (file-body.ts). The direct read made that pull fast and cheap, but left the file
// out of the cache, so without this the second pull paid the fill instead, and a blob pulled a few
// times in a row (the usual rollout) read slower on the whole than before the direct reads. The
// fill costs what the first pull's buffered read used to (mostly the kernel taking fresh pages),
// now off every client's path; a pull that comes while it runs shares the pages it has filled.
import { close, open, read } from "node:fs";
import { promisify } from "node:util";

const openFd = promisify(open);
const readAt = promisify(read);
const closeFd = promisify(close);

const FILL_BYTES = 1024 * 1024;
/** Paths waiting; more are dropped (a hint: such a file is filled by its next pull instead). */
const QUEUED_MAX = 64;

export class CacheFill {
  private readonly queue: string[] = [];
  private running: Promise<void> | null = null;
  private buffer: Buffer | null = null;
  /** Files read to their end so far (what tests and the metrics see). */
  filled = 0;

  /** Queues `path` for a read through the page cache. */
  add(path: string): void {
    if (this.queue.length >= QUEUED_MAX || this.queue.includes(path)) return;
    this.queue.push(path);
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  /** Resolves when every queued file was read (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    for (let path = this.queue.shift(); path !== undefined; path = this.queue.shift()) {
      // A file gone meanwhile (deleted by gc) or unreadable is simply skipped: nothing depends on the fill.
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
      this.filled++;
    } finally {
      await closeFd(fd);
    }
  }
}

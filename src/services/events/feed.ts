// One reader of the change log for the whole process: it tails the log right after each local
// commit that appended changes (the store calls back before the writer's request answers, so a
// push is visible to its own process when it returns) and on a short timer, so changes made by
// another process over the same database arrive within a second. Every cache that mirrors the
// database (chart index, attributes, remembered sign-ins, signing keys) subscribes here instead
// of being told by the code that made the change.
//
//   writer's transaction ── changes.append ──▶ changes table ◀── since(cursor) ── ChangeFeed.poll
//                                                                                   ├─▶ listener 1
//                                                                                   └─▶ listener n
import type { ChangeEntry } from "../../domain/changes.ts";
import type { ChangeRows } from "../../metadata/types.ts";

export type ChangeListener = (entries: readonly ChangeEntry[]) => void | Promise<void>;

export interface FeedLogger {
  error(object: object, message: string): void;
}

const BATCH = 1000;

export class ChangeFeed {
  private readonly changes: ChangeRows;
  private readonly listeners: ChangeListener[] = [];
  private readonly logger: FeedLogger;
  private readonly intervalMs: number;
  private position = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The poll in flight, and whether another was asked for meanwhile (single flight, never skipping one). */
  private running: Promise<void> | null = null;
  private again = false;

  constructor(changes: ChangeRows, logger: FeedLogger, options: { intervalMs?: number } = {}) {
    this.changes = changes;
    this.logger = logger;
    this.intervalMs = options.intervalMs ?? 250;
  }

  /** The id of the newest change every listener has been given. */
  get cursor(): number {
    return this.position;
  }

  subscribe(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** Starts at the end of the log (the caches have just loaded what is there) and polls on a timer. */
  async start(): Promise<void> {
    this.position = await this.changes.latest();
    this.timer = setInterval(() => void this.poll().catch((err: unknown) => this.logger.error({ err }, "reading the change log failed")), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads every change after the cursor and hands it to the listeners; resolves once it has caught up. */
  poll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.drain();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const entries = await this.changes.since(this.position, BATCH);
      if (entries.length === 0) return;
      for (const listener of this.listeners) {
        try {
          await listener(entries);
        } catch (err) {
          // One cache failing to refresh must not stop the others, nor the log's cursor.
          this.logger.error({ err }, "a change listener failed");
        }
      }
      this.position = entries.at(-1)!.id;
      if (entries.length < BATCH) return;
    }
  }
}

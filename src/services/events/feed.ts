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

/** A cache's listener, and how to rebuild the cache whole when the listener failed (a change must never be skipped). */
export interface Subscriber {
  apply: ChangeListener;
  reload: () => void | Promise<void>;
}

export interface FeedLogger {
  error(object: object, message: string): void;
}

const BATCH = 1000;

export class ChangeFeed {
  private readonly changes: ChangeRows;
  private readonly subscribers: Subscriber[] = [];
  private readonly logger: FeedLogger;
  private readonly intervalMs: number;
  private position = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The read in flight, shared by everyone who asks meanwhile. */
  private running: Promise<void> | null = null;

  constructor(changes: ChangeRows, logger: FeedLogger, options: { intervalMs?: number } = {}) {
    this.changes = changes;
    this.logger = logger;
    this.intervalMs = options.intervalMs ?? 250;
  }

  /** The id of the newest change every subscriber has been given. */
  get cursor(): number {
    return this.position;
  }

  subscribe(subscriber: Subscriber): void {
    this.subscribers.push(subscriber);
  }

  /**
   * Starts after `from`: the log's position read *before* the caches loaded, so a change another
   * process commits while they load is delivered (replayed, if they saw it: every listener is
   * idempotent), never lost. Then polls on a timer.
   */
  start(from: number): void {
    this.position = from;
    this.timer = setInterval(() => void this.poll().catch((err: unknown) => this.logger.error({ err }, "reading the change log failed")), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * After a local commit: resolves once every change up to the newest one now in the log (the
   * committer's, at least) is applied; not when the feed goes idle, which under steady writes
   * could be never.
   */
  async catchUp(): Promise<void> {
    const target = await this.changes.latest();
    while (this.position < target) await this.poll();
  }

  /** One read of everything after the cursor, handed to the subscribers; callers meanwhile share it. */
  poll(): Promise<void> {
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const entries = await this.changes.since(this.position, BATCH);
      if (entries.length === 0) return;
      for (const subscriber of this.subscribers) {
        try {
          await subscriber.apply(entries);
        } catch (err) {
          // The cache may now lack these changes: rebuild it whole rather than skip them.
          this.logger.error({ err }, "a change listener failed: reloading its cache");
          await subscriber.reload();
        }
      }
      this.position = entries.at(-1)!.id;
      if (entries.length < BATCH) return;
    }
  }
}

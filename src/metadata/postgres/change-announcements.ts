// Every instance hears of new change-log entries at once: the transaction that appends entries
// announces them (change-store.ts seal(): pg_notify, which PostgreSQL delivers only when, and
// only if, the transaction commits), and each process keeps one connection LISTENing outside the
// pool that tells the change feed to read now. Measured on one machine: the notification arrives
// under a millisecond after the commit (p50), so another instance applies a change as fast as
// the one that made it.
//
// A notification can be missed: while the connection is down (a restart or failover of the
// server, a network cut) nothing is queued for it. So on every (re)connect the listener reports
// once (the feed reads whatever it missed), and the feed's timer keeps polling as the safety net
// (services/events/feed.ts).
import pg from "pg";
import { CHANGES_CHANNEL } from "../change-store.ts";

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

export interface AnnouncementLogger {
  warn(object: object, message: string): void;
}

export class ChangeAnnouncements {
  private readonly url: string;
  private readonly logger: AnnouncementLogger;
  private readonly listeners: (() => void)[] = [];
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(url: string, logger: AnnouncementLogger) {
    this.url = url;
    this.logger = logger;
  }

  /** `listener` runs after each announcement, and after each (re)connect. */
  subscribe(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Connects and listens; resolves once listening (or once the first attempt failed: retries go on). */
  async start(): Promise<void> {
    await this.connect();
  }

  private tell(): void {
    for (const listener of this.listeners) listener();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url });
    client.on("notification", (message) => {
      if (message.channel === CHANGES_CHANNEL) this.tell();
    });
    // A dropped connection: the feed's timer covers the gap; reconnect and catch up.
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, null));
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
    this.tell(); // whatever was announced while not listening
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== null && this.client !== client) return; // an older connection's last word
    if (this.closed || this.retryTimer) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.logger.warn({ err, retryInMs: this.retryMs }, "lost the PostgreSQL connection that listens for changes: reconnecting (the change feed polls meanwhile)");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}

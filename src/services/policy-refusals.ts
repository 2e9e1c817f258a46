// Writes a policy refused (a quota, an immutable tag: errors.ts PolicyRefusal) become events
// although their transaction rolled back: the refusal is appended as `policy.refused` in a
// transaction of its own, with the refused request's actor, after the rollback.
//
// Bounded: a client that retries a refused push in a loop (docker retries each layer five times)
// must not flood the change log and every webhook. At most one entry per repository and reason
// every WINDOW_MS per process, at most one per actor and reason (one client refused in 40
// repositories wrote 40 entries before: found by attack), and at most MAX_PER_WINDOW in all; the
// ones in between are dropped (the client still gets its DENIED each time). Per process, not
// across instances: N instances record at most N times as many per window.
import { PolicyRefusal } from "../domain/errors.ts";
import { QuotaRefusal } from "../domain/quotas.ts";
import type { ChangeActor } from "../domain/changes.ts";
import type { MetadataStore } from "../metadata/types.ts";

export const WINDOW_MS = 10_000;
/** Keys remembered at most; past it, those older than the window go (a flood of names cannot grow memory). */
const MAX_KEYS = 10_000;
/** Entries recorded per window at most, whoever is refused. */
const MAX_PER_WINDOW = 60;

export class RefusalLog {
  private readonly metadata: MetadataStore;
  private readonly now: () => number;
  private readonly recent = new Map<string, number>();
  private windowStart = -Infinity;
  private inWindow = 0;

  constructor(metadata: MetadataStore, now: () => number = Date.now) {
    this.metadata = metadata;
    this.now = now;
  }

  /** Runs `write`; a PolicyRefusal it throws is recorded (within the bound), then thrown on. */
  async watch<T>(write: Promise<T>, actor: ChangeActor | null | undefined): Promise<T> {
    try {
      return await write;
    } catch (err) {
      if (err instanceof PolicyRefusal) await this.record(err, actor ?? null);
      throw err;
    }
  }

  private async record(err: PolicyRefusal, actor: ChangeActor | null): Promise<void> {
    const { reason, repository, reference, rule } = err.refusal;
    const keys = [`repository\u0000${repository}\u0000${reason}`, `actor\u0000${actor?.kind ?? ""}\u0000${actor?.name ?? "anonymous"}\u0000${reason}`];
    const now = this.now();
    if (keys.some((key) => now - (this.recent.get(key) ?? -Infinity) < WINDOW_MS)) return;
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= MAX_PER_WINDOW) return;
    if (this.recent.size >= MAX_KEYS) for (const [k, at] of this.recent) if (now - at >= WINDOW_MS) this.recent.delete(k);
    if (this.recent.size >= MAX_KEYS - 1) return; // all recent: drop rather than grow
    for (const key of keys) this.recent.set(key, now);
    this.inWindow++;
    try {
      // A quota's figures only where every reader of the event may see them (domain/quotas.ts).
      const message = err instanceof QuotaRefusal ? err.eventMessage() : err.message;
      await this.metadata.transaction((tx) => tx.changes.append({ kind: "policy.refused", repository, reason, rule, reference, message: message.slice(0, 1000) }), { actor });
    } catch {
      // The refusal is the client's answer either way; a log that cannot be written now (a full
      // disk) must not turn a clear DENIED into a 500.
    }
  }
}

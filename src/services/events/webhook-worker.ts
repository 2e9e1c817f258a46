// The delivery worker: one instance at a time (serve.ts runs it under a job lease), driven by rows,
// so a restart or another instance taking over continues where it stopped.
//
//   change log ──claim/ack "webhooks"──▶ fan-out: one delivery row per event per matching webhook
//                                         (the rows and the consumer's cursor in one transaction)
//   webhook_deliveries ── per webhook, oldest pending first ──▶ POST, signed ──▶ delivered
//                                                                  │ 5xx, timeout, refused: retry
//                                                                  │   after base·2^(n-1), ≤ cap
//                                                                  └ 410: the webhook is disabled
//
// Deliveries of one webhook go one at a time in event order: a delivery waiting for its retry
// holds the ones after it. Webhooks do not wait for each other. A push never waits for any of
// this: it only appended its change. At-least-once: a delivery whose answer was lost to a crash
// is sent again after the restart (docs/lifecycle.md).
//
// Cheap enough to run beside pushes on SQLite's one writer (docs/performance.md, "Webhooks (issue
// 17)"): a webhook's due deliveries are leased in batches (one statement), sent in order over a
// kept-alive connection, and recorded with one transaction per batch that need not sync (the
// attempts, the leases of what was not sent, the trim); a batch stops at its first failure, so
// nothing after it goes first. Between batches the worker lets requests in (setImmediate). A
// batch's requests (signing, the HTTP exchanges, the connection) run on a thread of their own
// (send-thread.ts), handed over in one message: this loop only decides, leases and records; and
// its looks wait while requests are in flight, at most MAX_YIELD_MS (services/foreground.ts).
import { randomUUID } from "node:crypto";
import { setImmediate as yieldToRequests } from "node:timers/promises";
import { eventOf, type RegistryEvent } from "../../domain/events.ts";
import { matchesPattern } from "../../domain/names.ts";
import type { MetadataStore } from "../../metadata/types.ts";
import type { Foreground } from "../foreground.ts";
import { RECENT_ATTEMPTS, type AttemptOutcome, type Delivery, type DeliveryAttempt, type NewDelivery, type RecordedAttempt, type Webhook } from "../../metadata/webhook-types.ts";
import type { DestinationPolicy } from "./destinations.ts";
import type { AttemptDelivery } from "./delivery-request.ts";
import { CONTENT_TYPES, render, type EventSource, type Payload } from "./payloads.ts";
import { SendThread } from "./send-thread.ts";
import { delivered, type SendResult } from "./sender.ts";

export interface DeliverySettings {
  policy: DestinationPolicy;
  source: EventSource;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  maxAttempts: number;
  keepDeliveries: number;
  /** How long a delivery not yet tried waits before its webhook's drain starts (webhooks.batchDelay). */
  batchDelayMs: number;
}

export interface WorkerLogger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** The change log consumer the fan-out reads as. */
export const WEBHOOK_CONSUMER = "webhooks";
const BATCH = 500;
const LEASE_MS = 60_000;
/** A delivery's lease outlasts its request's timeout by this much (recording the outcome). */
const SEND_MARGIN_MS = 5_000;
/** How long the delivery thread may take to answer its cut batches before it is ended. */
const ABORT_ANSWER_MS = 1_000;

/** `work`'s end, or "late" after ms. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | "late"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deliveries one lease takes at most. */
const BATCH_DELIVERIES = 50;
/**
 * A batch starts no send after this long: its lease is this plus a request's timeout plus the
 * margin, so a sender that died holds its webhook's queue at most that long (as one delivery's
 * lease did, plus this), and its records wait at most this long plus one request.
 */
const BATCH_WINDOW_MS = 1_000;

/**
 * A look of the worker that finds requests in flight is skipped, but never for longer than this
 * since the last look that ran: a delivery waits at most this (plus batchDelay and a tick) for a
 * quiet moment, and what the skipped looks would have sent goes in one batch.
 */
export const MAX_YIELD_MS = 2_000;

/** The wait before attempt n + 1 after n failed ones: base·2^(n-1), at most cap. */
export function backoff(failedAttempts: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
}

/** The headers a delivery is kept with (its signature is added at each attempt, with its timestamp). */
export function deliveryHeaders(webhook: Webhook, contentType: string): Record<string, string> {
  return { ...webhook.headers, "content-type": contentType, "user-agent": "Berth-Webhook/1" };
}

/** Whether a webhook wants an event: enabled, and covering it. */
export function wants(webhook: Webhook, event: RegistryEvent): boolean {
  return webhook.enabled && covers(webhook, event);
}

/** Whether a webhook's actions and scope cover an event (an event with no repository: scope `*` only). */
export function covers(webhook: Pick<Webhook, "actions" | "scope">, event: RegistryEvent): boolean {
  if (!webhook.actions.includes(event.action)) return false;
  const repository = event.target.repository;
  return repository === undefined ? webhook.scope === "*" : matchesPattern(webhook.scope, repository);
}

/** Whether a webhook's row is still what a batch read (any change, an update's time included). */
function sameWebhook(a: Webhook, b: Webhook): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A delivery as its batch sends it; `rendered`: its body was made anew in the webhook's current format. */
type BatchRequest = AttemptDelivery & { rendered: boolean };

/** An error as an attempt's record keeps it: a receiver's words are not stored at any length. */
const ATTEMPT_ERROR_CHARS = 300;

/** The delivery's recent attempts with this one (sent at `answeredAt` less its latency), the newest RECENT_ATTEMPTS. */
export function withAttempt(kept: readonly DeliveryAttempt[], answeredAt: Date, result: Pick<SendResult, "status" | "latencyMs">, error: string | null): DeliveryAttempt[] {
  const attempt = { at: new Date(answeredAt.getTime() - result.latencyMs), responseStatus: result.status, latencyMs: result.latencyMs, error: error === null ? null : error.slice(0, ATTEMPT_ERROR_CHARS) };
  return [...kept, attempt].slice(-RECENT_ATTEMPTS);
}

/** What an attempt's result makes of its delivery. */
export function outcomeOf(delivery: Pick<Delivery, "attempts" | "recentAttempts">, result: SendResult, settings: DeliverySettings, now = new Date()): AttemptOutcome {
  const attempts = delivery.attempts + 1;
  const ok = delivered(result);
  const gone = result.status === 410;
  const givenUp = !ok && !gone && attempts >= settings.maxAttempts;
  const status = ok ? "delivered" : gone || givenUp ? "failed" : "pending";
  const nextAt = status === "pending" ? new Date(now.getTime() + backoff(attempts, settings.backoffBaseMs, settings.backoffCapMs)) : now;
  const error = result.error ?? (ok ? null : `the receiver answered ${result.status}`);
  const recentAttempts = withAttempt(delivery.recentAttempts, now, result, error);
  return { status, attempts, nextAt, responseStatus: result.status, latencyMs: result.latencyMs, error, finishedAt: status === "pending" ? null : now, recentAttempts };
}

export class WebhookWorker {
  private readonly metadata: MetadataStore;
  private readonly settings: DeliverySettings;
  private readonly logger: WorkerLogger;
  private readonly owner = `webhooks:${randomUUID()}`;
  /** Each webhook's drain in flight: one per webhook, so its deliveries stay in order. */
  private readonly draining = new Map<string, Promise<void>>();
  /** The requests (and each webhook's kept-alive connection), off the event loop that serves pushes. */
  private readonly sender: SendThread;
  /** The requests this instance serves; none given: the worker never waits for them. */
  private readonly foreground: Foreground | null;
  /** When the last look that was not skipped for requests in flight began. */
  private lastLook = 0;
  private stopped = false;

  constructor(metadata: MetadataStore, settings: DeliverySettings, logger: WorkerLogger, foreground?: Foreground) {
    this.metadata = metadata;
    this.settings = settings;
    this.logger = logger;
    this.foreground = foreground ?? null;
    this.sender = new SendThread(settings.policy, (err) => this.logger.error({ err }, "the webhook delivery thread failed; the next delivery starts a new one"));
  }

  /**
   * Queues what the log holds, then starts a drain for each webhook owed a delivery (not awaited:
   * one slow receiver holds no other); skipped while requests are in flight, up to MAX_YIELD_MS.
   * A new delivery counts once it has waited batchDelayMs, so beside a stream of pushes a
   * webhook's drain starts about that often and takes every delivery queued meanwhile in one
   * batch; a retry counts when its backoff is over.
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    // Requests in flight go first (a push burst), for at most MAX_YIELD_MS; drains already going
    // (a backlog) go on between them as before.
    const lookAt = Date.now();
    if (this.foreground?.busy() && lookAt - this.lastLook < MAX_YIELD_MS) return;
    this.lastLook = lookAt;
    while ((await this.fanOut()) === BATCH);
    const now = Date.now();
    for (const name of await this.metadata.webhooks.due(new Date(now), new Date(now - this.settings.batchDelayMs))) {
      if (this.draining.has(name) || this.stopped) continue;
      const run = this.drain(name)
        .catch((err: unknown) => this.logger.error({ err, webhook: name }, "webhook delivery failed"))
        .finally(() => this.draining.delete(name));
      this.draining.set(name, run);
    }
  }

  /**
   * Waits for the drains in flight (each ends after its current attempt, recording its batch), for
   * `graceMs` (shutdown's, the HTTP server's SHUTDOWN_GRACE_MS: running.md "Stop"): then the
   * requests still in flight are cut, and their deliveries recorded as not sent, so they go again
   * after the restart (at least once) instead of holding the exit for up to webhooks.timeout.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.sender.halt();
    const drains = Promise.all([...this.draining.values()]);
    if ((await within(drains, graceMs)) === "late") {
      this.sender.abort();
      // The thread answers a cut batch at once; one that does not is ended by close() below,
      // which answers what it owed as failed attempts (retried after the restart all the same).
      await within(drains, ABORT_ANSWER_MS);
    }
    await this.sender.close();
    await drains;
  }

  /** One batch of the log turned into delivery rows, and the cursor moved past it, in one transaction; how many entries it read. */
  async fanOut(): Promise<number> {
    return this.metadata.transaction(async (tx) => {
      const entries = await tx.changes.claim(WEBHOOK_CONSUMER, this.owner, BATCH, LEASE_MS);
      if (entries.length === 0) {
        // Freed at once: a lease left behind by a look that found nothing held the log for
        // LEASE_MS against whichever instance took the worker's job next (nothing was queued
        // meanwhile; the two-instance e2e test waited 30–60 s for it).
        await tx.changes.release(WEBHOOK_CONSUMER, this.owner);
        return 0;
      }
      // Share-locked on PostgreSQL until this commits: a delete waits, then removes what this queued.
      const hooks = await tx.webhooks.queueable();
      const queued: NewDelivery[] = [];
      for (const entry of entries) {
        const event = eventOf(entry);
        if (!event) continue;
        // Each format's body once per event, however many webhooks take it in that format.
        const payloads = new Map<Webhook["format"], Payload>();
        for (const hook of hooks) {
          // A webhook hears of what happened after it was made.
          if (!wants(hook, event) || entry.at < hook.createdAt) continue;
          let payload = payloads.get(hook.format);
          if (!payload) payloads.set(hook.format, (payload = render(event, hook.format, this.settings.source)));
          queued.push({ webhook: hook.name, eventId: event.id, action: event.action, requestHeaders: deliveryHeaders(hook, payload.contentType), body: payload.body });
        }
      }
      await tx.webhooks.enqueue(queued, new Date());
      await tx.changes.ack(WEBHOOK_CONSUMER, this.owner, entries.at(-1)!.id);
      return entries.length;
    });
  }

  /** Sends a webhook's due deliveries in order, a batch at a time, until one must wait (or none is left). */
  private async drain(name: string): Promise<void> {
    while (!this.stopped) {
      const hook = await this.metadata.webhooks.get(name);
      if (!hook?.enabled) return this.dropAgent(name);
      const leasedAt = Date.now();
      const until = new Date(leasedAt + BATCH_WINDOW_MS + this.settings.timeoutMs + SEND_MARGIN_MS);
      const batch = await this.metadata.webhooks.leaseDue(name, this.owner, new Date(leasedAt), until, BATCH_DELIVERIES);
      if (batch.length === 0) return;
      if (!(await this.sendBatch(hook, batch, leasedAt))) return;
      // A long queue drains in batches with the event loop's other work (requests) between them.
      await yieldToRequests();
    }
  }

  /**
   * What each leased delivery goes out as, from the webhook's row as the batch reads it: its custom
   * headers, and its body in the webhook's format (rendered anew from the event when the format
   * changed since the fan-out; kept as it is when the log no longer holds the event); null for one
   * the webhook's scope or actions no longer cover (it is not sent). One read of the batch's events.
   */
  private async requests(hook: Webhook, batch: readonly Delivery[]): Promise<(BatchRequest | null)[]> {
    const entries = await this.metadata.changes.entries(batch.filter((d) => d.eventId > 0).map((d) => d.eventId));
    const events = new Map(entries.map((e) => [e.id, eventOf(e)]));
    const contentType = CONTENT_TYPES[hook.format];
    return batch.map((d) => {
      const event = events.get(d.eventId) ?? null;
      if (event && !covers(hook, event)) return null;
      const kept = d.requestHeaders["content-type"] ?? contentType;
      const body = event && kept !== contentType ? render(event, hook.format, this.settings.source).body : null;
      return { id: d.id, eventId: d.eventId, requestHeaders: deliveryHeaders(hook, body === null ? kept : contentType), body: body ?? d.body, rendered: body !== null };
    });
  }

  /** Sends a leased batch in order (on the delivery thread), stopping at its first failure; records it; whether more may be due now. */
  private async sendBatch(hook: Webhook, batch: readonly Delivery[], leasedAt: number): Promise<boolean> {
    const done: RecordedAttempt[] = [];
    let failed = false;
    let gone: { delivery: Delivery; outcome: AttemptOutcome; sent: RecordedAttempt["sent"] } | null = null;
    // The webhook as it was when the batch was leased: a change (URL, headers, format, scope,
    // actions, a rotated secret, disabled) applies from the next batch, at most BATCH_WINDOW_MS
    // and one request later.
    const requests = await this.requests(hook, batch);
    const sending = requests.filter((r) => r !== null);
    const results = sending.length === 0 ? [] : await this.sender.batch(hook.name, hook, sending, { timeoutMs: this.settings.timeoutMs, windowMs: BATCH_WINDOW_MS, leasedAt });
    // Deliveries taken in batch order: the unsent ones finish where they stand; the sent ones take
    // the thread's answers in turn, up to the first it did not send.
    let handled = 0;
    let answered = 0;
    for (const [i, delivery] of batch.entries()) {
      const request = requests[i]!;
      if (request === null) {
        const now = new Date();
        done.push({ id: delivery.id, outcome: { status: "failed", attempts: delivery.attempts, nextAt: now, responseStatus: null, latencyMs: null, error: `not sent: webhook ${hook.name} no longer covers it (its scope or actions changed after it was queued)`, finishedAt: now } });
        handled++;
        continue;
      }
      const result = results[answered++];
      if (!result) break;
      handled++;
      const outcome = outcomeOf(delivery, result, this.settings, new Date(result.at));
      const sent = { requestHeaders: request.requestHeaders, body: request.rendered ? request.body : null };
      if (outcome.responseStatus === 410) {
        gone = { delivery, outcome, sent };
        break;
      }
      done.push({ id: delivery.id, outcome, sent });
      if (outcome.status !== "delivered") {
        // One waiting for its retry holds the rest; one given up on lets the next go (in the next batch).
        failed = outcome.status === "pending";
        this.logger.warn({ webhook: hook.name, delivery: delivery.id, attempts: outcome.attempts, status: outcome.responseStatus, error: outcome.error, next: outcome.status === "pending" ? outcome.nextAt : null }, "webhook delivery failed");
        break;
      }
    }
    const release = batch.slice(handled).map((d) => d.id);
    if (!gone) {
      await this.metadata.webhooks.record(hook.name, this.owner, done, release, this.settings.keepDeliveries);
      // A short batch sent whole: nothing else was due when it was leased, and what is queued since
      // comes with the next tick's fan-out, which starts this drain again (two reads saved per tick).
      const more = release.length > 0 || batch.length === BATCH_DELIVERIES;
      return more && !failed && !this.stopped;
    }
    // 410 Gone: the receiver says it is not coming back. Disabled, with the audit line saying why,
    // in one transaction (synced: the audit line is kept), from the webhook's row held (locked) as
    // it is now: a change committed while the request was out (a new URL, headers, re-enabled) means
    // the answer came from what the webhook no longer is, so the delivery goes again as it is now and
    // nothing is disabled; a change made after this holds the row waits and applies on top.
    const now = gone.outcome.finishedAt ?? new Date();
    const url = hook.url;
    const disabled = await this.metadata.transaction(async (tx) => {
      const current = await tx.webhooks.hold(hook.name);
      const attempts = [...done, { id: gone.delivery.id, outcome: gone.outcome, sent: gone.sent }];
      if (!current || !sameWebhook(current, hook)) {
        // No failed attempt either: the answer was about what the webhook no longer is, so it goes
        // again with no backoff and its count stays, as a delivery not sent for a change in
        // its scope keeps it; webhooks.maxAttempts and the backoff count failures of the webhook
        // as it is. The request is in its recent attempts all the same (it went out).
        const error = `${gone.outcome.error ?? "the receiver answered 410"} (from ${url}; the webhook changed since, so it goes again as it is now)`;
        const recentAttempts = gone.outcome.recentAttempts?.map((a, i, all) => (i === all.length - 1 ? { ...a, error: error.slice(0, ATTEMPT_ERROR_CHARS) } : a));
        const again: AttemptOutcome = { ...gone.outcome, status: "pending", attempts: gone.delivery.attempts, nextAt: now, finishedAt: null, error, ...(recentAttempts && { recentAttempts }) };
        await tx.webhooks.record(hook.name, this.owner, [...done, { id: gone.delivery.id, outcome: again, sent: gone.sent }], release, this.settings.keepDeliveries);
        return false;
      }
      await tx.webhooks.record(hook.name, this.owner, attempts, release, this.settings.keepDeliveries);
      await tx.webhooks.update(hook.name, { enabled: false, updatedAt: now });
      await tx.audit.append({
        id: `${now.getTime().toString(36)}-${randomUUID()}`,
        at: now,
        event: "webhook.disabled",
        identity: "berth",
        action: "update",
        repository: null,
        outcome: "success",
        client: null,
        detail: { webhook: hook.name, reason: "the receiver answered 410 Gone", delivery: gone.delivery.id, url },
      });
      return true;
    });
    if (disabled) this.logger.warn({ webhook: hook.name, delivery: gone.delivery.id, attempts: gone.outcome.attempts, status: 410, error: gone.outcome.error, next: null }, "webhook disabled: its receiver answered 410");
    else this.logger.warn({ webhook: hook.name, delivery: gone.delivery.id, attempts: gone.outcome.attempts, status: 410, url }, "webhook not disabled on 410: it changed while the request was out; the delivery goes again");
    this.dropAgent(hook.name);
    return false;
  }

  private dropAgent(name: string): void {
    this.sender.drop(name);
  }
}


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
import { randomUUID } from "node:crypto";
import { eventOf, type RegistryEvent } from "../../domain/events.ts";
import { matchesPattern } from "../../domain/names.ts";
import type { MetadataStore } from "../../metadata/types.ts";
import type { Delivery, NewDelivery, Webhook } from "../../metadata/webhook-types.ts";
import type { DestinationPolicy } from "./destinations.ts";
import { render, type EventSource } from "./payloads.ts";
import { send, type SendResult } from "./sender.ts";
import { signature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "./signature.ts";

export interface DeliverySettings {
  policy: DestinationPolicy;
  source: EventSource;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  maxAttempts: number;
  keepDeliveries: number;
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

/** The wait before attempt n + 1 after n failed ones: base·2^(n-1), at most cap. */
export function backoff(failedAttempts: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
}

/** The headers a delivery is kept with (its signature is added at each attempt, with its timestamp). */
export function deliveryHeaders(webhook: Webhook, contentType: string): Record<string, string> {
  return { ...webhook.headers, "content-type": contentType, "user-agent": "Berth-Webhook/1" };
}

/** Whether a webhook wants an event: its action, and its repository in scope (an event with no repository: scope `*` only). */
export function wants(webhook: Webhook, event: RegistryEvent): boolean {
  if (!webhook.enabled || !webhook.actions.includes(event.action)) return false;
  const repository = event.target.repository;
  return repository === undefined ? webhook.scope === "*" : matchesPattern(webhook.scope, repository);
}

/** Signs and sends one delivery as it is kept. */
export function attempt(webhook: Webhook, delivery: Pick<Delivery, "id" | "eventId" | "requestHeaders" | "body">, settings: DeliverySettings): Promise<SendResult> {
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    ...delivery.requestHeaders,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signature(webhook.secret, timestamp, delivery.body),
    "berth-delivery": String(delivery.id),
    "berth-event": String(delivery.eventId),
  };
  return send(webhook.url, headers, delivery.body, { timeoutMs: settings.timeoutMs, policy: settings.policy });
}

export class WebhookWorker {
  private readonly metadata: MetadataStore;
  private readonly settings: DeliverySettings;
  private readonly logger: WorkerLogger;
  private readonly owner = `webhooks:${randomUUID()}`;
  /** Each webhook's drain in flight: one per webhook, so its deliveries stay in order. */
  private readonly draining = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(metadata: MetadataStore, settings: DeliverySettings, logger: WorkerLogger) {
    this.metadata = metadata;
    this.settings = settings;
    this.logger = logger;
  }

  /** Queues what the log holds, then starts a drain for each webhook owed a delivery now (not awaited: one slow receiver holds no other). */
  async tick(): Promise<void> {
    if (this.stopped) return;
    while ((await this.fanOut()) === BATCH);
    for (const name of await this.metadata.webhooks.due(new Date())) {
      if (this.draining.has(name) || this.stopped) continue;
      const run = this.drain(name)
        .catch((err: unknown) => this.logger.error({ err, webhook: name }, "webhook delivery failed"))
        .finally(() => this.draining.delete(name));
      this.draining.set(name, run);
    }
  }

  /** Waits for the drains in flight (each ends after its current attempt). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.draining.values()]);
  }

  /** One batch of the log turned into delivery rows, and the cursor moved past it, in one transaction; how many entries it read. */
  async fanOut(): Promise<number> {
    return this.metadata.transaction(async (tx) => {
      const entries = await tx.changes.claim(WEBHOOK_CONSUMER, this.owner, BATCH, LEASE_MS);
      if (entries.length === 0) return 0;
      const hooks = (await tx.webhooks.list()).filter((w) => w.enabled);
      const queued: NewDelivery[] = [];
      for (const entry of entries) {
        const event = eventOf(entry);
        if (!event) continue;
        for (const hook of hooks) {
          // A webhook hears of what happened after it was made.
          if (!wants(hook, event) || entry.at < hook.createdAt) continue;
          const payload = render(event, hook.format, this.settings.source);
          queued.push({ webhook: hook.name, eventId: event.id, action: event.action, requestHeaders: deliveryHeaders(hook, payload.contentType), body: payload.body });
        }
      }
      await tx.webhooks.enqueue(queued, new Date());
      await tx.changes.ack(WEBHOOK_CONSUMER, this.owner, entries.at(-1)!.id);
      return entries.length;
    });
  }

  /** Sends a webhook's due deliveries in order until one must wait (or none is left). */
  private async drain(name: string): Promise<void> {
    while (!this.stopped) {
      const hook = await this.metadata.webhooks.get(name);
      if (!hook?.enabled) return;
      const head = await this.metadata.webhooks.head(name);
      if (!head || head.nextAt.getTime() > Date.now()) return;
      // Held for the request's timeout and a margin: a sender that died frees it by running out.
      const now = new Date();
      if (!(await this.metadata.webhooks.lease(head.id, this.owner, now, new Date(now.getTime() + this.settings.timeoutMs + SEND_MARGIN_MS)))) return;
      await this.deliver(hook, head);
    }
  }

  private async deliver(hook: Webhook, delivery: Delivery): Promise<void> {
    const result = await attempt(hook, delivery, this.settings);
    const attempts = delivery.attempts + 1;
    const now = new Date();
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    const gone = result.status === 410;
    const givenUp = !ok && !gone && attempts >= this.settings.maxAttempts;
    const status = ok ? "delivered" : gone || givenUp ? "failed" : "pending";
    const nextAt = status === "pending" ? new Date(now.getTime() + backoff(attempts, this.settings.backoffBaseMs, this.settings.backoffCapMs)) : now;
    const error = result.error ?? (ok ? null : `the receiver answered ${result.status}`);
    const outcome = { status, attempts, nextAt, responseStatus: result.status, latencyMs: result.latencyMs, error, finishedAt: status === "pending" ? null : now } as const;
    if (!gone) {
      // Statements of their own, not a transaction: each commits without a sync (webhook-store.ts).
      await this.metadata.webhooks.attempted(delivery.id, outcome);
      if (status !== "pending") await this.metadata.webhooks.trim(hook.name, this.settings.keepDeliveries);
    } else {
      // 410 Gone: the receiver says it is not coming back. Disabled, with the audit line saying why, in one transaction.
      await this.metadata.transaction(async (tx) => {
        await tx.webhooks.attempted(delivery.id, outcome);
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
          detail: { webhook: hook.name, reason: "the receiver answered 410 Gone", delivery: delivery.id, url: hook.url },
        });
        await tx.webhooks.trim(hook.name, this.settings.keepDeliveries);
      });
    }
    if (!ok) this.logger.warn({ webhook: hook.name, delivery: delivery.id, attempts, status: result.status, error, next: status === "pending" ? nextAt : null }, gone ? "webhook disabled: its receiver answered 410" : "webhook delivery failed");
  }
}

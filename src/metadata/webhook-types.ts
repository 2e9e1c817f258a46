// Webhooks and their deliveries (migration 017): what the store keeps, as the services see it.

import type { WebhookFormat } from "../domain/events.ts";

export { WEBHOOK_FORMATS, type WebhookFormat } from "../domain/events.ts";

export interface Webhook {
  name: string;
  url: string;
  /** Event actions (domain/events.ts EVENT_ACTIONS) the webhook is sent. */
  actions: string[];
  /** Repository pattern, as scope maps write them (`*` every repository, `team/*`). */
  scope: string;
  /** Sent with every delivery. */
  headers: Record<string, string>;
  format: WebhookFormat;
  enabled: boolean;
  /** The HMAC key deliveries are signed with (kept as it is: signing needs it). */
  secret: string;
  createdAt: Date;
  updatedAt: Date;
}

export type DeliveryStatus = "pending" | "delivered" | "failed";

/**
 * One request a delivery went out as (migration 033), as GitHub's and ACR's "recent deliveries"
 * show them: when it was sent, the response status (null: none came), how long it took, the error.
 */
export interface DeliveryAttempt {
  at: Date;
  responseStatus: number | null;
  latencyMs: number | null;
  error: string | null;
}

/**
 * Attempts a delivery keeps, its newest: a receiver down for days (250 attempts at the cap) does not
 * grow its row past this.
 */
export const RECENT_ATTEMPTS = 10;

export interface Delivery {
  id: number;
  webhook: string;
  /** The event's id: the change log entry's. */
  eventId: number;
  action: string;
  createdAt: Date;
  status: DeliveryStatus;
  attempts: number;
  /** A pending delivery's next attempt. */
  nextAt: Date;
  requestHeaders: Record<string, string>;
  body: string;
  /** The last attempt's: response status (null: no response), latency, error. */
  responseStatus: number | null;
  latencyMs: number | null;
  error: string | null;
  finishedAt: Date | null;
  /**
   * Its newest requests, oldest first, at most RECENT_ATTEMPTS (a redelivery keeps them; deliveries
   * recorded before migration 033 start with none). A request whose answer did not count as a failed
   * attempt (a 410 from a URL the webhook no longer has) is here and not in `attempts`.
   */
  recentAttempts: DeliveryAttempt[];
}

export type NewDelivery = Pick<Delivery, "webhook" | "eventId" | "action" | "requestHeaders" | "body">;

/** An attempt's outcome: the delivery's new state; `recentAttempts` none: kept as they are (no request went out). */
export type AttemptOutcome = Pick<Delivery, "status" | "attempts" | "nextAt" | "responseStatus" | "latencyMs" | "error" | "finishedAt"> & { recentAttempts?: DeliveryAttempt[] };

/**
 * What an attempt sent, built from the webhook's row at its batch (webhook-worker.ts): the headers
 * (its signature aside) and the body when it was rendered anew (null: the delivery's own).
 */
export interface SentRequest {
  requestHeaders: Record<string, string>;
  body: string | null;
}

/** An attempt made on a leased delivery, recorded with the rest of its batch; `sent` replaces what the delivery shows it was sent with (none: not sent). */
export interface RecordedAttempt {
  id: number;
  outcome: AttemptOutcome;
  sent?: SentRequest;
}

export interface WebhookRows {
  /** False when a webhook of that name exists. */
  create(webhook: Webhook): Promise<boolean>;
  get(name: string): Promise<Webhook | null>;
  /**
   * The webhook as it is now, its row locked until the transaction ends (FOR UPDATE on PostgreSQL;
   * SQLite's one writer serializes anyway): a decision made from it (the 410 path's disable) is
   * neither overwritten by nor overwrites a change that committed meanwhile.
   */
  hold(name: string): Promise<Webhook | null>;
  list(): Promise<Webhook[]>;
  update(name: string, change: Partial<Omit<Webhook, "name" | "createdAt">>): Promise<boolean>;
  /**
   * The webhook and every delivery it had, in one transaction: its row first, so on PostgreSQL it
   * waits for a fan-out that share-locked the row (`queueable`), then the deliveries that fan-out queued.
   */
  delete(name: string): Promise<boolean>;
  /**
   * The enabled webhooks, for the fan-out that queues their deliveries in the same transaction: on
   * PostgreSQL their rows stay share-locked until it ends, so no webhook is deleted between this
   * read and the deliveries' insert (SQLite's one writer serializes the two anyway).
   */
  queueable(): Promise<Webhook[]>;
  /** Queues deliveries; one per (webhook, event) however often asked. */
  enqueue(deliveries: readonly NewDelivery[], at: Date): Promise<void>;
  /**
   * Webhooks owed a delivery that is due by `now`, enabled ones only; a delivery not yet tried
   * counts only once queued (due) by `firstBefore` (default `now`): the worker's batch delay.
   */
  due(now: Date, firstBefore?: Date): Promise<string[]>;
  /** The oldest pending delivery of a webhook (due or not): deliveries go in order. */
  head(webhook: string): Promise<Delivery | null>;
  /**
   * Takes the right to send a pending delivery until `until` (one statement): false when it is no
   * longer pending or another owner's lease still runs. The head of a webhook's queue is sent by
   * one sender at a time, so two instances never send a webhook's deliveries out of order.
   */
  lease(id: number, owner: string, now: Date, until: Date): Promise<boolean>;
  /**
   * Leases the webhook's oldest pending deliveries, oldest first, at most `limit`: up to (not
   * including) the first that is not due by `now` or whose lease another owner still holds, so what
   * it answers is always a prefix of the queue ([] when its head cannot be taken). One statement.
   */
  leaseDue(webhook: string, owner: string, now: Date, until: Date, limit: number): Promise<Delivery[]>;
  /** Records an attempt on a delivery (and frees its lease). */
  attempted(id: number, outcome: AttemptOutcome): Promise<void>;
  /**
   * A batch's bookkeeping at once: its attempts recorded (leases freed), the leases of the
   * deliveries it did not send (`release`, `owner`'s only) freed, and, when any finished, the
   * webhook trimmed to `keep` finished ones. One transaction (the caller's, when it runs in one).
   */
  record(webhook: string, owner: string, attempts: readonly RecordedAttempt[], release: readonly number[], keep: number): Promise<void>;
  /** Newest first. */
  deliveries(webhook: string, limit: number): Promise<Delivery[]>;
  delivery(webhook: string, id: number): Promise<Delivery | null>;
  /** Owes a finished delivery again, now (it goes before newer ones: the queue is by id). */
  redeliver(webhook: string, id: number, at: Date): Promise<boolean>;
  /** Drops finished deliveries beyond the newest `keep` of the webhook. */
  trim(webhook: string, keep: number): Promise<number>;
}

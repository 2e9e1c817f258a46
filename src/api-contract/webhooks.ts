// Webhooks and the event stream (docs/lifecycle.md): ACR's `az acr webhook` model, with Berth's
// payload formats and signed deliveries.
import { z } from "zod";
import { EVENT_ACTIONS, WEBHOOK_FORMATS } from "../domain/event-names.ts";
import { Time } from "./common.ts";

const Action = z.enum(EVENT_ACTIONS);
const Format = z.enum(WEBHOOK_FORMATS);
const Headers = z.record(z.string(), z.string());

export const WebhookView = z.strictObject({
  name: z.string(),
  url: z.string(),
  actions: z.array(Action),
  /** Repository pattern as scope maps write them: *, team/*, or a name. */
  scope: z.string(),
  headers: Headers,
  format: Format,
  enabled: z.boolean(),
  createdAt: Time,
  updatedAt: Time,
});
export const WebhookList = z.strictObject({ webhooks: z.array(WebhookView) });
export const NewWebhook = z.strictObject({
  name: z.string(),
  url: z.string(),
  actions: z.array(Action).min(1),
  scope: z.string().optional(),
  headers: Headers.optional(),
  format: Format.optional(),
  enabled: z.boolean().optional(),
});
/** The secret deliveries are signed with: shown here once. */
export const CreatedWebhook = WebhookView.extend({ secret: z.string() });
export const WebhookPatch = z.strictObject({
  url: z.string().optional(),
  actions: z.array(Action).min(1).optional(),
  scope: z.string().optional(),
  headers: Headers.optional(),
  format: Format.optional(),
  enabled: z.boolean().optional(),
  /** A new secret, shown once in the answer; the old one stops signing at once. */
  rotateSecret: z.boolean().optional(),
});
export const UpdatedWebhook = WebhookView.extend({ secret: z.string().optional() });

/** One request a delivery went out as: when it was sent, the response status (null: none came), its latency, its error. */
export const DeliveryAttemptView = z.strictObject({
  at: Time,
  responseStatus: z.number().int().nullable(),
  latencyMs: z.number().int().nullable(),
  error: z.string().nullable(),
});
export const DeliveryView = z.strictObject({
  id: z.number().int(),
  webhook: z.string(),
  /** The event's id (negative for a ping). */
  eventId: z.number().int(),
  action: z.string(),
  createdAt: Time,
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().int(),
  nextAt: Time,
  requestHeaders: Headers,
  body: z.string(),
  responseStatus: z.number().int().nullable(),
  latencyMs: z.number().int().nullable(),
  error: z.string().nullable(),
  finishedAt: Time.nullable(),
  /**
   * Its newest requests, oldest first, at most 10 (a redelivery keeps them). `attempts` counts the
   * failures toward webhooks.maxAttempts: a 410 from a URL the webhook no longer has is listed here only.
   */
  recentAttempts: z.array(DeliveryAttemptView),
});
export const DeliveryList = z.strictObject({ deliveries: z.array(DeliveryView) });
export const DeliveriesQuery = z.strictObject({ limit: z.coerce.number().int().positive().max(1000).optional() });

const Actor = z.strictObject({ name: z.string(), kind: z.string(), address: z.string().nullable(), userAgent: z.string().nullable(), requestId: z.string().nullable().optional() });
export const EventView = z.strictObject({
  id: z.number().int(),
  timestamp: Time,
  action: Action,
  actor: Actor.nullable(),
  target: z.strictObject({
    repository: z.string().optional(),
    digest: z.string().optional(),
    tag: z.string().optional(),
    mediaType: z.string().optional(),
    size: z.number().int().optional(),
    artifactType: z.string().optional(),
    subject: z.string().optional(),
    referrerKind: z.enum(["signature", "sbom", "attestation", "other"]).optional(),
    /** size: the chart archive's bytes (the .tgz), absent in events logged before Berth recorded it. */
    chart: z.strictObject({ name: z.string(), version: z.string().nullable(), storedAs: z.enum(["classic", "oci"]), size: z.number().int().optional() }).optional(),
    principal: z.string().optional(),
    scopeMap: z.string().optional(),
    attributes: z.strictObject({ tag: z.string() }).optional(),
    tagRule: z.string().optional(),
    quota: z.string().optional(),
    /** A refused write's (action policy_refused): why, which quota scope or tag rule id, and the message the client was given. */
    policy: z.strictObject({ reason: z.enum(["quota", "immutable"]), rule: z.string(), message: z.string() }).optional(),
    retentionPolicy: z.string().optional(),
    retention: z
      .strictObject({
        trigger: z.enum(["schedule", "demand"]),
        tagsDeleted: z.number().int(),
        manifestsDeleted: z.number().int(),
        skipped: z.number().int(),
        policies: z.array(z.strictObject({ id: z.string(), tagsDeleted: z.number().int(), manifestsDeleted: z.number().int(), skipped: z.number().int() })),
      })
      .optional(),
    audit: z.string().optional(),
    restored: z.literal(true).optional(),
    purged: z.literal(true).optional(),
  }),
});
/**
 * At most `limit` events of the asked action and repository, however far apart in the log (the
 * query selects them). `next`: the cursor to ask with for what follows: oldest first, the last
 * event's id (the `after` asked with when none followed it); newest first, the oldest event's id
 * when the page is full, else 0.
 */
export const EventList = z.strictObject({ events: z.array(EventView), next: z.number().int() });
export const EventsQuery = z.strictObject({
  after: z.coerce.number().int().nonnegative().optional(),
  /** newest: newest first, from `before` (or the newest); `next` is then the cursor for `before`, 0 when none are older. */
  order: z.enum(["oldest", "newest"]).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().positive().max(1000).optional(),
  action: Action.optional(),
  repository: z.string().optional(),
});

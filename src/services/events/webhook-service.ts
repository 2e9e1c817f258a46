// Webhooks as the API and the CLI manage them: validated, audited, the secret shown once (at
// create, and when rotated). The secret is kept as it is, not hashed: each delivery is signed
// with it (an HMAC needs the key), so the database holds it the way it holds the token-signing
// keys (docs/lifecycle.md).
import { randomBytes, randomUUID } from "node:crypto";
import { EVENT_ACTIONS, eventOf, sourcesOf, type EventAction, type RegistryEvent } from "../../domain/events.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { MetadataParts, MetadataStore } from "../../metadata/types.ts";
import { WEBHOOK_FORMATS, type Delivery, type Webhook, type WebhookFormat } from "../../metadata/webhook-types.ts";
import type { Actor } from "../identities/context.ts";
import { checkDestination } from "./destinations.ts";
import { render } from "./payloads.ts";
import { attempt } from "./delivery-request.ts";
import { delivered } from "./sender.ts";
import { deliveryHeaders, withAttempt, type DeliverySettings } from "./webhook-worker.ts";

export interface WebhookInput {
  url: string;
  actions: string[];
  scope?: string;
  headers?: Record<string, string>;
  format?: WebhookFormat;
  enabled?: boolean;
}

export type WebhookPatch = Partial<WebhookInput> & { rotateSecret?: boolean };

/** A webhook as shown: never its secret. */
export type WebhookView = Omit<Webhook, "secret">;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const SCOPE = /^(\*|[a-z0-9][a-z0-9._/-]*(\/\*)?)$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Set by Berth on every delivery: a custom header may not replace them. */
const RESERVED_HEADERS = new Set(["content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection"]);

function invalid(message: string, detail: Record<string, unknown> = {}): RegistryError {
  return new RegistryError("INVALID_REQUEST", message, detail);
}

function unknown(name: string): RegistryError {
  return new RegistryError("WEBHOOK_UNKNOWN", `no webhook named ${name}`, { name });
}

export function viewOf(webhook: Webhook): WebhookView {
  const { secret: _secret, ...view } = webhook;
  return view;
}

function checkActions(actions: readonly string[]): string[] {
  if (actions.length === 0) throw invalid(`name at least one action: ${EVENT_ACTIONS.join(", ")}`);
  for (const a of actions) if (!(EVENT_ACTIONS as readonly string[]).includes(a)) throw invalid(`unknown action ${a}: the actions are ${EVENT_ACTIONS.join(", ")}`, { action: a });
  return [...new Set(actions)];
}

function checkScope(scope: string): string {
  if (!SCOPE.test(scope) || scope.includes("//")) throw invalid(`scope ${scope} is not a repository pattern: *, a repository name, or team/* (as scope maps write them)`, { scope });
  return scope;
}

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) throw invalid(`not a header name: ${name} (a name is letters, digits and !#$%&'*+-.^_`+"`"+`|~, as RFC 9110 writes a token)`, { header: name });
    if (RESERVED_HEADERS.has(lower) || lower.startsWith("berth-")) throw invalid(`header ${name} is set by Berth on every delivery`, { header: name });
    // One line of visible ASCII, spaces and tabs: a value Node.js refuses would fail every delivery
    // (and ping) of the webhook, so it is refused here instead. Stricter than Node on purpose: it
    // also sends 0x80-0xFF (RFC 9110's obs-text), which receivers read as Latin-1 or UTF-8 at will.
    const bad = /[^\t\x20-\x7e]/.exec(value);
    if (bad) throw invalid(`header ${name}: its value may hold only visible ASCII characters, spaces and tabs, not U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`, { header: name });
    out[name] = value;
  }
  return out;
}

function checkFormat(format: string): WebhookFormat {
  if (!(WEBHOOK_FORMATS as readonly string[]).includes(format)) throw invalid(`unknown format ${format}: ${WEBHOOK_FORMATS.join(", ")}`, { format });
  return format as WebhookFormat;
}

/** Which events a page of the stream holds: of these actions (every one when absent), of this repository. */
export interface EventQuery {
  actions?: readonly EventAction[];
  repository?: string;
}

export class WebhookService {
  private readonly metadata: MetadataStore;
  private readonly settings: DeliverySettings;

  constructor(metadata: MetadataStore, settings: DeliverySettings) {
    this.metadata = metadata;
    this.settings = settings;
  }

  async create(name: string, input: WebhookInput, by: Actor): Promise<{ webhook: WebhookView; secret: string }> {
    if (!NAME.test(name)) throw invalid(`webhook name ${name}: letters, digits, - and _, at most 63, starting with a letter or digit`, { name });
    const now = new Date();
    const webhook: Webhook = {
      name,
      url: (await checkDestination(input.url, this.settings.policy)).href,
      actions: checkActions(input.actions),
      scope: checkScope(input.scope ?? "*"),
      headers: checkHeaders(input.headers ?? {}),
      format: checkFormat(input.format ?? "acr"),
      enabled: input.enabled ?? true,
      secret: newSecret(),
      createdAt: now,
      updatedAt: now,
    };
    await this.metadata.transaction(async (tx) => {
      if (!(await tx.webhooks.create(webhook))) throw new RegistryError("WEBHOOK_EXISTS", `a webhook named ${name} exists`, { name });
      await audit(tx, by, "webhook.created", { webhook: name, url: webhook.url, actions: webhook.actions, scope: webhook.scope, format: webhook.format, enabled: webhook.enabled });
    });
    return { webhook: viewOf(webhook), secret: webhook.secret };
  }

  async list(): Promise<WebhookView[]> {
    return (await this.metadata.webhooks.list()).map(viewOf);
  }

  async get(name: string): Promise<WebhookView> {
    return viewOf(await this.found(name));
  }

  async update(name: string, patch: WebhookPatch, by: Actor): Promise<{ webhook: WebhookView; secret: string | null }> {
    const existing = await this.found(name);
    const change: Partial<Webhook> = { updatedAt: new Date() };
    if (patch.url !== undefined) change.url = (await checkDestination(patch.url, this.settings.policy)).href;
    if (patch.actions !== undefined) change.actions = checkActions(patch.actions);
    if (patch.scope !== undefined) change.scope = checkScope(patch.scope);
    if (patch.headers !== undefined) change.headers = checkHeaders(patch.headers);
    if (patch.format !== undefined) change.format = checkFormat(patch.format);
    if (patch.enabled !== undefined) change.enabled = patch.enabled;
    const secret = patch.rotateSecret ? newSecret() : null;
    if (secret) change.secret = secret;
    await this.metadata.transaction(async (tx) => {
      if (!(await tx.webhooks.update(name, change))) throw unknown(name);
      const { secret: _secret, updatedAt: _at, ...shown } = change;
      await audit(tx, by, "webhook.updated", { webhook: name, ...shown, ...(secret && { secretRotated: true }) });
    });
    return { webhook: viewOf({ ...existing, ...change }), secret };
  }

  async delete(name: string, by: Actor): Promise<void> {
    await this.metadata.transaction(async (tx) => {
      if (!(await tx.webhooks.delete(name))) throw unknown(name);
      await audit(tx, by, "webhook.deleted", { webhook: name });
    });
  }

  /** Sends a ping event now, outside the queue, and keeps it with the deliveries. */
  async ping(name: string): Promise<Delivery> {
    const hook = await this.found(name);
    await checkDestination(hook.url, this.settings.policy);
    const now = new Date();
    // Pings are not events of the log: their ids are negative, so they never meet an event's.
    const event: RegistryEvent = { id: -now.getTime(), timestamp: now, action: "ping", actor: null, target: {} };
    const payload = render(event, hook.format, this.settings.source);
    const queued = { webhook: name, eventId: event.id, action: "ping", requestHeaders: deliveryHeaders(hook, payload.contentType), body: payload.body };
    await this.metadata.webhooks.enqueue([queued], now);
    const row = (await this.metadata.webhooks.deliveries(name, 20)).find((d) => d.eventId === event.id)!;
    // Taken at once, so the worker (which sends pending rows) leaves it to this call.
    if (!(await this.metadata.webhooks.lease(row.id, `ping:${randomUUID()}`, now, new Date(now.getTime() + this.settings.timeoutMs + 5_000)))) {
      throw new RegistryError("INVALID_REQUEST", `the delivery worker took ping ${row.id} first: see \`berth webhook deliveries ${name}\``, { name, id: row.id });
    }
    const result = await attempt(hook, row, this.settings);
    const ok = delivered(result);
    const finished = new Date();
    const error = result.error ?? (ok ? null : `the receiver answered ${result.status}`);
    const outcome = { status: ok ? ("delivered" as const) : ("failed" as const), attempts: 1, nextAt: finished, responseStatus: result.status, latencyMs: result.latencyMs, error, finishedAt: finished, recentAttempts: withAttempt([], finished, result, error) };
    await this.metadata.webhooks.attempted(row.id, outcome);
    await this.metadata.webhooks.trim(name, this.settings.keepDeliveries);
    return { ...row, ...outcome };
  }

  async deliveries(name: string, limit: number): Promise<Delivery[]> {
    await this.found(name);
    return this.metadata.webhooks.deliveries(name, limit);
  }

  /** Owes a finished delivery again: it goes before the webhook's newer pending ones. */
  async redeliver(name: string, id: number, by: Actor): Promise<Delivery> {
    await this.found(name);
    return this.metadata.transaction(async (tx) => {
      const delivery = await tx.webhooks.delivery(name, id);
      if (!delivery) throw new RegistryError("WEBHOOK_UNKNOWN", `webhook ${name} has no delivery ${id} (only the newest ${this.settings.keepDeliveries} are kept)`, { name, id });
      if (delivery.status === "pending") throw new RegistryError("INVALID_REQUEST", `delivery ${id} is still pending: it is sent at its next attempt`, { name, id });
      await tx.webhooks.redeliver(name, id, new Date());
      await audit(tx, by, "webhook.redelivered", { webhook: name, delivery: id, event: delivery.eventId });
      return (await tx.webhooks.delivery(name, id))!;
    });
  }

  /**
   * The event stream from a cursor, oldest first: at most `limit` events after it, of these actions
   * (all when none) and this repository, selected by the query however rare they are; `next` is the
   * last one's id (the cursor itself when none follow).
   */
  async events(after: number, limit: number, only: EventQuery = {}): Promise<{ events: RegistryEvent[]; next: number }> {
    const events = await this.selected(only, { after }, limit);
    return { events, next: events.at(-1)?.id ?? after };
  }

  /** The event stream backwards: events before the cursor (from the newest when null); `next` is the oldest one's id, 0 when none are older. */
  async newest(before: number | null, limit: number, only: EventQuery = {}): Promise<{ events: RegistryEvent[]; next: number }> {
    const events = await this.selected(only, { before }, limit);
    return { events, next: events.length < limit ? 0 : events.at(-1)!.id };
  }

  private async selected(only: EventQuery, from: { after: number } | { before: number | null }, limit: number): Promise<RegistryEvent[]> {
    const entries = await this.metadata.changes.events({ sources: sourcesOf(only.actions), ...(only.repository !== undefined && { repository: only.repository }) }, from, limit);
    return entries.map(eventOf).filter((e) => e !== null);
  }

  private async found(name: string): Promise<Webhook> {
    const hook = await this.metadata.webhooks.get(name);
    if (!hook) throw unknown(name);
    return hook;
  }
}

function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

async function audit(tx: MetadataParts, by: Actor, event: string, detail: Record<string, unknown>): Promise<void> {
  const at = new Date();
  await tx.audit.append({ id: `${at.getTime().toString(36)}-${randomUUID()}`, at, event, identity: by.identity, action: event.slice("webhook.".length), repository: null, outcome: "success", client: by.client, detail });
}

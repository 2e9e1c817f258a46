// One delivery's request as it goes out: signed at the moment it is sent (the timestamp is inside
// the signature), over the webhook's kept-alive connection. Shared by the delivery thread
// (send-thread-body.ts), which makes the worker's requests, and by ping and redeliver, which
// send on the calling thread.
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Delivery, Webhook } from "../../metadata/webhook-types.ts";
import type { DestinationPolicy } from "./destinations.ts";
import { send, type SendResult } from "./sender.ts";
import { signature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "./signature.ts";

/** Idle kept-alive connections close after this: before the 5 s a Node.js receiver keeps them by default, so a reused one is rarely one the receiver is closing. */
const IDLE_CONNECTION_MS = 4_000;

export type AttemptTarget = Pick<Webhook, "url" | "secret">;
export type AttemptDelivery = Pick<Delivery, "id" | "eventId" | "requestHeaders" | "body">;

/** Signs and sends one delivery as it is kept (over `agent`'s kept-alive connections when given; every new one is checked by the destination policy). */
export function attempt(webhook: AttemptTarget, delivery: AttemptDelivery, settings: { timeoutMs: number; policy: DestinationPolicy; signal?: AbortSignal }, agent?: HttpAgent): Promise<SendResult> {
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    ...delivery.requestHeaders,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signature(webhook.secret, timestamp, delivery.body),
    "berth-delivery": String(delivery.id),
    "berth-event": String(delivery.eventId),
  };
  return send(webhook.url, headers, delivery.body, { timeoutMs: settings.timeoutMs, policy: settings.policy, agent, ...(settings.signal && { signal: settings.signal }) });
}

/** A webhook's kept-alive connections: one at a time (its deliveries go one at a time). */
export function agentFor(url: string): HttpAgent {
  const options = { keepAlive: true, maxSockets: 1, timeout: IDLE_CONNECTION_MS };
  return url.startsWith("https:") ? new HttpsAgent(options) : new HttpAgent(options);
}

/** Each webhook's kept-alive connections, by name, made anew when its URL's scheme changes. */
export class WebhookAgents {
  private readonly agents = new Map<string, { https: boolean; agent: HttpAgent }>();

  get(name: string, url: string): HttpAgent {
    const https = url.startsWith("https:");
    const kept = this.agents.get(name);
    if (kept?.https === https) return kept.agent;
    kept?.agent.destroy();
    const agent = agentFor(url);
    this.agents.set(name, { https, agent });
    return agent;
  }

  drop(name: string): void {
    this.agents.get(name)?.agent.destroy();
    this.agents.delete(name);
  }

  clear(): void {
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

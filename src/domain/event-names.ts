// The event actions and webhook payload formats by name, apart from events.ts so the API contract
// (which the portal compiles for the browser) can name them without the chart rules' Node types.

/** What webhooks subscribe to (docs/lifecycle.md lists each with its target fields). */
export const EVENT_ACTIONS = ["push", "delete", "chart_push", "chart_delete", "referrer", "identity", "policy_refused", "retention"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** The payload formats a webhook can send (services/events/payloads.ts). */
export const WEBHOOK_FORMATS = ["acr", "distribution", "cloudevents"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

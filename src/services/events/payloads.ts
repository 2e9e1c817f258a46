// An event as each webhook format carries it (docs/lifecycle.md shows one of each):
//   acr           Azure Container Registry's webhook JSON ({id, timestamp, action, target, request})
//   distribution  the CNCF distribution registry's notification envelope ({events: [event]}), as
//                 application/vnd.docker.distribution.events.v1+json; its actions are push and
//                 delete, so a chart's or a referrer's event goes as push/delete, with Berth's own
//                 action in `berth.action`; identity and retention events keep their name
//   cloudevents   CloudEvents 1.0, structured JSON mode (application/cloudevents+json)
// One event per delivery in every format: deliveries are retried and kept one event at a time.
import { randomUUID } from "node:crypto";
import type { RegistryEvent } from "../../domain/events.ts";
import type { WebhookFormat } from "../../metadata/webhook-types.ts";

/** The registry the events come from. */
export interface EventSource {
  /** host[:port] clients reach Berth at. */
  host: string;
  /** Base URL (http.publicUrl), or null when not configured. */
  url: string | null;
}

export const DISTRIBUTION_EVENTS = "application/vnd.docker.distribution.events.v1+json";
export const CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8";
export const CLOUDEVENT_TYPE_PREFIX = "io.berth.registry.";

export interface Payload {
  contentType: string;
  body: string;
}

/** The HTTP request that made the change, as ACR's and distribution's `request` names it. */
function methodOf(event: RegistryEvent): string {
  if (event.action === "ping") return "POST";
  if (event.action === "delete" || event.action === "chart_delete") return "DELETE";
  return event.action === "identity" || event.action === "retention" ? "POST" : "PUT";
}

/**
 * distribution's SourceRecord.InstanceID: "identifies a running instance of an application.
 * Changes after each restart" (notifications/event.go); a receiver can tell restarts apart by it.
 */
const INSTANCE_ID = randomUUID();

function request(event: RegistryEvent, source: EventSource) {
  return {
    id: event.actor?.requestId ?? "",
    // distribution leaves addr out when it has none (omitempty), rather than sending "".
    ...(event.actor?.address && { addr: event.actor.address }),
    host: source.host,
    method: methodOf(event),
    useragent: event.actor?.userAgent ?? "",
  };
}

/**
 * The mediaType ACR's chart_push and chart_delete targets carry (its webhook reference, "Chart push
 * event"): the chart package's, whichever way Berth stored it.
 */
export const ACR_HELM_CHART = "application/vnd.acr.helm.chart";

/**
 * A chart event's target as ACR's reference lists it: mediaType, size, digest, repository, tag,
 * name, version, and no `length` (its chart target has none). The content is the chart archive
 * (the .tgz ACR received and `helm pull` fetches), as in ACR's example: `size` and `digest` are the
 * archive's, `tag` its file name (`wordpress-5.4.0.tgz`). Events logged before Berth recorded the
 * archive name the manifest's digest and its tag (`berth.chart` and the other formats always do).
 */
function acrChartTarget(t: RegistryEvent["target"], chart: NonNullable<RegistryEvent["target"]["chart"]>): Record<string, unknown> {
  const target: Record<string, unknown> = { mediaType: ACR_HELM_CHART };
  if (chart.size !== undefined) target.size = chart.size;
  const digest = chart.archive ?? t.digest;
  if (digest) target.digest = digest;
  if (t.repository) target.repository = t.repository;
  const tag = chart.archive !== undefined && chart.version ? `${chart.name}-${chart.version}.tgz` : t.tag;
  if (tag) target.tag = tag;
  target.name = chart.name;
  if (chart.version) target.version = chart.version;
  return target;
}

function acr(event: RegistryEvent, source: EventSource): object {
  const t = event.target;
  const target = t.chart ? acrChartTarget(t, t.chart) : descriptorTarget(t);
  if (!t.chart && t.tag) target.tag = t.tag;
  const { id, host, method, useragent } = request(event, source);
  return {
    id: String(event.id),
    timestamp: event.timestamp.toISOString(),
    action: event.action,
    target,
    request: { id, host, method, useragent },
    // Berth's additions, beside ACR's fields: who, and what ACR's target has no field for.
    actor: event.actor ? { name: event.actor.name, kind: event.actor.kind } : {},
    berth: extras(event),
  };
}

/** The target's descriptor fields, as ACR's and distribution's payloads both name them (length: size again, as distribution sends it). */
function descriptorTarget(t: RegistryEvent["target"]): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  if (t.mediaType) target.mediaType = t.mediaType;
  if (t.size !== undefined) target.size = t.size;
  if (t.digest) target.digest = t.digest;
  if (t.size !== undefined) target.length = t.size;
  if (t.repository) target.repository = t.repository;
  return target;
}

/** What a format has no field for: stored-as, referrer subject and kind, audit link. */
function extras(event: RegistryEvent): Record<string, unknown> {
  const t = event.target;
  return {
    action: event.action,
    ...(t.chart && { chart: t.chart }),
    ...(t.subject && { subject: t.subject, referrerKind: t.referrerKind, artifactType: t.artifactType }),
    ...(t.principal && { principal: t.principal }),
    ...(t.scopeMap && { scopeMap: t.scopeMap }),
    ...(t.attributes && { repository: t.repository, attributes: t.attributes }),
    ...(t.tagRule && { tagRule: t.tagRule }),
    ...(t.quota && { quota: t.quota }),
    ...(t.policy && { policy: t.policy }),
    ...(t.retentionPolicy && { retentionPolicy: t.retentionPolicy }),
    ...(t.retention && { retention: t.retention }),
    ...(t.audit && { audit: t.audit }),
    ...(t.restored && { restored: true }),
    ...(t.purged && { purged: true }),
  };
}

function distributionAction(event: RegistryEvent): string {
  switch (event.action) {
    case "push":
    case "referrer":
    case "chart_push":
      return "push";
    case "delete":
    case "chart_delete":
      return "delete";
    default:
      return event.action;
  }
}

function distribution(event: RegistryEvent, source: EventSource): object {
  const t = event.target;
  const target = descriptorTarget(t);
  if (source.url && t.repository && t.digest) target.url = `${source.url.replace(/\/$/, "")}/v2/${t.repository}/manifests/${t.digest}`;
  if (t.tag) target.tag = t.tag;
  return {
    events: [
      {
        id: String(event.id),
        timestamp: event.timestamp.toISOString(),
        action: distributionAction(event),
        target,
        request: request(event, source),
        actor: event.actor ? { name: event.actor.name } : {},
        source: { addr: source.host, instanceID: INSTANCE_ID },
        berth: extras(event),
      },
    ],
  };
}

/** `repository:tag`, `repository@digest`, or what an identity event concerns. */
function subjectOf(event: RegistryEvent): string | undefined {
  const t = event.target;
  if (t.repository && t.tag) return `${t.repository}:${t.tag}`;
  if (t.repository && t.digest) return `${t.repository}@${t.digest}`;
  return t.repository ?? t.principal ?? t.scopeMap;
}

function cloudEvent(event: RegistryEvent, source: EventSource): object {
  const subject = subjectOf(event);
  return {
    specversion: "1.0",
    id: String(event.id),
    source: source.url ?? `//${source.host}`,
    type: `${CLOUDEVENT_TYPE_PREFIX}${event.action}`,
    time: event.timestamp.toISOString(),
    ...(subject !== undefined && { subject }),
    datacontenttype: "application/json",
    data: { action: event.action, target: event.target, actor: event.actor },
  };
}

/** Each format's content type: one per format, so a kept delivery's content type says which format its body is in. */
export const CONTENT_TYPES = { acr: "application/json", distribution: DISTRIBUTION_EVENTS, cloudevents: CLOUDEVENTS_JSON } as const satisfies Record<WebhookFormat, string>;

export function render(event: RegistryEvent, format: WebhookFormat, source: EventSource): Payload {
  const contentType = CONTENT_TYPES[format];
  switch (format) {
    case "acr":
      return { contentType, body: JSON.stringify(acr(event, source)) };
    case "distribution":
      return { contentType, body: JSON.stringify(distribution(event, source)) };
    case "cloudevents":
      return { contentType, body: JSON.stringify(cloudEvent(event, source)) };
  }
}

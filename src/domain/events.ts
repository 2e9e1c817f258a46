// The event stream: each change log entry (changes.ts), read with the actor recorded beside it,
// is an event. Nothing else records events, so an event exists if and only if its change
// committed. Changes that are Berth's own bookkeeping (blob links, signing keys) are not events.
import type { ChangeActor, ChangeEntry, ChangeKind, RetentionSummary } from "./changes.ts";
import { versionToTag } from "./chart.ts";
import { referrerKindOf, type ReferrerKind } from "./referrers.ts";

import { EVENT_ACTIONS, type EventAction } from "./event-names.ts";

export { EVENT_ACTIONS, WEBHOOK_FORMATS, type EventAction, type WebhookFormat } from "./event-names.ts";

export interface EventTarget {
  repository?: string;
  digest?: string;
  tag?: string;
  mediaType?: string;
  size?: number;
  /** A referrer's: its artifactType, what it refers to, and its kind as the artifactType tells. */
  artifactType?: string;
  subject?: string;
  referrerKind?: ReferrerKind;
  /**
   * A chart's: name, version, which way it was stored, and its archive's bytes and digest (the
   * .tgz; none in events logged before Berth recorded them).
   */
  chart?: { name: string; version: string | null; storedAs: "classic" | "oci"; size?: number; archive?: string };
  /** An identity change's: the principal id or scope map name, and the audit line that records it. */
  principal?: string;
  scopeMap?: string;
  attributes?: { tag: string };
  /** A tag immutability rule's id (created or removed). */
  tagRule?: string;
  /** A storage quota's scope (set or removed). */
  quota?: string;
  /** A retention policy's id (created or removed). */
  retentionPolicy?: string;
  /** A retention run's: how it was started, and what it deleted and skipped. */
  retention?: RetentionSummary & { trigger: "schedule" | "demand" };
  audit?: string;
  /** A push that was a restore of deleted content (soft delete), not a client's push. */
  restored?: true;
  /** A delete that forgot deleted content kept restorable (soft delete's purge): it can no longer be restored. */
  purged?: true;
  /** A refused write's: why (a quota or an immutable tag), which quota or tag rule, and the client's message. */
  policy?: { reason: "quota" | "immutable"; rule: string; message: string };
}

export interface RegistryEvent {
  /** The change log entry's id: increasing in commit order, so also the order deliveries keep. */
  id: number;
  timestamp: Date;
  /** `ping`: what `berth webhook ping` sends, never from the log. */
  action: EventAction | "ping";
  actor: ChangeActor | null;
  target: EventTarget;
}

/**
 * Which change log entries an action's events come from, so the store can select them in its query
 * (a page of `?action=` holds `limit` of them, however rare): a kind, and for `manifest.pushed`, the
 * one kind that is two actions, whether the entry names a subject (a referrer) or not (a push).
 * eventOf below decides the same way; test/unit/event-sources.test.ts holds the two together.
 */
export interface ChangeSelector {
  kind: ChangeKind;
  referrer?: boolean;
}

export const EVENT_SOURCES: Readonly<Record<EventAction, readonly ChangeSelector[]>> = {
  push: [{ kind: "manifest.pushed", referrer: false }],
  referrer: [{ kind: "manifest.pushed", referrer: true }],
  delete: [{ kind: "tag.deleted" }, { kind: "manifest.deleted" }, { kind: "deleted.purged" }],
  chart_push: [{ kind: "chart.recorded" }],
  chart_delete: [{ kind: "chart.forgotten" }],
  identity: [{ kind: "identity.changed" }, { kind: "attributes.changed" }, { kind: "tag-rules.changed" }, { kind: "quotas.changed" }, { kind: "retention-policies.changed" }],
  policy_refused: [{ kind: "policy.refused" }],
  retention: [{ kind: "retention.ran" }],
};

/** The entries whose events are of these actions (every action when none are named): one selector per kind, pushes and referrers together when both are asked for. */
export function sourcesOf(actions: readonly EventAction[] = EVENT_ACTIONS): ChangeSelector[] {
  const selected = new Map<ChangeKind, ChangeSelector>();
  for (const source of [...new Set(actions)].flatMap((a) => EVENT_SOURCES[a])) {
    const seen = selected.get(source.kind);
    selected.set(source.kind, seen && seen.referrer !== source.referrer ? { kind: source.kind } : source);
  }
  return [...selected.values()];
}

/** A deleted manifest's media type and size, when its entry recorded them. */
function described(c: { mediaType?: string; size?: number }): Pick<EventTarget, "mediaType" | "size"> {
  return { ...(c.mediaType !== undefined && { mediaType: c.mediaType }), ...(c.size !== undefined && { size: c.size }) };
}

/** The event a change log entry is, or null for Berth's own bookkeeping. */
export function eventOf(entry: ChangeEntry): RegistryEvent | null {
  const c = entry.change;
  const event = (action: EventAction, target: EventTarget): RegistryEvent => ({ id: entry.id, timestamp: entry.at, action, actor: entry.actor ?? null, target });
  switch (c.kind) {
    case "manifest.pushed": {
      const target: EventTarget = { repository: c.repository, digest: c.digest, mediaType: c.mediaType, size: c.size };
      if (c.tag) target.tag = c.tag;
      if (c.artifactType) target.artifactType = c.artifactType;
      if (c.restored) target.restored = true;
      if (!c.subject) return event("push", target);
      return event("referrer", { ...target, subject: c.subject, referrerKind: referrerKindOf(c.artifactType) });
    }
    case "tag.deleted":
      return event("delete", { repository: c.repository, tag: c.tag, ...(c.digest && { digest: c.digest }), ...described(c) });
    case "manifest.deleted":
      return event("delete", { repository: c.repository, digest: c.digest, ...described(c) });
    case "deleted.purged":
      // A delete of what the trash kept, marked, as a restore is a push marked restored: a
      // webhook on deletes learns that the content is gone for good. The first tag, as a push names one.
      return event("delete", { repository: c.repository, digest: c.digest, ...(c.tags[0] !== undefined && { tag: c.tags[0] }), purged: true });
    case "chart.recorded":
    case "chart.forgotten": {
      const name = c.repository.slice(c.repository.lastIndexOf("/") + 1);
      const target: EventTarget = { repository: c.repository, chart: { name, version: c.version, storedAs: c.storedAs ?? "oci", ...(c.size !== undefined && { size: c.size }), ...(c.archive !== undefined && { archive: c.archive }) } };
      if (c.digest) target.digest = c.digest;
      if (c.version) target.tag = versionToTag(c.version);
      return event(c.kind === "chart.recorded" ? "chart_push" : "chart_delete", target);
    }
    case "identity.changed":
      return event("identity", { ...(c.principal && { principal: c.principal }), ...(c.scopeMap && { scopeMap: c.scopeMap }), ...(c.audit && { audit: c.audit }) });
    case "attributes.changed":
      return event("identity", { repository: c.repository, attributes: { tag: c.tag }, ...(c.audit && { audit: c.audit }) });
    case "tag-rules.changed":
      // A policy change, audited as identity changes are: the audit line has the rule's details.
      return event("identity", { tagRule: c.id, ...(c.audit && { audit: c.audit }) });
    case "quotas.changed":
      return event("identity", { quota: c.scope, ...(c.audit && { audit: c.audit }) });
    case "policy.refused": {
      const target: EventTarget = { repository: c.repository, policy: { reason: c.reason, rule: c.rule, message: c.message } };
      if (c.reference?.includes(":")) target.digest = c.reference;
      else if (c.reference) target.tag = c.reference;
      return event("policy_refused", target);
    }
    case "retention-policies.changed":
      return event("identity", { retentionPolicy: c.id, ...(c.audit && { audit: c.audit }) });
    case "retention.ran":
      return event("retention", { retention: { trigger: c.trigger, ...c.summary } });
    case "tag.set":
      // Every manifest PUT appends manifest.pushed naming its tag: that is the push event.
      return null;
    case "blob.linked":
    case "blob.unlinked":
    case "signing-key.added":
      return null;
  }
}

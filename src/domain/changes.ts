// What changed in the registry, as the change log records it: one entry per change, appended in
// the transaction that made it, so a change is recorded if and only if it commits. Caches (the
// chart index, attributes, remembered sign-ins, signing keys) and, later, webhooks read the log;
// several processes over one database learn of each other's changes the same way.
export type Change =
  /**
   * `tag`: the tag the manifest was put under (null: by digest); `artifactType` and `subject`: a
   * referrer's (the fields are absent in entries written before migration 017). `restored`: put
   * back from the trash by `berth repository restore` (soft delete), not pushed by a client.
   */
  | { kind: "manifest.pushed"; repository: string; digest: string; mediaType: string; size: number; tag?: string | null; artifactType?: string | null; subject?: string | null; restored?: true }
  /** `mediaType`, `size`: the deleted manifest's, for the events (ACR's delete payload names them; absent in older entries). */
  | { kind: "manifest.deleted"; repository: string; digest: string; mediaType?: string; size?: number }
  /** `previous`: the digest the tag pointed at before, or null for a new tag. */
  | { kind: "tag.set"; repository: string; tag: string; digest: string; previous: string | null }
  /** `digest`: the manifest the tag pointed at; `mediaType`, `size`: that manifest's (absent in older entries). */
  | { kind: "tag.deleted"; repository: string; tag: string; digest?: string; mediaType?: string; size?: number }
  /**
   * Deleted content kept restorable (soft delete) forgotten before its window ended, by `berth
   * repository deleted purge`: `tags`, those deleted with it. (Records that expire are not changes.)
   */
  | { kind: "deleted.purged"; repository: string; digest: string; tags: string[] }
  | { kind: "blob.linked"; repository: string; digest: string }
  | { kind: "blob.unlinked"; repository: string; digest: string }
  /**
   * `storedAs`: which way the chart came (classic API or OCI); `digest`: its manifest; `size` and
   * `archive`: its archive's bytes and digest (the .tgz; entries logged before Berth recorded them
   * have none).
   */
  | { kind: "chart.recorded"; repository: string; version: string; digest?: string; storedAs?: "classic" | "oci"; size?: number; archive?: string }
  | { kind: "chart.forgotten"; repository: string; version: string | null; digest?: string; storedAs?: "classic" | "oci"; size?: number; archive?: string }
  /** A principal, its secrets or a scope map changed: sign-ins remembered anywhere are stale. */
  /** `audit`: the id of the audit line that records the change (auth/audit.ts). */
  | { kind: "identity.changed"; principal: string | null; scopeMap: string | null; audit?: string }
  | { kind: "attributes.changed"; repository: string; tag: string; audit?: string }
  /** A tag immutability rule was created or removed (domain/tag-rules.ts). */
  | { kind: "tag-rules.changed"; id: string; audit?: string }
  /** A storage quota was set or removed (domain/quotas.ts). */
  | { kind: "quotas.changed"; scope: string; audit?: string }
  /**
   * A write a policy refused (errors.ts PolicyRefusal): appended in a transaction of its own after
   * the refused one rolled back, at most one per repository and reason every few seconds.
   */
  | { kind: "policy.refused"; repository: string; reason: "quota" | "immutable"; rule: string; reference: string | null; message: string }
  /** A retention policy was created or removed (domain/retention.ts). */
  | { kind: "retention-policies.changed"; id: string; audit?: string }
  /** A retention run (not a dry run) ended: what it deleted and skipped, per policy (services/retention.ts). */
  | { kind: "retention.ran"; trigger: "schedule" | "demand"; summary: RetentionSummary }
  | { kind: "signing-key.added"; kid: string };

/** What a retention run did, in total and per policy (the event's target). */
export interface RetentionSummary {
  tagsDeleted: number;
  manifestsDeleted: number;
  skipped: number;
  policies: { id: string; tagsDeleted: number; manifestsDeleted: number; skipped: number }[];
}

export type ChangeKind = Change["kind"];

/**
 * Who made a change, as the request that made it showed them (recorded with the change, in its
 * transaction): the identity's name and kind, the client's address and user agent. Changes made
 * by Berth itself (gc, the CLI on the store) name kind "system".
 */
export interface ChangeActor {
  name: string;
  kind: string;
  address: string | null;
  userAgent: string | null;
  /** The HTTP request's id (the access log's `reqId`). */
  requestId?: string | null;
}

/** A change as the log holds it: `id` orders the log and is the cursor readers keep. */
export interface ChangeEntry {
  id: number;
  at: Date;
  change: Change;
  /** Null for entries written before migration 017 and for changes no request made. */
  actor?: ChangeActor | null;
}

/** The repository a change concerns, if any (stored beside it, for consumers that filter by repository). */
export function repositoryOf(change: Change): string | null {
  return "repository" in change ? change.repository : null;
}

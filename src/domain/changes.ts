// What changed in the registry, as the change log records it: one entry per change, appended in
// the transaction that made it, so a change is recorded if and only if it commits. Caches (the
// chart index, attributes, remembered sign-ins, signing keys) and, later, webhooks read the log;
// several processes over one database learn of each other's changes the same way.
export type Change =
  | { kind: "manifest.pushed"; repository: string; digest: string; mediaType: string; size: number }
  | { kind: "manifest.deleted"; repository: string; digest: string }
  /** `previous`: the digest the tag pointed at before, or null for a new tag. */
  | { kind: "tag.set"; repository: string; tag: string; digest: string; previous: string | null }
  | { kind: "tag.deleted"; repository: string; tag: string }
  | { kind: "blob.linked"; repository: string; digest: string }
  | { kind: "blob.unlinked"; repository: string; digest: string }
  | { kind: "chart.recorded"; repository: string; version: string }
  | { kind: "chart.forgotten"; repository: string; version: string | null }
  /** A principal, its secrets or a scope map changed: sign-ins remembered anywhere are stale. */
  | { kind: "identity.changed"; principal: string | null; scopeMap: string | null }
  | { kind: "attributes.changed"; repository: string; tag: string }
  /** A tag immutability rule was created or removed (domain/tag-rules.ts). */
  | { kind: "tag-rules.changed"; id: string }
  | { kind: "signing-key.added"; kid: string };

export type ChangeKind = Change["kind"];

/** A change as the log holds it: `id` orders the log and is the cursor readers keep. */
export interface ChangeEntry {
  id: number;
  at: Date;
  change: Change;
}

/** The repository a change concerns, if any (stored beside it, for consumers that filter by repository). */
export function repositoryOf(change: Change): string | null {
  return "repository" in change ? change.repository : null;
}

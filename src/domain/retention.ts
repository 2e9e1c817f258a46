// Retention policies (issue 17, docs/lifecycle.md#retention): per repository pattern, delete
// untagged manifests older than N days (ACR's retention policy) or keep only the newest N tags
// matching a pattern (Harbor's tag retention). This file is the planner: one pure function that
// says what goes and why, item by item. The dry run prints its plan; the real run executes the
// same plan through ManifestService's deletes (services/retention.ts).
//
//   1. tags: for each keep-newest policy, the tags its pattern matches, newest push first (ties:
//      the later name counts as newer); those past its count are dropped by it. A tag goes when
//      some policy drops it and no policy keeps it (keeping wins, as Harbor ORs its retain rules).
//      A tag whose delete would be refused (immutable, delete-locked) stays: a skipped item.
//   2. manifests, to a fixed point, over the tags that stay: a manifest goes when
//        - no tag points at it,
//        - no manifest that stays lists it as a child (an index's children live with the index),
//        - and either its subject goes (a referrer goes with its subject, whatever its age),
//          or it is no referrer of a manifest that stays and an untagged policy's age has passed
//          (its last push, a push of the same bytes included: not when it lost its tag),
//          and never within the grace period of its push (retention.gracePeriod): a multi-platform
//          push sends its children, untagged, before the index that names them, as gc's grace
//          period allows for blobs; `untaggedDays: 0` would otherwise delete a child mid-push.
//      A manifest whose delete would be refused stays, with everything it keeps; then again.
//   3. order: tags first, then each manifest after its parents and its subject, so a failed
//      delete at run time skips exactly what depended on it.
import { tagMatches } from "./tag-rules.ts";
import { matchesPattern } from "./names.ts";

export interface RetentionPolicy {
  id: string;
  /** Repositories, as scope maps name them: team/app, team/*, or *. */
  repository: string;
  /** Untagged manifests pushed at least this many days ago go (0: any untagged manifest). */
  untaggedDays: number | null;
  /** Of the tags `tags` matches, only this many, the newest pushed, stay. */
  keepNewest: number | null;
  /** The keep-newest policy's tag pattern (a glob or "semver"); null for an untagged policy. */
  tags: string | null;
  created: Date;
  createdBy: string;
}

/** What the planner reads of one repository. */
export interface RepositoryInventory {
  repository: string;
  manifests: readonly { digest: string; pushed: Date; subject: string | null; children: readonly string[] }[];
  tags: readonly { tag: string; digest: string; pushed: Date }[];
}

/** One thing a run deletes, or would and may not (`protected`: why, as the delete's refusal says). */
export interface RetentionItem {
  repository: string;
  /** Present for a tag; a manifest item has the digest only. */
  tag?: string;
  digest: string;
  policy: string;
  reason: string;
  protected?: string;
}

/** Why a delete would be refused now (a tag rule, a delete lock), or null when it may go. */
export type Refusal = (target: { tag: string } | { digest: string }) => Promise<string | null>;

const DAY_MS = 86_400_000;

export function policiesFor(policies: readonly RetentionPolicy[], repository: string): RetentionPolicy[] {
  return policies.filter((p) => matchesPattern(p.repository, repository));
}

/** The plan for one repository under the policies that match it, in execution order. */
export async function planRepository(inventory: RepositoryInventory, policies: readonly RetentionPolicy[], now: Date, refusal: Refusal, graceMs = 0): Promise<RetentionItem[]> {
  const repository = inventory.repository;
  const items: RetentionItem[] = [];
  const remaining = new Map(inventory.tags.map((t) => [t.tag, t]));

  for (const drop of tagsToDrop(inventory, policies)) {
    const why = await refusal({ tag: drop.tag });
    items.push({ repository, tag: drop.tag, digest: drop.digest, policy: drop.policy, reason: drop.reason, ...(why !== null && { protected: why }) });
    if (why === null) remaining.delete(drop.tag);
  }

  const untagged = policies.filter((p) => p.untaggedDays !== null).sort((a, b) => a.untaggedDays! - b.untaggedDays!);
  if (untagged.length === 0) return items;
  const tagged = new Set([...remaining.values()].map((t) => t.digest));
  const stays = new Map<string, { why: string; drop: Drop }>(); // refused: stays, with what it keeps
  const checked = new Map<string, string | null>();
  for (;;) {
    const going = manifestsToDrop(inventory, tagged, stays, untagged, now, graceMs);
    let refused = false;
    for (const [digest, drop] of going) {
      if (!checked.has(digest)) checked.set(digest, await refusal({ digest }));
      const why = checked.get(digest)!;
      if (why === null) continue;
      stays.set(digest, { why, drop });
      refused = true;
    }
    if (refused) continue;
    for (const [digest, drop] of executionOrder(inventory, going)) items.push({ repository, digest, policy: drop.policy, reason: drop.reason });
    for (const [digest, { why, drop }] of stays) items.push({ repository, digest, policy: drop.policy, reason: drop.reason, protected: why });
    return items;
  }
}

interface Drop {
  policy: string;
  reason: string;
}

/** Step 1: the tags keep-newest policies drop, oldest first. */
function tagsToDrop(inventory: RepositoryInventory, policies: readonly RetentionPolicy[]): { tag: string; digest: string; policy: string; reason: string }[] {
  const newestFirst = [...inventory.tags].sort((a, b) => b.pushed.getTime() - a.pushed.getTime() || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0));
  const kept = new Set<string>();
  const dropped = new Map<string, Drop>();
  for (const policy of policies) {
    if (policy.keepNewest === null) continue;
    const pattern = policy.tags ?? "*";
    const matching = newestFirst.filter((t) => tagMatches(pattern, t.tag));
    matching.forEach((t, i) => {
      if (i < policy.keepNewest!) kept.add(t.tag);
      else if (!dropped.has(t.tag)) dropped.set(t.tag, { policy: policy.id, reason: `tag ${t.tag} is the ${ordinal(i + 1)} newest of '${pattern}' (policy ${policy.id} keeps ${policy.keepNewest})` });
    });
  }
  return newestFirst
    .filter((t) => dropped.has(t.tag) && !kept.has(t.tag))
    .reverse()
    .map((t) => ({ tag: t.tag, digest: t.digest, ...dropped.get(t.tag)! }));
}

/** Step 2: the manifests that go, to a fixed point (each rule only ever lets more go). */
function manifestsToDrop(inventory: RepositoryInventory, tagged: ReadonlySet<string>, stays: ReadonlyMap<string, unknown>, untagged: readonly RetentionPolicy[], now: Date, graceMs: number): Map<string, Drop> {
  const present = new Set(inventory.manifests.map((m) => m.digest));
  const parents = new Map<string, string[]>();
  for (const m of inventory.manifests) for (const child of m.children) parents.set(child, [...(parents.get(child) ?? []), m.digest]);
  const going = new Map<string, Drop>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const m of inventory.manifests) {
      if (going.has(m.digest) || tagged.has(m.digest) || stays.has(m.digest)) continue;
      if ((parents.get(m.digest) ?? []).some((p) => !going.has(p))) continue;
      const subject = m.subject !== null && present.has(m.subject) ? m.subject : null;
      if (subject !== null) {
        const withSubject = going.get(subject);
        if (!withSubject) continue; // a referrer lives while its subject does
        going.set(m.digest, { policy: withSubject.policy, reason: `referrer of ${short(subject)}, which goes` });
        changed = true;
        continue;
      }
      const age = now.getTime() - m.pushed.getTime();
      if (age < graceMs) continue;
      const days = Math.floor(age / DAY_MS);
      const policy = untagged.find((p) => age >= p.untaggedDays! * DAY_MS);
      if (!policy) continue;
      const rule = policy.untaggedDays === 0 ? "untagged, any age" : `untagged older than ${policy.untaggedDays} days`;
      going.set(m.digest, { policy: policy.id, reason: `untagged, pushed ${days} day${days === 1 ? "" : "s"} ago (policy ${policy.id}: ${rule})` });
      changed = true;
    }
  }
  return going;
}

/** Step 3: parents and subjects before what they hold (Kahn's order; ties by digest). */
function executionOrder(inventory: RepositoryInventory, going: ReadonlyMap<string, Drop>): [string, Drop][] {
  const before = new Map<string, Set<string>>(); // digest → the going manifests that must go first
  for (const digest of going.keys()) before.set(digest, new Set());
  for (const m of inventory.manifests) {
    if (!going.has(m.digest)) continue;
    for (const child of m.children) before.get(child)?.add(m.digest);
    if (m.subject !== null && going.has(m.subject)) before.get(m.digest)!.add(m.subject);
  }
  const order: [string, Drop][] = [];
  const done = new Set<string>();
  while (order.length < going.size) {
    const ready = [...before].filter(([d, after]) => !done.has(d) && [...after].every((a) => done.has(a))).map(([d]) => d).sort();
    if (ready.length === 0) throw new Error("retention: a cycle among manifests (a manifest cannot name itself by digest)");
    for (const d of ready) {
      done.add(d);
      order.push([d, going.get(d)!]);
    }
  }
  return order;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}

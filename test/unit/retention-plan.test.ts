// The retention planner (domain/retention.ts): every reason, every never-delete rule, ties, patterns.
import assert from "node:assert/strict";
import { test } from "node:test";
import { planRepository, policiesFor, type RepositoryInventory, type RetentionPolicy, type Refusal } from "../../src/domain/retention.ts";

const NOW = new Date("2026-12-06T12:00:00Z");
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);
const d = (n: number) => `sha256:${String(n).padStart(64, "0")}`;
const allowed: Refusal = async () => null;

function untagged(id: string, days: number, repository = "*"): RetentionPolicy {
  return { id, repository, untaggedDays: days, keepNewest: null, tags: null, created: NOW, createdBy: "admin" };
}
function keep(id: string, count: number, tags = "*", repository = "*"): RetentionPolicy {
  return { id, repository, untaggedDays: null, keepNewest: count, tags, created: NOW, createdBy: "admin" };
}
function manifest(n: number, pushedDaysAgo: number, extra: { subject?: number; children?: number[] } = {}) {
  return { digest: d(n), pushed: ago(pushedDaysAgo), subject: extra.subject === undefined ? null : d(extra.subject), children: (extra.children ?? []).map(d) };
}
function inventory(manifests: RepositoryInventory["manifests"], tags: [string, number, number][] = []): RepositoryInventory {
  return { repository: "team/app", manifests, tags: tags.map(([tag, n, daysAgo]) => ({ tag, digest: d(n), pushed: ago(daysAgo) })) };
}
const targets = (items: { tag?: string; digest: string; protected?: string }[]) => items.map((i) => (i.tag !== undefined ? `tag ${i.tag}` : i.digest) + (i.protected ? " (protected)" : ""));

test("policiesFor: a policy applies to the repositories its pattern names, as scope maps match", () => {
  const ps = [untagged("a", 1, "team/*"), untagged("b", 1, "team/app"), untagged("c", 1, "other"), untagged("d", 1, "*")];
  assert.deepEqual(policiesFor(ps, "team/app").map((p) => p.id), ["a", "b", "d"]);
  assert.deepEqual(policiesFor(ps, "team").map((p) => p.id), ["a", "d"]);
  assert.deepEqual(policiesFor(ps, "teams/app").map((p) => p.id), ["d"]);
});

test("untagged: a manifest no tag names goes once its age reaches the policy's days, with the reason", async () => {
  const inv = inventory([manifest(1, 12), manifest(2, 3), manifest(3, 30)], [["v1", 3, 30]]);
  const items = await planRepository(inv, [untagged("p3", 7)], NOW, allowed);
  assert.deepEqual(targets(items), [d(1)]);
  assert.equal(items[0]!.reason, "untagged, pushed 12 days ago (policy p3: untagged older than 7 days)");
  assert.equal(items[0]!.policy, "p3");
});

test("untagged 0 days: every untagged manifest goes, whatever its age; the shortest policy names the reason", async () => {
  const inv = inventory([manifest(1, 0), manifest(2, 100)]);
  const items = await planRepository(inv, [untagged("long", 30), untagged("zero", 0)], NOW, allowed);
  assert.deepEqual(targets(items).sort(), [d(1), d(2)]);
  assert.ok(items.every((i) => i.policy === "zero" && i.reason.endsWith("(policy zero: untagged, any age)")), JSON.stringify(items));
});

test("grace period: an untagged manifest pushed within it stays under every untagged policy, even 0 days; older ones go", async () => {
  const minutes = (n: number) => new Date(NOW.getTime() - n * 60_000);
  const inv = inventory([{ digest: d(1), pushed: minutes(10), subject: null, children: [] }, { digest: d(2), pushed: minutes(90), subject: null, children: [] }]);
  assert.deepEqual(targets(await planRepository(inv, [untagged("zero", 0)], NOW, allowed, 3_600_000)), [d(2)]);
  assert.deepEqual(targets(await planRepository(inv, [untagged("zero", 0)], NOW, allowed, 0)).sort(), [d(1), d(2)]);
});

test("keepNewest: the newest N matching tags stay; older ones go, oldest first, with their rank", async () => {
  const tags: [string, number, number][] = [["v1", 1, 5], ["v2", 1, 4], ["v3", 2, 3], ["v4", 2, 2], ["latest", 2, 10]];
  const items = await planRepository(inventory([manifest(1, 5), manifest(2, 3)], tags), [keep("p4", 2, "v*")], NOW, allowed);
  assert.deepEqual(targets(items), ["tag v1", "tag v2"]); // latest does not match v*
  assert.equal(items[1]!.reason, "tag v2 is the 3rd newest of 'v*' (policy p4 keeps 2)");
  assert.equal(items[0]!.reason, "tag v1 is the 4th newest of 'v*' (policy p4 keeps 2)");
  assert.equal(items[0]!.digest, d(1));
});

test("keepNewest: ties in push time count the later name as newer; ordinals say 11th, 12th, 13th, 21st, 22nd", async () => {
  const tags: [string, number, number][] = Array.from({ length: 25 }, (_, i) => [`t${String(i + 1).padStart(2, "0")}`, 1, 1]);
  const items = await planRepository(inventory([manifest(1, 1)], tags), [keep("p", 10)], NOW, allowed);
  assert.deepEqual(targets(items), Array.from({ length: 15 }, (_, i) => `tag t${String(i + 1).padStart(2, "0")}`));
  const reasons = new Map(items.map((i) => [i.tag, i.reason]));
  assert.match(reasons.get("t15")!, /is the 11th newest/);
  assert.match(reasons.get("t14")!, /is the 12th newest/);
  assert.match(reasons.get("t13")!, /is the 13th newest/);
  assert.match(reasons.get("t05")!, /is the 21st newest/);
  assert.match(reasons.get("t04")!, /is the 22nd newest/);
  assert.match(reasons.get("t03")!, /is the 23rd newest/);
});

test("keepNewest: a tag one policy keeps stays even when another drops it; semver patterns match versions only", async () => {
  const tags: [string, number, number][] = [["1.0.0", 1, 3], ["1.1.0", 1, 2], ["dev", 1, 4], ["nightly", 1, 1]];
  const items = await planRepository(inventory([manifest(1, 4)], tags), [keep("all", 1), keep("semver", 2, "semver")], NOW, allowed);
  // "all" keeps nightly only; "semver" keeps both versions: only dev goes.
  assert.deepEqual(targets(items), ["tag dev"]);
  assert.equal(items[0]!.reason, "tag dev is the 4th newest of '*' (policy all keeps 1)");
});

test("deleting a tag leaves its manifest for an untagged policy, which decides by the manifest's age", async () => {
  const tags: [string, number, number][] = [["old", 1, 20], ["new", 2, 1], ["young", 3, 1]];
  const inv = inventory([manifest(1, 20), manifest(2, 1), manifest(3, 2)], tags);
  // new and young were pushed at the same time: young, the later name, counts as newer and stays.
  assert.deepEqual(targets(await planRepository(inv, [keep("k", 1)], NOW, allowed)), ["tag old", "tag new"]);
  // With an untagged policy of 7 days: 1 (20 days old) goes in the same run; 2 (1 day old) stays, untagged.
  assert.deepEqual(targets(await planRepository(inv, [keep("k", 1), untagged("u", 7)], NOW, allowed)), ["tag old", "tag new", d(1)]);
});

test("never deleted: an index's children while the index stays; they go after it when it goes", async () => {
  const kept = inventory([manifest(10, 30, { children: [11, 12] }), manifest(11, 30), manifest(12, 30)], [["multi", 10, 30]]);
  assert.deepEqual(await planRepository(kept, [untagged("u", 1)], NOW, allowed), []);
  const going = inventory([manifest(10, 30, { children: [11, 12] }), manifest(11, 30), manifest(12, 0)]);
  const items = await planRepository(going, [untagged("u", 1)], NOW, allowed);
  // The index first, then its old child; the young child stays (its own age decides).
  assert.deepEqual(targets(items), [d(10), d(11)]);
});

test("a child shared by a staying index and a going one stays", async () => {
  const inv = inventory([manifest(10, 30, { children: [12] }), manifest(11, 30, { children: [12] }), manifest(12, 30)], [["a", 10, 30]]);
  assert.deepEqual(targets(await planRepository(inv, [untagged("u", 1)], NOW, allowed)), [d(11)]);
});

test("referrers: never an untagged manifest of their own while their subject stays; they go with a subject that goes, whatever their age", async () => {
  const inv = inventory(
    [manifest(1, 30), manifest(2, 30, { subject: 1 }), manifest(3, 30), manifest(4, 0, { subject: 3 }), manifest(5, 0, { subject: 4 })],
    [["kept", 1, 30]],
  );
  const items = await planRepository(inv, [untagged("u", 7)], NOW, allowed);
  // 2 refers to the tagged 1: stays. 3 is old and untagged: goes; 4 (fresh) refers to 3: goes with it; 5 refers to 4: too.
  assert.deepEqual(targets(items), [d(3), d(4), d(5)]);
  assert.equal(items[1]!.reason, `referrer of ${d(3).slice(0, 19)}, which goes`);
  assert.equal(items[1]!.policy, "u");
});

test("a referrer whose subject is not in the repository is an untagged manifest like any other", async () => {
  const inv = inventory([manifest(2, 30, { subject: 99 }), manifest(3, 1, { subject: 98 })]);
  assert.deepEqual(targets(await planRepository(inv, [untagged("u", 7)], NOW, allowed)), [d(2)]);
});

test("a tagged referrer stays when its subject goes (a tag is always kept)", async () => {
  const inv = inventory([manifest(1, 30), manifest(2, 30, { subject: 1 })], [["sig", 2, 30]]);
  assert.deepEqual(targets(await planRepository(inv, [untagged("u", 7)], NOW, allowed)), [d(1)]);
});

test("a keep-newest policy alone deletes tags only, never manifests", async () => {
  const inv = inventory([manifest(1, 30), manifest(2, 30)], [["a", 1, 2], ["b", 2, 1]]);
  assert.deepEqual(targets(await planRepository(inv, [keep("k", 1)], NOW, allowed)), ["tag a"]);
});

test("protected: a refused tag stays tagged (its manifest with it); a refused manifest stays with its children and referrers", async () => {
  const inv = inventory(
    [manifest(1, 30), manifest(10, 30, { children: [11] }), manifest(11, 30), manifest(12, 30, { subject: 10 }), manifest(20, 30)],
    [["locked", 1, 5], ["new", 20, 1]],
  );
  const refusal: Refusal = async (target) => ("tag" in target && target.tag === "locked" ? "team/app:locked cannot be deleted (deleteEnabled is false)" : "digest" in target && target.digest === d(10) ? "immutable by rule r" : null);
  const items = await planRepository(inv, [keep("k", 1), untagged("u", 7)], NOW, refusal);
  assert.deepEqual(targets(items), ["tag locked (protected)", `${d(10)} (protected)`]);
  assert.equal(items[0]!.protected, "team/app:locked cannot be deleted (deleteEnabled is false)");
  assert.equal(items[1]!.reason, "untagged, pushed 30 days ago (policy u: untagged older than 7 days)");
  assert.equal(items[1]!.protected, "immutable by rule r");
});

test("the plan is the same whatever order the inventory lists manifests in", async () => {
  const ms = [manifest(10, 30, { children: [11] }), manifest(11, 30), manifest(12, 30, { subject: 10 }), manifest(13, 9)];
  const a = await planRepository(inventory(ms), [untagged("u", 7)], NOW, allowed);
  const b = await planRepository(inventory([...ms].reverse()), [untagged("u", 7)], NOW, allowed);
  assert.deepEqual(a, b);
  // Round by round: what depends on nothing going, then what depended on those; by digest within a round.
  assert.deepEqual(targets(a), [d(10), d(13), d(11), d(12)]);
});

// EVENT_SOURCES (which change log entries each action's events come from, as the store selects
// them) against eventOf (what event an entry is): for an entry of every kind, the action eventOf
// gives is the one action whose sources select it, and an entry that is no event is selected by
// none, so `?action=` in the query returns what filtering the events would.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change, ChangeKind } from "../../src/domain/changes.ts";
import { EVENT_ACTIONS, eventOf, sourcesOf, type ChangeSelector, type EventAction } from "../../src/domain/events.ts";

const D = `sha256:${"a".repeat(64)}`;
const pushed = { kind: "manifest.pushed", repository: "r", digest: D, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1 } as const;
const summary = { tagsDeleted: 0, manifestsDeleted: 0, skipped: 0, policies: [] };

/** Entries of every kind (a Record, so a new kind does not compile until it is here), in the shapes the log has held. */
const SAMPLES: Record<ChangeKind, Change[]> = {
  "manifest.pushed": [pushed, { ...pushed, tag: "v1", artifactType: null, subject: null }, { ...pushed, tag: null, artifactType: "application/spdx+json", subject: D }, { ...pushed, restored: true }],
  "manifest.deleted": [{ kind: "manifest.deleted", repository: "r", digest: D }],
  "tag.set": [{ kind: "tag.set", repository: "r", tag: "v1", digest: D, previous: null }],
  "tag.deleted": [{ kind: "tag.deleted", repository: "r", tag: "v1" }, { kind: "tag.deleted", repository: "r", tag: "v1", digest: D }],
  "deleted.purged": [{ kind: "deleted.purged", repository: "r", digest: D, tags: ["v1"] }, { kind: "deleted.purged", repository: "r", digest: D, tags: [] }],
  "blob.linked": [{ kind: "blob.linked", repository: "r", digest: D }],
  "blob.unlinked": [{ kind: "blob.unlinked", repository: "r", digest: D }],
  "chart.recorded": [{ kind: "chart.recorded", repository: "r", version: "1.0.0" }],
  "chart.forgotten": [{ kind: "chart.forgotten", repository: "r", version: null }],
  "identity.changed": [{ kind: "identity.changed", principal: "p", scopeMap: null }],
  "attributes.changed": [{ kind: "attributes.changed", repository: "r", tag: "" }],
  "tag-rules.changed": [{ kind: "tag-rules.changed", id: "1" }],
  "quotas.changed": [{ kind: "quotas.changed", scope: "*" }],
  "policy.refused": [{ kind: "policy.refused", repository: "r", reason: "quota", rule: "*", reference: null, message: "over" }],
  "retention-policies.changed": [{ kind: "retention-policies.changed", id: "1" }],
  "retention.ran": [{ kind: "retention.ran", trigger: "demand", summary }],
  "signing-key.added": [{ kind: "signing-key.added", kid: "k" }],
};

/** What the store's query tests of an entry (change-store.ts events): its kind, and whether its body names a subject. */
function selects(selector: ChangeSelector, change: Change): boolean {
  if (selector.kind !== change.kind) return false;
  if (selector.referrer === undefined) return true;
  const subject = "subject" in change ? change.subject : undefined;
  return selector.referrer === (subject !== undefined && subject !== null);
}

for (const [kind, changes] of Object.entries(SAMPLES)) {
  test(`${kind}: the action eventOf gives is the one whose sources select the entry`, () => {
    for (const change of changes) {
      const action = eventOf({ id: 1, at: new Date(), change })?.action ?? null;
      const selectedBy = EVENT_ACTIONS.filter((a) => sourcesOf([a]).some((s) => selects(s, change)));
      assert.deepEqual(selectedBy, action === null ? [] : [action], JSON.stringify(change));
      assert.equal(sourcesOf().some((s) => selects(s, change)), action !== null, `every action: ${JSON.stringify(change)}`);
    }
  });
}

test("asking for several actions: one selector per kind, push and referrer together select every manifest.pushed", () => {
  const both = sourcesOf(["push", "referrer", "push"] satisfies EventAction[]);
  assert.deepEqual(both, [{ kind: "manifest.pushed" }]);
  assert.deepEqual(sourcesOf(["delete", "referrer"]), [{ kind: "tag.deleted" }, { kind: "manifest.deleted" }, { kind: "deleted.purged" }, { kind: "manifest.pushed", referrer: true }]);
  assert.equal(new Set(sourcesOf().map((s) => s.kind)).size, sourcesOf().length);
});

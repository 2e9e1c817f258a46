// The bound on refusal events (services/policy-refusals.ts): one per repository and reason per
// window, others dropped; a new window records again; errors that are no policy refusal pass
// through unrecorded; a log that cannot be written does not change the client's answer.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../src/domain/changes.ts";
import { PolicyRefusal, RegistryError } from "../../src/domain/errors.ts";
import type { MetadataStore } from "../../src/metadata/types.ts";
import { RefusalLog, WINDOW_MS } from "../../src/services/policy-refusals.ts";

function recorder(fail = false) {
  const appended: Change[] = [];
  const metadata = {
    transaction: async (work: (tx: unknown) => Promise<unknown>) => {
      if (fail) throw new Error("disk full");
      return work({ changes: { append: async (c: Change) => void appended.push(c) } });
    },
  } as unknown as MetadataStore;
  return { appended, metadata };
}

const refusal = (repository: string, reason: "quota" | "immutable") => new PolicyRefusal({ reason, repository, reference: "v1", rule: "team/*" }, `refused ${repository}`, {});

test("one policy.refused per repository and reason, and per actor and reason, per window; the next window records again", async () => {
  const { appended, metadata } = recorder();
  let now = 1_000_000;
  const log = new RefusalLog(metadata, () => now);
  const actor = (name: string) => ({ name, kind: "user", address: null, userAgent: null });
  const refuse = (repository: string, reason: "quota" | "immutable", by = "ci") => assert.rejects(log.watch(Promise.reject(refusal(repository, reason)), actor(by)), PolicyRefusal);
  for (let i = 0; i < 20; i++) await refuse("team/app", "quota");
  await refuse("team/app", "immutable");
  await refuse("team/other", "quota", "someone-else");
  // The same actor refused in another repository in the window: dropped (found by attack: one
  // client refused in 40 repositories wrote 40 entries).
  for (let i = 0; i < 40; i++) await refuse(`team/r${i}`, "quota");
  assert.deepEqual(appended.map((c) => (c.kind === "policy.refused" ? `${c.repository} ${c.reason}` : c.kind)), ["team/app quota", "team/app immutable", "team/other quota"]);
  now += WINDOW_MS - 1;
  await refuse("team/app", "quota");
  assert.equal(appended.length, 3);
  now += 1;
  await refuse("team/app", "quota");
  assert.equal(appended.length, 4);
});

test("at most 60 policy.refused entries per window in all, however many actors and repositories", async () => {
  const { appended, metadata } = recorder();
  const now = 1_000_000;
  const log = new RefusalLog(metadata, () => now);
  for (let i = 0; i < 200; i++) {
    await assert.rejects(log.watch(Promise.reject(refusal(`team/r${i}`, "quota")), { name: `u${i}`, kind: "user", address: null, userAgent: null }), PolicyRefusal);
  }
  assert.equal(appended.length, 60);
});

test("other errors pass unrecorded; a log that cannot be written leaves the refusal as it was", async () => {
  const { appended, metadata } = recorder();
  const log = new RefusalLog(metadata);
  await assert.rejects(log.watch(Promise.reject(new RegistryError("DENIED", "no right")), null), { code: "DENIED", message: "no right" });
  assert.equal(await log.watch(Promise.resolve(7), null), 7);
  assert.equal(appended.length, 0);
  const broken = new RefusalLog(recorder(true).metadata);
  await assert.rejects(broken.watch(Promise.reject(refusal("team/app", "quota")), null), PolicyRefusal);
});

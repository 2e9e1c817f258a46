// Retention (docs/lifecycle.md#retention): policies that delete untagged manifests after N days or
// keep only the newest N tags, and runs of them (a dry run lists what would go, with reasons).
import { z } from "zod";
import { Time } from "./common.ts";

export const RetentionPolicyView = z.strictObject({
  id: z.string(),
  /** Repositories, as scope maps name them: team/app, team/*, or *. */
  repository: z.string(),
  /** Untagged manifests pushed at least this many days ago go; null for a keepNewest policy. */
  untaggedDays: z.number().int().nullable(),
  /** Only the newest N tags matching `tags` stay; null for an untagged policy. */
  keepNewest: z.number().int().nullable(),
  /** keepNewest's tag pattern (a glob or "semver"); null for an untagged policy. */
  tags: z.string().nullable(),
  created: Time,
  createdBy: z.string(),
});
export type RetentionPolicyView = z.infer<typeof RetentionPolicyView>;

export const RetentionPolicyList = z.strictObject({ policies: z.array(RetentionPolicyView) });
export type RetentionPolicyList = z.infer<typeof RetentionPolicyList>;

/** Exactly one of untaggedDays and keepNewest; tags (default *) with keepNewest only. */
export const RetentionPolicyBody = z.strictObject({
  repository: z.string(),
  untaggedDays: z.number().optional(),
  keepNewest: z.number().optional(),
  tags: z.string().optional(),
});

export const RetentionRunBody = z.strictObject({ dryRun: z.boolean().optional() });

export const RetentionItemView = z.strictObject({
  repository: z.string(),
  /** A tag item names the tag and the digest it pointed at; a manifest item has the digest only. */
  tag: z.string().optional(),
  digest: z.string(),
  policy: z.string(),
  reason: z.string(),
  /** planned: a dry run's "would go"; skipped: see `protected`. */
  outcome: z.enum(["deleted", "skipped", "planned"]),
  /** Why it stays: the delete's refusal (a tag rule, a delete lock), or what it depends on stayed. */
  protected: z.string().optional(),
});
export type RetentionItemView = z.infer<typeof RetentionItemView>;

const Counts = { tagsDeleted: z.number().int(), manifestsDeleted: z.number().int(), skipped: z.number().int() };

export const RetentionRunView = z.strictObject({
  dryRun: z.boolean(),
  items: z.array(RetentionItemView),
  /** A dry run counts what it would delete. */
  summary: z.strictObject({ ...Counts, policies: z.array(z.strictObject({ id: z.string(), ...Counts })) }),
});
export type RetentionRunView = z.infer<typeof RetentionRunView>;

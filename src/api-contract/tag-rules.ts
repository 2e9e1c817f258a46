// Tag immutability rules (docs/lifecycle.md): which tags, once pushed, never move or go.
import { z } from "zod";
import { Time } from "./common.ts";

export const TagRuleView = z.strictObject({
  id: z.string(),
  /** Repositories, as scope maps name them: team/app, team/*, or *. */
  repository: z.string(),
  /** A glob over tag names (release-*, v1.*), or "semver". */
  tags: z.string(),
  created: Time,
  createdBy: z.string(),
});
export type TagRuleView = z.infer<typeof TagRuleView>;

export const TagRuleList = z.strictObject({ rules: z.array(TagRuleView) });
export type TagRuleList = z.infer<typeof TagRuleList>;

export const TagRuleBody = z.strictObject({ repository: z.string(), tags: z.string() });

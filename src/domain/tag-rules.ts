// Tag immutability rules (issue 17): a tag that a rule covers may be pushed once and then never
// moved to other content or deleted, nor may the content it names be deleted, until an owner
// removes the rule. A rule names repositories as scope maps do ("team/*", "team/app", "*") and
// tags as a glob ("release-*", "v1.?"), or "semver": every tag that reads as a semantic version
// (1.2.3, v1.2.3-rc.1; a chart's 1.2.3_build, its "+" written as "_" in the tag).
import picomatch from "picomatch";
import { valid } from "semver";
import { matchesPattern } from "./names.ts";

export interface TagRule {
  id: string;
  /** Repositories, as a scope map names them. */
  repository: string;
  /** A glob over the tag, or "semver". */
  tags: string;
  created: Date;
  /** Who created it (the audit trail's name). */
  createdBy: string;
}

export const SEMVER_TAGS = "semver";

/** The first rule that makes `tag` in `repository` immutable, or null. */
export function immutableBy(rules: readonly TagRule[], repository: string, tag: string): TagRule | null {
  return rules.find((rule) => matchesPattern(rule.repository, repository) && tagMatches(rule.tags, tag)) ?? null;
}

/** Whether `tag` matches a tag pattern: a glob, or "semver" (tag rules' and retention policies'). */
export function tagMatches(pattern: string, tag: string): boolean {
  if (pattern === SEMVER_TAGS) return valid(tag.replaceAll("_", "+")) !== null;
  return picomatch.isMatch(tag, pattern, { dot: true });
}

/** The refusal's words: which tag and which rule, so a client's printed error says what to do. */
export function immutableText(repository: string, tag: string, rule: TagRule): string {
  return `${repository}:${tag} is immutable (tag rule ${rule.id}: repository ${rule.repository}, tags ${rule.tags}); push a new tag instead, or ask an owner to remove the rule`;
}

// Tag immutability rules (domain/tag-rules.ts says what they do): created and removed by owners,
// each change audited. ManifestService applies them inside the transaction that would move or
// delete a tag, reading them from the database, so every instance applies a new rule at once.
import { randomUUID } from "node:crypto";
import picomatch from "picomatch";
import { SEMVER_TAGS, type TagRule } from "../../domain/tag-rules.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { Actor, IdentityContext } from "./context.ts";
import { checkPattern, invalid } from "./identity-rules.ts";

/** A tag's characters (OCI: [A-Za-z0-9_.-]) and the glob's: * ? [ ] { } , ! */
const TAG_GLOB = /^[A-Za-z0-9_.\-*?[\]{},!]{1,128}$/;
const MAX_STARS = 3;

export function checkTagPattern(pattern: string): string {
  if (pattern === SEMVER_TAGS) return pattern;
  const refuse = () => invalid(`invalid tag pattern "${pattern.slice(0, 200)}": use a glob over tag names (release-*, v1.*) or "semver"`, { tags: pattern.slice(0, 200) });
  if (!TAG_GLOB.test(pattern)) throw refuse();
  // picomatch matches with a regex that backtracks: k stars cost up to n^k steps on an n-character
  // tag (an attack's `*a*a*a*a*a*a*a*a*a` held the event loop for 7.8 s), so at most 3; and a
  // numeric range {1..99} compiles to a character class that matches other tags than it says.
  if ([...pattern].filter((c) => c === "*").length > MAX_STARS) throw invalid(`tag pattern "${pattern.slice(0, 200)}" has more than ${MAX_STARS} *`, { tags: pattern.slice(0, 200) });
  if (/\{[^}]*\.\.[^}]*\}/.test(pattern)) throw invalid(`tag pattern "${pattern.slice(0, 200)}" has a range {m..n}: list the values ({1,2,3}) or use a glob`, { tags: pattern.slice(0, 200) });
  try {
    picomatch.makeRe(pattern, { strictBrackets: true });
  } catch {
    throw refuse();
  }
  return pattern;
}

export class TagRuleService {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  list(): Promise<TagRule[]> {
    return this.ctx.metadata.tagRules.list();
  }

  async create(by: Actor, repository: string, tags: string): Promise<TagRule> {
    const rule: TagRule = { id: randomUUID(), repository: checkPattern(repository), tags: checkTagPattern(tags), created: this.ctx.now(), createdBy: by.identity };
    return this.ctx.commit(by, async (tx, note) => {
      await tx.tagRules.add(rule);
      note({ event: "tag-rule.changed", action: "create", repository: null, detail: { id: rule.id, repository: rule.repository, tags: rule.tags }, change: { kind: "tag-rules", id: rule.id } });
      return rule;
    });
  }

  async delete(by: Actor, id: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      const rule = (await tx.tagRules.list()).find((r) => r.id === id);
      if (!rule || !(await tx.tagRules.remove(id))) throw new RegistryError("TAG_RULE_UNKNOWN", `no tag rule ${id.slice(0, 100)}: list them with berth tag-rule list`, { id: id.slice(0, 100) });
      note({ event: "tag-rule.changed", action: "delete", repository: null, detail: { id, repository: rule.repository, tags: rule.tags }, change: { kind: "tag-rules", id } });
    });
  }
}

// /api/v1/tag-rules: tag immutability rules, owners only (services/identities/tag-rules.ts).
import { TagRuleBody, type TagRuleView } from "../../api-contract/tag-rules.ts";
import type { TagRule } from "../../domain/tag-rules.ts";
import { bodyOf, param, type ApiContext } from "./context.ts";

function view(rule: TagRule): TagRuleView {
  return { id: rule.id, repository: rule.repository, tags: rule.tags, created: rule.created.toISOString(), createdBy: rule.createdBy };
}

export async function getTagRules(ctx: ApiContext) {
  return { rules: (await ctx.identities.tagRules.list()).map(view) };
}

export async function postTagRule(ctx: ApiContext) {
  const body = bodyOf(ctx, TagRuleBody);
  return ctx.reply.code(201).send(view(await ctx.identities.tagRules.create(ctx.by, body.repository, body.tags)));
}

export async function deleteTagRule(ctx: ApiContext) {
  await ctx.identities.tagRules.delete(ctx.by, param(ctx, "id"));
  return { deleted: true };
}

// /api/v1/retention-policies and /api/v1/retention-runs: owners only (services/retention.ts).
import { RetentionPolicyBody, RetentionRunBody, type RetentionPolicyView, type RetentionRunView } from "../../api-contract/retention.ts";
import type { RetentionPolicy } from "../../domain/retention.ts";
import { bodyOf, param, type ApiContext } from "./context.ts";

function view(p: RetentionPolicy): RetentionPolicyView {
  return { id: p.id, repository: p.repository, untaggedDays: p.untaggedDays, keepNewest: p.keepNewest, tags: p.tags, created: p.created.toISOString(), createdBy: p.createdBy };
}

export async function getRetentionPolicies(ctx: ApiContext) {
  return { policies: (await ctx.identities.retentionPolicies.list()).map(view) };
}

export async function postRetentionPolicy(ctx: ApiContext) {
  const body = bodyOf(ctx, RetentionPolicyBody);
  return ctx.reply.code(201).send(view(await ctx.identities.retentionPolicies.create(ctx.by, body)));
}

export async function deleteRetentionPolicy(ctx: ApiContext) {
  await ctx.identities.retentionPolicies.delete(ctx.by, param(ctx, "id"));
  return { deleted: true };
}

export async function postRetentionRun(ctx: ApiContext): Promise<RetentionRunView> {
  const body = bodyOf(ctx, RetentionRunBody);
  const report = await ctx.retention.run({ dryRun: body.dryRun ?? false, trigger: "demand", actor: ctx.actor });
  return { dryRun: report.dryRun, items: report.items, summary: report.summary };
}

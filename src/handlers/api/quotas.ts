// /api/v1/quotas: storage quotas, owners only (services/identities/quotas.ts).
import { QuotaBody, type QuotaView } from "../../api-contract/quotas.ts";
import type { QuotaUsage } from "../../domain/quotas.ts";
import { bodyOf, param, type ApiContext } from "./context.ts";

export const QUOTAS_PREFIX = "/api/v1/quotas/";

function view(quota: QuotaUsage): QuotaView {
  const percent = quota.limit > 0 ? Math.round((quota.used / quota.limit) * 1000) / 10 : null;
  return { scope: quota.scope, limit: quota.limit, used: quota.used, restorable: quota.restorable, percent, created: quota.created.toISOString(), createdBy: quota.createdBy };
}

export async function getQuotas(ctx: ApiContext) {
  return { quotas: (await ctx.identities.quotas.list()).map(view) };
}

export async function putQuota(ctx: ApiContext) {
  const body = bodyOf(ctx, QuotaBody);
  return view(await ctx.identities.quotas.set(ctx.by, body.scope, body.limit));
}

export async function deleteQuota(ctx: ApiContext) {
  await ctx.identities.quotas.delete(ctx.by, param(ctx, "*"));
  return { deleted: true };
}

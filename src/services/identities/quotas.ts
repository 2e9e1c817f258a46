// Storage quotas (domain/quotas.ts says what they count; services/quotas.ts enforces them): set
// and removed by owners, each change audited, read with their usage counted at the moment asked.
import { RegistryError } from "../../domain/errors.ts";
import { parseSize, type Quota, type QuotaUsage } from "../../domain/quotas.ts";
import type { Actor, IdentityContext } from "./context.ts";
import { checkPattern, invalid } from "./identity-rules.ts";

/** 2^53 - 1 bytes (8 PiB): the most a JSON number carries exactly. */
const MAX_LIMIT = Number.MAX_SAFE_INTEGER;

export class QuotaService {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  /** Every quota with what its scope holds now (one count per quota, in one read transaction, so the figures agree with each other). */
  async list(): Promise<QuotaUsage[]> {
    return this.ctx.metadata.transaction(async (tx) => {
      const quotas = await tx.quotas.list();
      const usage: QuotaUsage[] = [];
      for (const quota of quotas) usage.push({ ...quota, ...(await tx.quotas.count(quota.scope)) });
      return usage;
    });
  }

  /** Creates the scope's quota or changes its limit. A limit below the usage is allowed: nothing new enters until usage falls under it. */
  async set(by: Actor, scope: string, size: number | string): Promise<QuotaUsage> {
    checkPattern(scope);
    const limit = typeof size === "number" ? size : parseSize(size);
    if (limit === null || !Number.isSafeInteger(limit) || limit < 0 || limit > MAX_LIMIT) {
      throw invalid(`invalid quota limit "${String(size).slice(0, 40)}": a whole number of bytes or a size such as 10GiB, 500MiB, 2GB (KiB = 1024 bytes, KB = 1000)`, { limit: String(size).slice(0, 40) });
    }
    return this.ctx.commit(by, async (tx, note) => {
      const before = (await tx.quotas.list()).find((q) => q.scope === scope);
      const quota: Quota = { scope, limit, created: before?.created ?? this.ctx.now(), createdBy: before?.createdBy ?? by.identity };
      await tx.quotas.set(quota);
      note({ event: "quota.changed", action: before ? "update" : "create", repository: null, detail: { scope, limit, ...(before && { previous: before.limit }) }, change: { kind: "quotas", scope } });
      return { ...quota, ...(await tx.quotas.count(scope)) };
    });
  }

  async delete(by: Actor, scope: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      if (!(await tx.quotas.remove(scope))) throw new RegistryError("QUOTA_UNKNOWN", `no quota for "${scope.slice(0, 300)}": list them with berth quota list`, { scope: scope.slice(0, 300) });
      note({ event: "quota.changed", action: "delete", repository: null, detail: { scope }, change: { kind: "quotas", scope } });
    });
  }
}

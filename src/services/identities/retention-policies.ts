// Retention policies (domain/retention.ts says what they do): created and removed by owners, each
// change audited, as tag rules are. The retention run (services/retention.ts) reads them from the
// database at its start, so every instance runs the same policies.
import { randomUUID } from "node:crypto";
import type { RetentionPolicy } from "../../domain/retention.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { Actor, IdentityContext } from "./context.ts";
import { checkPattern, invalid } from "./identity-rules.ts";
import { checkTagPattern } from "./tag-rules.ts";

/** ACR allows 0 to 365 days; Berth allows up to ten years. */
export const MAX_UNTAGGED_DAYS = 3650;
export const MAX_KEEP_NEWEST = 100_000;

export interface NewRetentionPolicy {
  repository: string;
  untaggedDays?: number | undefined;
  keepNewest?: number | undefined;
  tags?: string | undefined;
}

/** One kind of policy, its number in range, a tag pattern only with keepNewest: or a 400 that says which. */
export function checkPolicy(body: NewRetentionPolicy): Pick<RetentionPolicy, "repository" | "untaggedDays" | "keepNewest" | "tags"> {
  const repository = checkPattern(body.repository);
  const { untaggedDays, keepNewest, tags } = body;
  if ((untaggedDays === undefined) === (keepNewest === undefined)) {
    throw invalid("a retention policy sets exactly one of untaggedDays (delete untagged manifests older than N days) or keepNewest (keep the newest N tags)");
  }
  if (untaggedDays !== undefined) {
    if (!Number.isInteger(untaggedDays) || untaggedDays < 0 || untaggedDays > MAX_UNTAGGED_DAYS) {
      throw invalid(`untaggedDays is a whole number of days from 0 (any untagged manifest) to ${MAX_UNTAGGED_DAYS}`, { untaggedDays });
    }
    if (tags !== undefined) throw invalid("tags applies to keepNewest policies only: an untagged policy concerns manifests no tag points at", { tags: tags.slice(0, 200) });
    return { repository, untaggedDays, keepNewest: null, tags: null };
  }
  if (!Number.isInteger(keepNewest) || keepNewest! < 1 || keepNewest! > MAX_KEEP_NEWEST) {
    throw invalid(`keepNewest is a whole number from 1 to ${MAX_KEEP_NEWEST}: how many of the matching tags, newest pushed first, stay`, { keepNewest });
  }
  return { repository, untaggedDays: null, keepNewest: keepNewest!, tags: checkTagPattern(tags ?? "*") };
}

export class RetentionPolicyService {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  list(): Promise<RetentionPolicy[]> {
    return this.ctx.metadata.retention.list();
  }

  async create(by: Actor, body: NewRetentionPolicy): Promise<RetentionPolicy> {
    const policy: RetentionPolicy = { id: randomUUID(), ...checkPolicy(body), created: this.ctx.now(), createdBy: by.identity };
    return this.ctx.commit(by, async (tx, note) => {
      await tx.retention.add(policy);
      note({ event: "retention-policy.changed", action: "create", repository: null, detail: detailOf(policy), change: { kind: "retention-policies", id: policy.id } });
      return policy;
    });
  }

  async delete(by: Actor, id: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      const policy = (await tx.retention.list()).find((p) => p.id === id);
      if (!policy || !(await tx.retention.remove(id))) {
        throw new RegistryError("RETENTION_POLICY_UNKNOWN", `no retention policy ${id.slice(0, 100)}: list them with berth retention list`, { id: id.slice(0, 100) });
      }
      note({ event: "retention-policy.changed", action: "delete", repository: null, detail: detailOf(policy), change: { kind: "retention-policies", id } });
    });
  }
}

function detailOf(p: RetentionPolicy): Record<string, unknown> {
  return { id: p.id, repository: p.repository, untaggedDays: p.untaggedDays, keepNewest: p.keepNewest, tags: p.tags };
}

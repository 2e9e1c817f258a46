// The rules over who may sign in and what they may touch: the admin account, users, service
// principals, scope maps, tokens, repository attributes, and the audit trail they leave. One
// transaction per change, its audit event and its change-log entry inside it.
// Secrets are hashed here (by the injected functions), returned once, and never stored, logged
// or audited in clear.
import type { AuditEvent, AuditFilter } from "../../metadata/identity-types.ts";
import { AdminAccount } from "./admin.ts";
import { RepositoryAttributes } from "./attributes.ts";
import { TagRuleService } from "./tag-rules.ts";
import { QuotaService } from "./quotas.ts";
import { RetentionPolicyService } from "./retention-policies.ts";
import { IdentityContext, type IdentityServiceOptions } from "./context.ts";
import { invalid } from "./identity-rules.ts";
import { ScopeMaps } from "./scope-maps.ts";
import { ServicePrincipals } from "./service-principals.ts";
import { Tokens } from "./tokens.ts";
import { Users } from "./users.ts";

export type { Actor, IdentityChange, IdentityServiceOptions, PasswordFunctions } from "./context.ts";

export const MAX_AUDIT_EVENTS = 1000;

export class IdentityService {
  readonly admin: AdminAccount;
  readonly users: Users;
  readonly servicePrincipals: ServicePrincipals;
  readonly scopeMaps: ScopeMaps;
  readonly tokens: Tokens;
  readonly attributes: RepositoryAttributes;
  readonly tagRules: TagRuleService;
  readonly quotas: QuotaService;
  readonly retentionPolicies: RetentionPolicyService;
  private readonly ctx: IdentityContext;

  constructor(options: IdentityServiceOptions) {
    this.ctx = new IdentityContext(options);
    this.admin = new AdminAccount(this.ctx);
    this.users = new Users(this.ctx);
    this.servicePrincipals = new ServicePrincipals(this.ctx);
    this.scopeMaps = new ScopeMaps(this.ctx);
    this.tokens = new Tokens(this.ctx);
    this.attributes = new RepositoryAttributes(this.ctx);
    this.tagRules = new TagRuleService(this.ctx);
    this.quotas = new QuotaService(this.ctx);
    this.retentionPolicies = new RetentionPolicyService(this.ctx);
  }

  /** The newest audit events first, those matching every field of the filter. */
  async audit(limit = 100, filter: AuditFilter = {}): Promise<AuditEvent[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_EVENTS) throw invalid(`limit is a whole number from 1 to ${MAX_AUDIT_EVENTS}`, { limit });
    if (filter.from && filter.to && filter.from.getTime() >= filter.to.getTime()) throw invalid("from must be before to", { from: filter.from.toISOString(), to: filter.to.toISOString() });
    return this.ctx.metadata.audit.recent(limit, filter);
  }
}

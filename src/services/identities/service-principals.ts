// Service principals (ACR's `az ad sp create-for-rbac --role ... --scopes ...`): a UUID that is
// the sign-in username (the appId), a display name, exactly one role, an optional repository
// pattern limiting it, an optional expiry, and one generated secret.
import { randomUUID } from "node:crypto";
import type { Principal, Role } from "../../metadata/identity-types.ts";
import { createPrincipal, principalOfKind, type Actor, type IdentityContext } from "./context.ts";
import { checkName, checkPattern, checkRole, expiryAfter } from "./identity-rules.ts";

export interface ServicePrincipalSummary {
  id: string;
  name: string;
  role: Role;
  scope: string | null;
  expires: Date | null;
  enabled: boolean;
  created: Date;
}

function summary(p: Principal): ServicePrincipalSummary {
  return { id: p.id, name: p.name, role: p.roles[0]!, scope: p.scope, expires: p.expiresAt, enabled: p.enabled, created: p.createdAt };
}

export class ServicePrincipals {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  async list(): Promise<ServicePrincipalSummary[]> {
    return (await this.ctx.metadata.principals.list("sp")).map(summary);
  }

  /** Creates the service principal and its secret; returns the secret once. */
  async create(
    by: Actor,
    input: { name: string; role: string; scope?: string | null; expiresIn?: number },
  ): Promise<Omit<ServicePrincipalSummary, "enabled" | "created"> & { secret: string }> {
    const name = checkName(input.name, "service principal");
    const role = checkRole(input.role);
    const scope = input.scope === undefined || input.scope === null ? null : checkPattern(input.scope);
    const now = this.ctx.now();
    const expires = expiryAfter(now, input.expiresIn);
    const secret = this.ctx.passwords.generate();
    const hash = await this.ctx.passwords.hash(secret);
    const id = randomUUID();
    await this.ctx.commit(by, async (tx, note) => {
      await createPrincipal(tx, { id, kind: "sp", name, roles: [role], scope, scopeMap: null, enabled: true, expiresAt: expires, createdAt: now });
      await tx.secrets.set(id, { slot: 1, hash, expiresAt: null, createdAt: now });
      note({ event: "identity.created", action: "create", detail: { kind: "sp", id, name, role, scope, expires: expires?.toISOString() ?? null }, change: { kind: "principal", id } });
    });
    return { id, name, role, scope, expires, secret };
  }

  async resetSecret(by: Actor, id: string): Promise<{ id: string; secret: string }> {
    const secret = this.ctx.passwords.generate();
    const hash = await this.ctx.passwords.hash(secret);
    await this.ctx.commit(by, async (tx, note) => {
      const sp = await principalOfKind(tx, "sp", id, "service principal");
      await tx.secrets.set(sp.id, { slot: 1, hash, expiresAt: null, createdAt: this.ctx.now() });
      note({ event: "secret.rotated", action: "reset-secret", detail: { kind: "sp", id, name: sp.name, slot: 1 }, change: { kind: "principal", id } });
    });
    return { id, secret };
  }

  async delete(by: Actor, id: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      const sp = await principalOfKind(tx, "sp", id, "service principal");
      await tx.principals.delete(sp.id);
      note({ event: "identity.deleted", action: "delete", detail: { kind: "sp", id, name: sp.name }, change: { kind: "principal", id } });
    });
  }
}

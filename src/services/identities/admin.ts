// The admin account (ACR's admin user): principal "admin", role owner, two passwords rotated one
// slot at a time so a client can move to the new one while the old still works.
import { RegistryError } from "../../domain/errors.ts";
import { principalOfKind, type Actor, type IdentityContext } from "./context.ts";
import { checkSlot } from "./identity-rules.ts";

export const ADMIN_ID = "admin";

export interface AdminSummary {
  enabled: boolean;
  passwords: { slot: 1 | 2; created: Date }[];
}

export class AdminAccount {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  async show(): Promise<AdminSummary> {
    const admin = await principalOfKind(this.ctx.metadata, "admin", ADMIN_ID, "the admin account");
    const secrets = await this.ctx.metadata.secrets.list(admin.id);
    return { enabled: admin.enabled, passwords: secrets.map((s) => ({ slot: s.slot, created: s.createdAt })) };
  }

  /**
   * Disabling is refused while no other enabled, unscoped owner exists: the admin would lock
   * everyone out of the management API, the only way back in.
   */
  async setEnabled(by: Actor, enabled: boolean): Promise<AdminSummary> {
    await this.ctx.commit(by, async (tx, note) => {
      const admin = await principalOfKind(tx, "admin", ADMIN_ID, "the admin account");
      if (admin.enabled === enabled) return;
      if (!enabled) {
        const now = this.ctx.now().getTime();
        const others = [...(await tx.principals.list("user")), ...(await tx.principals.list("sp"))];
        // Only an owner without a repository scope manages identities (a scoped owner could not re-enable the admin).
        const owner = others.find((p) => p.enabled && p.scope === null && p.roles.includes("owner") && (p.expiresAt === null || p.expiresAt.getTime() > now));
        if (!owner) {
          throw new RegistryError("INVALID_REQUEST", "refusing to disable the admin while no other enabled identity is an owner without a repository scope: add one first (berth user add <name> --role owner)");
        }
      }
      await tx.principals.update(ADMIN_ID, { enabled });
      note({ event: "identity.changed", action: enabled ? "enable" : "disable", detail: { kind: "admin", name: admin.name, enabled }, change: { kind: "principal", id: admin.id } });
    });
    return this.show();
  }

  /** A new password in one slot; the other slot keeps working. Returns it once. */
  async rotatePassword(by: Actor, slot: number): Promise<{ slot: 1 | 2; password: string }> {
    const which = checkSlot(slot);
    const password = this.ctx.passwords.generate();
    const hash = await this.ctx.passwords.hash(password);
    await this.ctx.commit(by, async (tx, note) => {
      const admin = await principalOfKind(tx, "admin", ADMIN_ID, "the admin account");
      await tx.secrets.set(admin.id, { slot: which, hash, expiresAt: null, createdAt: this.ctx.now() });
      note({ event: "secret.rotated", action: "rotate-password", detail: { kind: "admin", name: admin.name, slot: which }, change: { kind: "principal", id: admin.id } });
    });
    return { slot: which, password };
  }
}

// Users: a name, roles and one password (slot 1). The name is the sign-in username.
import { randomUUID } from "node:crypto";
import type { Role } from "../../metadata/identity-types.ts";
import { createPrincipal, principalOfKind, type Actor, type IdentityContext } from "./context.ts";
import { checkName, checkPassword, checkRoles } from "./identity-rules.ts";

export interface UserSummary {
  name: string;
  roles: Role[];
  enabled: boolean;
  created: Date;
}

export class Users {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  async list(): Promise<UserSummary[]> {
    const users = await this.ctx.metadata.principals.list("user");
    return users.map((u) => ({ name: u.name, roles: u.roles, enabled: u.enabled, created: u.createdAt }));
  }

  /** Creates the user with the given password, or a generated one; returns it once. */
  async create(by: Actor, input: { name: string; roles: readonly string[]; password?: string }): Promise<{ name: string; roles: Role[]; password: string }> {
    const name = checkName(input.name, "user");
    const roles = checkRoles(input.roles);
    const password = input.password === undefined ? this.ctx.passwords.generate() : checkPassword(input.password);
    const hash = await this.ctx.passwords.hash(password);
    const id = randomUUID();
    const now = this.ctx.now();
    await this.ctx.commit(by, async (tx, note) => {
      await createPrincipal(tx, { id, kind: "user", name, roles, scope: null, scopeMap: null, enabled: true, expiresAt: null, createdAt: now });
      await tx.secrets.set(id, { slot: 1, hash, expiresAt: null, createdAt: now });
      note({ event: "identity.created", action: "create", detail: { kind: "user", name, roles, passwordGenerated: input.password === undefined }, change: { kind: "principal", id } });
    });
    return { name, roles, password };
  }

  async delete(by: Actor, name: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      const user = await principalOfKind(tx, "user", name, "user");
      await tx.principals.delete(user.id); // its secrets too
      note({ event: "identity.deleted", action: "delete", detail: { kind: "user", name }, change: { kind: "principal", id: user.id } });
    });
  }

  /** Sets the given password, or a generated one; returns it once. */
  async resetPassword(by: Actor, name: string, given?: string): Promise<{ name: string; password: string }> {
    const password = given === undefined ? this.ctx.passwords.generate() : checkPassword(given);
    const hash = await this.ctx.passwords.hash(password);
    await this.ctx.commit(by, async (tx, note) => {
      const user = await principalOfKind(tx, "user", name, "user");
      await tx.secrets.set(user.id, { slot: 1, hash, expiresAt: null, createdAt: this.ctx.now() });
      note({ event: "secret.rotated", action: "reset-password", detail: { kind: "user", name, slot: 1, passwordGenerated: given === undefined }, change: { kind: "principal", id: user.id } });
    });
    return { name, password };
  }
}

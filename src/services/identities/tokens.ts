// Repository-scoped tokens (ACR's `az acr token`): a name that is the sign-in username, bound to
// one scope map, with up to two passwords (each with an optional expiry) rotated one slot at a
// time, and an enabled flag.
import { randomUUID } from "node:crypto";
import type { Principal } from "../../metadata/identity-types.ts";
import type { MetadataParts } from "../../metadata/types.ts";
import { createPrincipal, principalOfKind, unknown, type Actor, type IdentityContext } from "./context.ts";
import { checkName, checkSlot, expiryAfter } from "./identity-rules.ts";

export interface TokenSummary {
  name: string;
  scopeMap: string;
  enabled: boolean;
  passwords: { slot: 1 | 2; expires: Date | null; created: Date }[];
  created: Date;
}

export interface IssuedPassword {
  slot: 1 | 2;
  password: string;
  expires: Date | null;
}

async function requireScopeMap(tx: MetadataParts, name: string): Promise<void> {
  if (!(await tx.scopeMaps.get(name))) throw unknown("scope map", name);
}

export class Tokens {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  private async summary(parts: MetadataParts, token: Principal): Promise<TokenSummary> {
    const secrets = await parts.secrets.list(token.id);
    return {
      name: token.name,
      scopeMap: token.scopeMap ?? "",
      enabled: token.enabled,
      passwords: secrets.map((s) => ({ slot: s.slot, expires: s.expiresAt, created: s.createdAt })),
      created: token.createdAt,
    };
  }

  async list(): Promise<TokenSummary[]> {
    const tokens = await this.ctx.metadata.principals.list("token");
    return Promise.all(tokens.map((t) => this.summary(this.ctx.metadata, t)));
  }

  async get(name: string): Promise<TokenSummary> {
    return this.summary(this.ctx.metadata, await principalOfKind(this.ctx.metadata, "token", name, "token"));
  }

  /** Creates the token with a generated password in slot 1; returns it once. */
  async create(
    by: Actor,
    input: { name: string; scopeMap: string; enabled?: boolean; expiresIn?: number },
  ): Promise<{ name: string; scopeMap: string; enabled: boolean; passwords: IssuedPassword[] }> {
    const name = checkName(input.name, "token");
    const now = this.ctx.now();
    const expires = expiryAfter(now, input.expiresIn);
    const enabled = input.enabled ?? true;
    const password = this.ctx.passwords.generate();
    const hash = await this.ctx.passwords.hash(password);
    const id = randomUUID();
    await this.ctx.commit(by, async (tx, note) => {
      await requireScopeMap(tx, input.scopeMap);
      await createPrincipal(tx, { id, kind: "token", name, roles: [], scope: null, scopeMap: input.scopeMap, enabled, expiresAt: null, createdAt: now });
      await tx.secrets.set(id, { slot: 1, hash, expiresAt: expires, createdAt: now });
      note({
        event: "identity.created",
        action: "create",
        detail: { kind: "token", name, scopeMap: input.scopeMap, enabled, passwordExpires: expires?.toISOString() ?? null },
        change: { kind: "principal", id },
      });
    });
    return { name, scopeMap: input.scopeMap, enabled, passwords: [{ slot: 1, password, expires }] };
  }

  /** Enables, disables or rebinds the token. */
  async update(by: Actor, name: string, change: { enabled?: boolean; scopeMap?: string }): Promise<TokenSummary> {
    await this.ctx.commit(by, async (tx, note) => {
      const token = await principalOfKind(tx, "token", name, "token");
      const set: { enabled?: boolean; scopeMap?: string } = {};
      if (change.enabled !== undefined && change.enabled !== token.enabled) set.enabled = change.enabled;
      if (change.scopeMap !== undefined && change.scopeMap !== token.scopeMap) {
        await requireScopeMap(tx, change.scopeMap);
        set.scopeMap = change.scopeMap;
      }
      if (Object.keys(set).length === 0) return;
      await tx.principals.update(token.id, set);
      note({ event: "identity.changed", action: "update", detail: { kind: "token", name, ...set }, change: { kind: "principal", id: token.id } });
    });
    return this.get(name);
  }

  /** A new password in one slot (the other keeps working); returns it once. */
  async rotatePassword(by: Actor, name: string, slot: number, expiresIn?: number): Promise<IssuedPassword> {
    const which = checkSlot(slot);
    const now = this.ctx.now();
    const expires = expiryAfter(now, expiresIn);
    const password = this.ctx.passwords.generate();
    const hash = await this.ctx.passwords.hash(password);
    await this.ctx.commit(by, async (tx, note) => {
      const token = await principalOfKind(tx, "token", name, "token");
      await tx.secrets.set(token.id, { slot: which, hash, expiresAt: expires, createdAt: now });
      note({
        event: "secret.rotated",
        action: "rotate-password",
        detail: { kind: "token", name, slot: which, expires: expires?.toISOString() ?? null },
        change: { kind: "principal", id: token.id },
      });
    });
    return { slot: which, password, expires };
  }

  async deletePassword(by: Actor, name: string, slot: number): Promise<void> {
    const which = checkSlot(slot);
    await this.ctx.commit(by, async (tx, note) => {
      const token = await principalOfKind(tx, "token", name, "token");
      if (!(await tx.secrets.list(token.id)).some((s) => s.slot === which)) throw unknown(`password ${which} of token`, name);
      await tx.secrets.delete(token.id, which);
      note({ event: "secret.rotated", action: "delete-password", detail: { kind: "token", name, slot: which }, change: { kind: "principal", id: token.id } });
    });
  }

  async delete(by: Actor, name: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      const token = await principalOfKind(tx, "token", name, "token");
      await tx.principals.delete(token.id);
      note({ event: "identity.deleted", action: "delete", detail: { kind: "token", name }, change: { kind: "principal", id: token.id } });
    });
  }
}

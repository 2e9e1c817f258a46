// Scope maps (ACR's `az acr scope-map`): named lists of repository patterns and the actions
// they allow, which tokens are bound to. A map in use by a token cannot be deleted.
import { RegistryError } from "../../domain/errors.ts";
import type { ScopeMap } from "../../metadata/identity-types.ts";
import { unknown, type Actor, type IdentityContext } from "./context.ts";
import { checkName, checkRules, invalid } from "./identity-rules.ts";

export interface ScopeMapSummary {
  name: string;
  description: string;
  rules: ScopeMap["rules"];
}

const MAX_DESCRIPTION = 1024;

function summary(map: ScopeMap): ScopeMapSummary {
  return { name: map.name, description: map.description, rules: map.rules };
}

export class ScopeMaps {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  async list(): Promise<ScopeMapSummary[]> {
    return (await this.ctx.metadata.scopeMaps.list()).map(summary);
  }

  async get(name: string): Promise<ScopeMapSummary> {
    const map = await this.ctx.metadata.scopeMaps.get(name);
    if (!map) throw unknown("scope map", name);
    return summary(map);
  }

  /**
   * Creates or replaces the map (tokens bound to it get the new rules at once). A description
   * left out keeps the stored one.
   */
  async put(by: Actor, name: string, input: { description?: string; rules: readonly { repository: string; actions: readonly string[] }[] }): Promise<{ map: ScopeMapSummary; created: boolean }> {
    checkName(name, "scope map");
    const rules = checkRules(input.rules);
    if (input.description !== undefined && input.description.length > MAX_DESCRIPTION) throw invalid(`a description has at most ${MAX_DESCRIPTION} characters`);
    return this.ctx.commit(by, async (tx, note) => {
      const existing = await tx.scopeMaps.get(name);
      const map: ScopeMap = { name, description: input.description ?? existing?.description ?? "", rules, createdAt: existing?.createdAt ?? this.ctx.now() };
      await tx.scopeMaps.put(map);
      note({
        event: existing ? "identity.changed" : "identity.created",
        action: existing ? "update" : "create",
        detail: { kind: "scope-map", name, rules },
        change: { kind: "scope-map", name },
      });
      return { map: summary(map), created: !existing };
    });
  }

  async delete(by: Actor, name: string): Promise<void> {
    await this.ctx.commit(by, async (tx, note) => {
      if (!(await tx.scopeMaps.get(name))) throw unknown("scope map", name);
      const users = (await tx.principals.list("token")).filter((t) => t.scopeMap === name).map((t) => t.name);
      if (users.length > 0) {
        throw new RegistryError("IDENTITY_EXISTS", `scope map "${name}" is used by token(s) ${users.join(", ")}: delete them or bind them to another map first`, { name, tokens: users });
      }
      await tx.scopeMaps.delete(name);
      note({ event: "identity.deleted", action: "delete", detail: { kind: "scope-map", name }, change: { kind: "scope-map", name } });
    });
  }
}

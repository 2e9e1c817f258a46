// What an identity may do, from its roles, scope or scope map alone (repository attributes are
// applied on top, in authorizer.ts). Roles as ACR has them; owner is everything.
// `manage` on a repository changes its attributes (locks, anonymous pull); on the registry it
// manages identities, the admin user and the audit trail. A service principal's repository scope
// bounds every access: a scoped owner owns its repositories, and nothing registry-wide.
import type { Role, ScopeMapAction } from "../metadata/identity-types.ts";
import { matchesPattern, type Access, type Action, type Identity } from "./identity.ts";

const ROLE_ACTIONS: Record<Role, readonly Action[]> = {
  acrpull: ["pull", "metadata_read", "catalog"],
  acrpush: ["pull", "push", "metadata_read", "metadata_write", "catalog"],
  acrdelete: ["delete", "metadata_read", "catalog"],
  owner: ["pull", "push", "delete", "metadata_read", "metadata_write", "catalog", "manage"],
};

const SCOPE_MAP_ACTIONS: Record<ScopeMapAction, Action> = {
  "content/read": "pull",
  "content/write": "push",
  "content/delete": "delete",
  "metadata/read": "metadata_read",
  "metadata/write": "metadata_write",
  "attributes/write": "manage",
};

function roleAllows(roles: readonly Role[], action: Action): boolean {
  return roles.some((role) => ROLE_ACTIONS[role].includes(action));
}

/** Whether the identity's grants cover the access (anonymous: never; see the authorizer). */
export function permits(who: Identity, access: Access): boolean {
  switch (who.kind) {
    case "anonymous":
      return false;
    case "admin":
      return true;
    case "user":
      return roleAllows(who.roles, access.action);
    case "sp":
      if (!roleAllows(who.roles, access.action)) return false;
      if (who.scope === null) return true;
      // The catalog is filtered per repository afterwards, so a scoped principal may list it.
      return access.type === "repository" ? matchesPattern(who.scope, access.name) : access.action === "catalog";
    case "token":
      if (access.type === "registry") return access.action === "catalog" && who.rules.length > 0;
      return who.rules.some((rule) => matchesPattern(rule.repository, access.name) && rule.actions.some((a) => SCOPE_MAP_ACTIONS[a] === access.action));
    case "bearer":
      return who.access.some((a) => a.type === access.type && a.name === access.name && a.action === access.action);
  }
}

/**
 * The name patterns outside which `permits` never grants this identity pull (null: none), for
 * listings that narrow their query before checking each row (Authorizer.pullScope).
 */
export function pullPatterns(who: Identity): string[] | null {
  switch (who.kind) {
    case "anonymous":
    case "admin":
    case "user":
      return null;
    case "sp":
      return who.scope === null || who.scope === "*" ? null : [who.scope];
    case "token": {
      const patterns = who.rules.filter((rule) => rule.actions.some((a) => SCOPE_MAP_ACTIONS[a] === "pull")).map((rule) => rule.repository);
      return patterns.includes("*") ? null : patterns;
    }
    case "bearer": {
      const named = who.access.filter((a) => a.type === "repository" && a.action === "pull").map((a) => a.name);
      const principal = pullPatterns(who.principal);
      return principal === null ? named : named.filter((name) => principal.some((p) => matchesPattern(p, name)));
    }
  }
}

/**
 * Whether the identity's grants allow the action on at least one repository: a necessary
 * condition, checked before reading a body whose repository is named inside it (a classic chart
 * push: Chart.yaml), so a caller who may push nowhere is refused before the body is read.
 */
export function permitsSomewhere(who: Identity, action: Action): boolean {
  switch (who.kind) {
    case "anonymous":
      return false;
    case "admin":
      return true;
    case "user":
    case "sp":
      return roleAllows(who.roles, action);
    case "token":
      return who.rules.some((rule) => rule.actions.some((a) => SCOPE_MAP_ACTIONS[a] === action));
    case "bearer":
      return who.access.some((a) => a.type === "repository" && a.action === action) && permitsSomewhere(who.principal, action);
  }
}

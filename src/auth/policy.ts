// What an identity may do, from its roles, scope or scope map alone (repository attributes are
// applied on top, in authorizer.ts). Roles as ACR has them; owner is everything.
// `manage` on a repository changes its attributes (locks, anonymous pull); on the registry it
// manages identities, the admin user and the audit trail. A service principal's repository scope
// bounds every access: a scoped owner owns its repositories, and nothing registry-wide.
//
// Every kind of identity is read once, by grantsOf, into one shape; the questions below
// (may it do this, may it do this anywhere, where may it pull) are all asked of that shape.
import type { Role, ScopeMapAction } from "../metadata/identity-types.ts";
import { coversPattern, matchesPattern } from "../domain/names.ts";
import { ACTIONS, type Access, type Action, type Identity } from "./identity.ts";

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

/** Actions allowed on the registry, or on the repositories a pattern (matchesPattern) names. */
interface Grant {
  type: Access["type"];
  pattern: string;
  actions: readonly Action[];
  /** The pattern is a name, compared as it is: an access token's `repository:*:pull` grants a repository named `*`, nothing else. */
  exact?: boolean;
}

function everywhere(actions: readonly Action[]): Grant[] {
  return [
    { type: "registry", pattern: "*", actions },
    { type: "repository", pattern: "*", actions },
  ];
}

function grantsOf(who: Identity): Grant[] {
  switch (who.kind) {
    case "anonymous":
      return []; // anonymous pull is the authorizer's, from the settings
    case "admin":
      return everywhere(ACTIONS);
    case "user":
      return everywhere(who.roles.flatMap((role) => ROLE_ACTIONS[role]));
    case "sp": {
      const actions = who.roles.flatMap((role) => ROLE_ACTIONS[role]);
      if (who.scope === null) return everywhere(actions);
      // The catalog is filtered per repository afterwards, so a scoped principal may list it.
      return [
        { type: "repository", pattern: who.scope, actions },
        { type: "registry", pattern: "*", actions: actions.filter((a) => a === "catalog") },
      ];
    }
    case "token": {
      const grants: Grant[] = who.rules.map((rule) => ({ type: "repository", pattern: rule.repository, actions: rule.actions.map((a) => SCOPE_MAP_ACTIONS[a]) }));
      return who.rules.length > 0 ? [...grants, { type: "registry", pattern: "*", actions: ["catalog"] }] : grants;
    }
    case "bearer":
      // The principal bounds these in the authorizer.
      return who.access.map((a) => ({ type: a.type, pattern: a.name, actions: [a.action], exact: true }));
  }
}

/** Whether the identity's grants cover the access (anonymous: never; see the authorizer). */
export function permits(who: Identity, access: Access): boolean {
  return grantsOf(who).some((g) => g.type === access.type && g.actions.includes(access.action) && (g.exact ? g.pattern === access.name : matchesPattern(g.pattern, access.name)));
}

/**
 * The name patterns outside which `permits` never grants this identity pull (null: none), for
 * listings that narrow their query before checking each row (Authorizer.pullScope).
 */
export function pullPatterns(who: Identity): string[] | null {
  // Anonymous pull is decided row by row, from each repository's settings.
  if (who.kind === "anonymous") return null;
  const patterns = grantsOf(who)
    .filter((g) => g.type === "repository" && g.actions.includes("pull"))
    .map((g) => g.pattern);
  if (who.kind !== "bearer") return patterns.includes("*") ? null : patterns;
  const principal = pullPatterns(who.principal);
  return principal === null ? patterns : patterns.filter((name) => principal.some((p) => matchesPattern(p, name)));
}

/**
 * Whether the identity's grants allow the action on at least one repository: a necessary
 * condition, checked before reading a body whose repository is named inside it (a classic chart
 * push: Chart.yaml), so a caller who may push nowhere is refused before the body is read.
 */
export function permitsSomewhere(who: Identity, action: Action): boolean {
  const own = grantsOf(who).some((g) => g.type === "repository" && g.actions.includes(action));
  return who.kind === "bearer" ? own && permitsSomewhere(who.principal, action) : own;
}

/**
 * Whether the identity's grants allow the action on every repository the pattern names (a
 * quota's figures go only to whoever may pull everywhere in its scope: domain/quotas.ts).
 * Anonymous: never. A bearer token is judged by the principal it was issued to: docker, oras and
 * helm push with a token narrowed to each request's repositories, so judging the token would keep
 * every figure from the owner who set the quota.
 */
export function permitsAll(who: Identity, action: Action, pattern: string): boolean {
  if (who.kind === "bearer") return permitsAll(who.principal, action, pattern);
  return grantsOf(who).some((g) => g.type === "repository" && g.actions.includes(action) && coversPattern(g.pattern, pattern));
}

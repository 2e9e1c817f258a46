// The checks on what callers name and ask for: identity names, roles, repository patterns,
// scope-map actions, passwords and lifetimes. Each throws a RegistryError whose message says
// what is allowed.
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName } from "../../domain/names.ts";
import { ROLES, SCOPE_MAP_ACTIONS, type Principal, type Role, type ScopeMap, type ScopeMapAction } from "../../metadata/identity-types.ts";

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** "admin" is the admin principal; the zero GUID is the refresh-token user (ACR's convention). */
const RESERVED = new Set(["admin", "00000000-0000-0000-0000-000000000000"]);
const KIND_WORDS: Record<Principal["kind"], string> = { admin: "the admin", user: "a user", sp: "a service principal", token: "a token" };

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;
/** Ten years: longer lifetimes are a typo more often than a wish. */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

export function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError("INVALID_REQUEST", message, detail);
}

/**
 * User, service-principal, token and scope-map names. One namespace for principals: a name is
 * what clients send as the username, so a user and a token may not share one. UUID-shaped
 * names are refused because service principals sign in with their UUID.
 */
export function checkName(name: string, what: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new RegistryError("NAME_INVALID", `invalid ${what} name "${name.slice(0, 100)}": 1 to 63 of letters, digits and . _ -, starting with a letter or digit`, { name: name.slice(0, 100) });
  }
  if (RESERVED.has(name.toLowerCase())) throw new RegistryError("NAME_INVALID", `the name "${name}" is reserved: choose another ${what} name`, { name });
  if (UUID_PATTERN.test(name)) throw new RegistryError("NAME_INVALID", `a ${what} name may not look like a UUID (service principals sign in with theirs)`, { name });
  return name;
}

export function nameTaken(name: string, holder: Principal): RegistryError {
  return new RegistryError("IDENTITY_EXISTS", `the name "${name}" is already taken by ${KIND_WORDS[holder.kind]}`, { name, kind: holder.kind });
}

export function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) throw invalid(`unknown role "${role.slice(0, 100)}": use one of ${ROLES.join(", ")}`, { role: role.slice(0, 100), allowed: ROLES });
  return role as Role;
}

/** At least one role, each known; duplicates dropped. */
export function checkRoles(roles: readonly string[]): Role[] {
  if (roles.length === 0) throw invalid(`give at least one role: ${ROLES.join(", ")}`);
  return [...new Set(roles.map(checkRole))];
}

/** `*`, `prefix/*` or a repository name, as scope maps and service-principal scopes use them. */
export function checkPattern(pattern: string): string {
  const refuse = () =>
    invalid(`invalid repository pattern "${pattern.slice(0, 300)}": use a repository name (team/app), a prefix ending in /* (team/*), or * for all`, {
      pattern: pattern.slice(0, 300),
    });
  if (pattern === "*") return pattern;
  const name = pattern.endsWith("/*") ? pattern.slice(0, -2) : pattern;
  try {
    parseRepositoryName(name);
  } catch {
    throw refuse();
  }
  return pattern;
}

export function checkRules(rules: readonly { repository: string; actions: readonly string[] }[]): ScopeMap["rules"] {
  if (rules.length === 0) throw invalid("a scope map needs at least one rule: {repository, actions}");
  return rules.map((rule) => {
    const repository = checkPattern(rule.repository);
    if (rule.actions.length === 0) throw invalid(`the rule for "${repository}" names no action: use ${SCOPE_MAP_ACTIONS.join(", ")}`);
    const actions = rule.actions.map((action) => {
      if (!(SCOPE_MAP_ACTIONS as readonly string[]).includes(action)) {
        throw invalid(`unknown scope-map action "${action.slice(0, 100)}": use ${SCOPE_MAP_ACTIONS.join(", ")}`, { action: action.slice(0, 100), allowed: SCOPE_MAP_ACTIONS });
      }
      return action as ScopeMapAction;
    });
    return { repository, actions: [...new Set(actions)] };
  });
}

export function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw invalid(`a password has ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters (omit it to have one generated)`);
  }
  return password;
}

/** A lifetime in whole seconds from now, or null for none. */
export function expiryAfter(now: Date, seconds: number | undefined): Date | null {
  if (seconds === undefined) return null;
  if (!Number.isInteger(seconds) || seconds <= 0 || seconds > MAX_LIFETIME_SECONDS) {
    throw invalid(`expiresIn is a whole number of seconds from 1 to ${MAX_LIFETIME_SECONDS} (ten years)`, { expiresIn: seconds });
  }
  return new Date(now.getTime() + seconds * 1000);
}

export function checkSlot(slot: number): 1 | 2 {
  if (slot !== 1 && slot !== 2) throw invalid("a password slot is 1 or 2", { slot });
  return slot;
}

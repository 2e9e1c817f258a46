// Who asks, and what they ask to do. One Access type serves route declarations, token scopes
// (`repository:team/app:pull,push`), scope maps and repository attributes.
import type { Role, ScopeMap } from "../metadata/identity-types.ts";

export const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

export type Identity =
  | { kind: "anonymous" }
  | { kind: "admin"; id: string; name: string }
  | { kind: "user"; id: string; name: string; roles: Role[] }
  | { kind: "sp"; id: string; name: string; roles: Role[]; scope: string | null }
  | { kind: "token"; id: string; name: string; rules: ScopeMap["rules"] }
  /**
   * A signed access token: the access it grants, bounded by what its principal (as it is now;
   * anonymous for anonymous tokens) may do.
   */
  | { kind: "bearer"; subject: string; name: string; access: Access[]; principal: Exclude<Identity, { kind: "bearer" }> };

export type Action = "pull" | "push" | "delete" | "metadata_read" | "metadata_write" | "catalog" | "manage";
export const ACTIONS: readonly Action[] = ["pull", "push", "delete", "metadata_read", "metadata_write", "catalog", "manage"];

export interface Access {
  type: "registry" | "repository";
  name: string;
  action: Action;
  /** A tag the request touches, for tag attributes (writeEnabled on one tag locks it). */
  tag?: string;
  /** Content the request names by digest (a manifest, a blob, a subject): bound by the locks of the tags that cover it. */
  digest?: string;
}

export const CATALOG: Access = { type: "registry", name: "catalog", action: "catalog" };
export const MANAGE: Access = { type: "registry", name: "identities", action: "manage" };

/**
 * Whether nobody signed in: no credentials, or an anonymous access token (the token endpoint
 * gives one to anyone; it carries only what anonymous pull allows).
 */
export function isAnonymous(who: Identity): boolean {
  return who.kind === "anonymous" || (who.kind === "bearer" && who.principal.kind === "anonymous");
}

export function describeIdentity(who: Identity): string {
  switch (who.kind) {
    case "anonymous":
      return "anonymous";
    case "bearer":
      return who.name;
    case "sp":
      return `sp:${who.id}`;
    case "token":
      return `token:${who.name}`;
    default:
      return who.name;
  }
}

// The repository pattern rule lives in domain/ (webhook scopes use it too).
export { matchesPattern } from "../domain/names.ts";

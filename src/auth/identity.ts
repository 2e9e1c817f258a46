// Who asks, and what they ask to do. One Access type serves route declarations now and token
// scopes later.
export type Identity = { kind: "anonymous" } | { kind: "admin"; name: string };

export type Action = "pull" | "push" | "delete";

export interface Access {
  type: "registry" | "repository";
  name: string;
  action: Action | "catalog";
}

export function describeIdentity(who: Identity): string {
  return who.kind === "anonymous" ? "anonymous" : who.name;
}

// The identity parts of the metadata store: who may sign in (principals and their secrets),
// what scope maps grant, repository and tag attributes, the audit trail, token-signing keys.

export type PrincipalKind = "admin" | "user" | "sp" | "token";
export type Role = "acrpull" | "acrpush" | "acrdelete" | "owner";
export const ROLES: readonly Role[] = ["acrpull", "acrpush", "acrdelete", "owner"];

export interface Principal {
  id: string;
  kind: PrincipalKind;
  name: string;
  roles: Role[];
  /** Service principals: the repositories they may act on (a pattern such as `team/*`); null: all. */
  scope: string | null;
  /** Tokens: the scope map they are bound to. */
  scopeMap: string | null;
  enabled: boolean;
  expiresAt: Date | null;
  createdAt: Date;
}

export interface Secret {
  slot: 1 | 2;
  hash: string;
  expiresAt: Date | null;
  createdAt: Date;
}

/**
 * ACR's scope-map actions, and Berth's `attributes/write`: changing a repository's or tag's locks
 * and anonymous pull, kept apart from `metadata/write` (provenance metadata), as ACR asks more
 * than AcrPush for `az acr repository update`.
 */
export type ScopeMapAction = "content/read" | "content/write" | "content/delete" | "metadata/read" | "metadata/write" | "attributes/write";
export const SCOPE_MAP_ACTIONS: readonly ScopeMapAction[] = ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write", "attributes/write"];

export interface ScopeMap {
  name: string;
  description: string;
  /** Repository patterns (`team/app`, `team/*`, `*`) and what they allow. */
  rules: { repository: string; actions: ScopeMapAction[] }[];
  createdAt: Date;
}

/** ACR's repository and tag attributes; a missing row means all enabled. */
export interface Attributes {
  readEnabled: boolean;
  writeEnabled: boolean;
  deleteEnabled: boolean;
  listEnabled: boolean;
  /** Repository level only: anonymous pull for this repository even when the registry has it off. */
  anonymousPull: boolean;
}

export const DEFAULT_ATTRIBUTES: Attributes = { readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: true, anonymousPull: false };

export interface AuditEvent {
  id: string;
  at: Date;
  /** e.g. sign-in, token.issued, identity.created, access.denied */
  event: string;
  identity: string;
  action: string;
  repository: string | null;
  outcome: "success" | "failure" | "denied";
  client: string | null;
  detail: Record<string, unknown> | null;
}

/** Which audit events to read: exact fields, and a time range (from inclusive, to exclusive). */
export interface AuditFilter {
  identity?: string;
  event?: string;
  action?: string;
  repository?: string;
  outcome?: AuditEvent["outcome"];
  from?: Date;
  to?: Date;
}

export interface SigningKey {
  kid: string;
  algorithm: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export interface PrincipalRows {
  create(principal: Principal): Promise<void>;
  /** Creates the principal unless one with its id exists (one statement); true when this call created it. */
  ensure(principal: Principal): Promise<boolean>;
  get(id: string): Promise<Principal | null>;
  byName(name: string): Promise<Principal | null>;
  list(kind?: PrincipalKind): Promise<Principal[]>;
  update(id: string, change: Partial<Pick<Principal, "roles" | "scope" | "scopeMap" | "enabled" | "expiresAt">>): Promise<boolean>;
  delete(id: string): Promise<boolean>;
}

export interface SecretRows {
  set(principalId: string, secret: Secret): Promise<void>;
  list(principalId: string): Promise<Secret[]>;
  delete(principalId: string, slot?: 1 | 2): Promise<void>;
}

export interface ScopeMapRows {
  put(map: ScopeMap): Promise<void>;
  get(name: string): Promise<ScopeMap | null>;
  list(): Promise<ScopeMap[]>;
  delete(name: string): Promise<boolean>;
}

export interface AttributeRows {
  /** The repository's attributes ("" tag) or a tag's; null when never set. */
  get(repository: string, tag: string): Promise<Attributes | null>;
  set(repository: string, tag: string, attributes: Attributes): Promise<void>;
  /** Every row: (repository, tag "" for the repository itself) → attributes. */
  all(): Promise<{ repository: string; tag: string; attributes: Attributes }[]>;
  /** Tags of a repository whose attributes hide them from listings. */
  unlisted(repository: string): Promise<string[]>;
  /** Repositories hidden from listings (listEnabled false at repository level). */
  unlistedRepositories(): Promise<string[]>;
}

export interface AuditRows {
  append(event: AuditEvent): Promise<void>;
  /** Newest first, at most `limit`, only those matching every field of the filter given. */
  recent(limit: number, filter?: AuditFilter): Promise<AuditEvent[]>;
}

/** A portal session (migration 011): found by the SHA-256 of its cookie value. */
export interface Session {
  idHash: string;
  principalId: string;
  /** The stamp of the secret that signed in: the session ends with that secret. */
  credential: string;
  csrf: string;
  createdAt: Date;
  expiresAt: Date;
}

/** One sign-in limit key's count (auth/rate-limit.ts decides what it means). */
export interface SignInState {
  /** Times (ms) of the failures inside the window. */
  failures: number[];
  blockedUntil: number;
  /** How many times in a row the key reached its limit. */
  strikes: number;
}

export interface SignInFailureRows {
  /** The states of these keys that have one. */
  get(keys: readonly string[]): Promise<Map<string, SignInState>>;
  /**
   * Replaces a key's state with `next(current)`, read and written as one step under the key's
   * lock: failures counted on several instances at once all count.
   */
  update(key: string, next: (current: SignInState | null) => SignInState): Promise<SignInState>;
  /** Drops keys untouched since `before` (ms) whose block ended before it; returns how many. */
  prune(before: number): Promise<number>;
}

export interface SessionRows {
  create(session: Session): Promise<void>;
  get(idHash: string): Promise<Session | null>;
  delete(idHash: string): Promise<boolean>;
  /** Drops sessions that expired before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
}

export interface SigningKeyRows {
  add(key: SigningKey): Promise<void>;
  /**
   * Adds the key only while no key is active, deciding and adding as one step: processes
   * starting together on an empty database add one first key, not one each. True when added.
   */
  addFirst(key: SigningKey): Promise<boolean>;
  /** Keys not retired, newest first. */
  active(): Promise<SigningKey[]>;
  retire(kid: string): Promise<void>;
}

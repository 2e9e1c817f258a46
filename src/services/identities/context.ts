// What every identity noun shares: the store, password functions (injected: services may not
// import auth/), the clock, and `commit`, which runs one change, its audit event and its entry in
// the change log in one transaction (the change feed then drops cached sign-ins and reloads
// attributes, in this process before the call returns and in every other within a second).
import { randomUUID } from "node:crypto";
import type { Change, ChangeActor } from "../../domain/changes.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { AuditEvent, Principal, PrincipalKind } from "../../metadata/identity-types.ts";
import type { MetadataParts, MetadataStore } from "../../metadata/types.ts";
import { nameTaken } from "./identity-rules.ts";

/** Who makes a change: the identity's description (as in access logs) and the client address. */
export interface Actor {
  identity: string;
  client: string | null;
  /** The request's view of the caller, for the change log (the event's actor); absent: Berth itself. */
  actor?: ChangeActor;
}

/** Injected from app.ts (auth/passwords.ts): scrypt hashing and random generation. */
export interface PasswordFunctions {
  hash(password: string): Promise<string>;
  generate(): string;
}

/** What changed: becomes an `identity.changed` or `attributes.changed` entry of the change log. */
export type IdentityChange =
  | { kind: "principal"; id: string }
  | { kind: "scope-map"; name: string }
  | { kind: "attributes"; repository: string; tag: string }
  | { kind: "tag-rules"; id: string }
  | { kind: "quotas"; scope: string }
  | { kind: "retention-policies"; id: string };

export interface IdentityServiceOptions {
  metadata: MetadataStore;
  passwords: PasswordFunctions;
  now?: () => Date;
}

/** An audit entry as a change describes it; id, time, identity, client and outcome are filled in. */
export interface AuditNote {
  event: "identity.created" | "identity.deleted" | "identity.changed" | "secret.rotated" | "attributes.changed" | "tag-rule.changed" | "quota.changed" | "retention-policy.changed";
  action: string;
  repository?: string | null;
  /** Names, kinds, roles, slots: never a secret or a hash. */
  detail: Record<string, unknown>;
  /** What the change log records. */
  change: IdentityChange;
}

export class IdentityContext {
  readonly metadata: MetadataStore;
  readonly passwords: PasswordFunctions;
  private readonly clock: () => Date;

  constructor(options: IdentityServiceOptions) {
    this.metadata = options.metadata;
    this.passwords = options.passwords;
    this.clock = options.now ?? (() => new Date());
  }

  now(): Date {
    return this.clock();
  }

  /** Runs `work`, the audit events it notes and their changes in one transaction. */
  async commit<T>(by: Actor, work: (tx: MetadataParts, note: (entry: AuditNote) => void) => Promise<T>): Promise<T> {
    const notes: AuditNote[] = [];
    const actor: ChangeActor = by.actor ?? { name: by.identity, kind: "system", address: by.client, userAgent: null };
    const value = await this.metadata.transaction(async (tx) => {
      notes.length = 0; // a retried transaction notes afresh
      const result = await work(tx, (entry) => notes.push(entry));
      for (const entry of notes) {
        const audited = this.auditEvent(by, entry);
        await tx.audit.append(audited);
        // The event links to its audit line (the audit line holds the detail).
        await tx.changes.append(toChange(entry.change, audited.id));
      }
      return result;
    }, { actor });
    return value;
  }

  private auditEvent(by: Actor, entry: AuditNote): AuditEvent {
    return {
      id: `${Date.now().toString(36)}-${randomUUID()}`,
      at: this.now(),
      event: entry.event,
      identity: by.identity,
      action: entry.action,
      repository: entry.repository ?? null,
      outcome: "success",
      client: by.client,
      detail: entry.detail,
    };
  }
}

function toChange(change: IdentityChange, audit: string): Change {
  switch (change.kind) {
    case "principal":
      return { kind: "identity.changed", principal: change.id, scopeMap: null, audit };
    case "scope-map":
      return { kind: "identity.changed", principal: null, scopeMap: change.name, audit };
    case "attributes":
      return { kind: "attributes.changed", repository: change.repository, tag: change.tag, audit };
    case "tag-rules":
      return { kind: "tag-rules.changed", id: change.id, audit };
    case "quotas":
      return { kind: "quotas.changed", scope: change.scope, audit };
    case "retention-policies":
      return { kind: "retention-policies.changed", id: change.id, audit };
  }
}

/** Creates a principal whose name must be free across every kind (the name is the sign-in username). */
export async function createPrincipal(tx: MetadataParts, principal: Principal): Promise<void> {
  const holder = await tx.principals.byName(principal.name);
  if (holder) throw nameTaken(principal.name, holder);
  try {
    await tx.principals.create(principal);
  } catch (err) {
    // Two requests raced for the name: the unique constraint decided.
    if (/unique|duplicate/i.test(String((err as Error).message))) throw new RegistryError("IDENTITY_EXISTS", `the name "${principal.name}" is already taken`, { name: principal.name });
    throw err;
  }
}

export function unknown(what: string, name: string): RegistryError {
  return new RegistryError("IDENTITY_UNKNOWN", `${what} "${name.slice(0, 100)}" does not exist`, { name: name.slice(0, 100) });
}

/** A principal of one kind, by name (or id for service principals), or IDENTITY_UNKNOWN. */
export async function principalOfKind(parts: MetadataParts, kind: PrincipalKind, key: string, what: string): Promise<Principal> {
  const found = kind === "sp" || kind === "admin" ? await parts.principals.get(key) : await parts.principals.byName(key);
  if (!found || found.kind !== kind) throw unknown(what, key);
  return found;
}

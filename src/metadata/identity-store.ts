// Identity parts of the metadata store over Kysely (portable SQL, as kysely-store.ts).
import type { Kysely, Transaction } from "kysely";
import type {
  Attributes, AttributeRows, AuditEvent, AuditFilter, AuditRows, Principal, PrincipalKind, PrincipalRows, Role, ScopeMap, ScopeMapRows, Secret, SecretRows,
  Session, SessionRows, SignInFailureRows, SignInState, SigningKey, SigningKeyRows,
} from "./identity-types.ts";
import { holdKeyLock, holdLock } from "./locks.ts";
import type { Database } from "./schema.ts";

type Db = Kysely<Database> | Transaction<Database>;
const date = (ms: number | null): Date | null => (ms === null ? null : new Date(Number(ms)));

function toPrincipal(row: Database["principals"]): Principal {
  return {
    id: row.id,
    kind: row.kind as PrincipalKind,
    name: row.name,
    roles: JSON.parse(row.roles) as Role[],
    scope: row.scope,
    scopeMap: row.scope_map,
    enabled: Number(row.enabled) === 1,
    expiresAt: date(row.expires_at),
    createdAt: new Date(Number(row.created_at)),
  };
}

function principalRow(p: Principal): Database["principals"] {
  return {
    id: p.id,
    kind: p.kind,
    name: p.name,
    roles: JSON.stringify(p.roles),
    scope: p.scope,
    scope_map: p.scopeMap,
    enabled: p.enabled ? 1 : 0,
    expires_at: p.expiresAt?.getTime() ?? null,
    created_at: p.createdAt.getTime(),
  };
}

export class Principals implements PrincipalRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async create(p: Principal) {
    await this.db.insertInto("principals").values(principalRow(p)).execute();
  }
  async ensure(p: Principal) {
    // No conflict target: PostgreSQL resolves only the named index's conflict, and two instances
    // inserting the same principal at once may meet first on the unique name (a duplicate-key error
    // on principals_name_key, seen in the contract suite); without a target every unique index is.
    const inserted = await this.db.insertInto("principals").values(principalRow(p)).onConflict((c) => c.doNothing()).executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  }
  async get(id: string) {
    const row = await this.db.selectFrom("principals").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toPrincipal(row) : null;
  }
  async byName(name: string) {
    const row = await this.db.selectFrom("principals").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? toPrincipal(row) : null;
  }
  async list(kind?: PrincipalKind) {
    let query = this.db.selectFrom("principals").selectAll().orderBy("name");
    if (kind) query = query.where("kind", "=", kind);
    return (await query.execute()).map(toPrincipal);
  }
  async update(id: string, change: Partial<Pick<Principal, "roles" | "scope" | "scopeMap" | "enabled" | "expiresAt">>) {
    const set: Partial<Database["principals"]> = {};
    if (change.roles) set.roles = JSON.stringify(change.roles);
    if (change.scope !== undefined) set.scope = change.scope;
    if (change.scopeMap !== undefined) set.scope_map = change.scopeMap;
    if (change.enabled !== undefined) set.enabled = change.enabled ? 1 : 0;
    if (change.expiresAt !== undefined) set.expires_at = change.expiresAt?.getTime() ?? null;
    if (Object.keys(set).length === 0) return (await this.get(id)) !== null;
    const result = await this.db.updateTable("principals").set(set).where("id", "=", id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
  async delete(id: string) {
    await this.db.deleteFrom("secrets").where("principal_id", "=", id).execute();
    const result = await this.db.deleteFrom("principals").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

export class Secrets implements SecretRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async set(principalId: string, s: Secret) {
    const row = { principal_id: principalId, slot: s.slot, hash: s.hash, expires_at: s.expiresAt?.getTime() ?? null, created_at: s.createdAt.getTime() };
    await this.db
      .insertInto("secrets")
      .values(row)
      .onConflict((c) => c.columns(["principal_id", "slot"]).doUpdateSet({ hash: row.hash, expires_at: row.expires_at, created_at: row.created_at }))
      .execute();
  }
  async list(principalId: string) {
    const rows = await this.db.selectFrom("secrets").selectAll().where("principal_id", "=", principalId).orderBy("slot").execute();
    return rows.map((r) => ({ slot: Number(r.slot) as 1 | 2, hash: r.hash, expiresAt: date(r.expires_at), createdAt: new Date(Number(r.created_at)) }));
  }
  async delete(principalId: string, slot?: 1 | 2) {
    let query = this.db.deleteFrom("secrets").where("principal_id", "=", principalId);
    if (slot) query = query.where("slot", "=", slot);
    await query.execute();
  }
}

export class ScopeMaps implements ScopeMapRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async put(map: ScopeMap) {
    const row = { name: map.name, description: map.description, rules: JSON.stringify(map.rules), created_at: map.createdAt.getTime() };
    await this.db.insertInto("scope_maps").values(row).onConflict((c) => c.column("name").doUpdateSet({ description: row.description, rules: row.rules })).execute();
  }
  async get(name: string) {
    const row = await this.db.selectFrom("scope_maps").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? { name: row.name, description: row.description, rules: JSON.parse(row.rules) as ScopeMap["rules"], createdAt: new Date(Number(row.created_at)) } : null;
  }
  async list() {
    const rows = await this.db.selectFrom("scope_maps").selectAll().orderBy("name").execute();
    return rows.map((row) => ({ name: row.name, description: row.description, rules: JSON.parse(row.rules) as ScopeMap["rules"], createdAt: new Date(Number(row.created_at)) }));
  }
  async delete(name: string) {
    const result = await this.db.deleteFrom("scope_maps").where("name", "=", name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function toAttributes(row: Database["repository_attributes"]): Attributes {
  return {
    readEnabled: Number(row.read_enabled) === 1,
    writeEnabled: Number(row.write_enabled) === 1,
    deleteEnabled: Number(row.delete_enabled) === 1,
    listEnabled: Number(row.list_enabled) === 1,
    anonymousPull: Number(row.anonymous_pull) === 1,
  };
}

export class AttributeStore implements AttributeRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async get(repository: string, tag: string) {
    const row = await this.db.selectFrom("repository_attributes").selectAll().where("repository", "=", repository).where("tag", "=", tag).executeTakeFirst();
    return row ? toAttributes(row) : null;
  }
  async all() {
    const rows = await this.db.selectFrom("repository_attributes").selectAll().execute();
    return rows.map((row) => ({ repository: row.repository, tag: row.tag, attributes: toAttributes(row) }));
  }
  async set(repository: string, tag: string, a: Attributes) {
    const values = {
      read_enabled: a.readEnabled ? 1 : 0,
      write_enabled: a.writeEnabled ? 1 : 0,
      delete_enabled: a.deleteEnabled ? 1 : 0,
      list_enabled: a.listEnabled ? 1 : 0,
      anonymous_pull: a.anonymousPull ? 1 : 0,
    };
    await this.db
      .insertInto("repository_attributes")
      .values({ repository, tag, ...values })
      .onConflict((c) => c.columns(["repository", "tag"]).doUpdateSet(values))
      .execute();
  }
  async unlisted(repository: string) {
    const rows = await this.db.selectFrom("repository_attributes").select("tag").where("repository", "=", repository).where("tag", "!=", "").where("list_enabled", "=", 0).execute();
    return rows.map((r) => r.tag);
  }
  async unlistedRepositories() {
    const rows = await this.db.selectFrom("repository_attributes").select("repository").where("tag", "=", "").where("list_enabled", "=", 0).execute();
    return rows.map((r) => r.repository);
  }
}

export class Audit implements AuditRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async append(e: AuditEvent) {
    await this.db
      .insertInto("audit_events")
      .values({
        id: e.id,
        at: e.at.getTime(),
        event: e.event,
        identity: e.identity,
        action: e.action,
        repository: e.repository,
        outcome: e.outcome,
        client: e.client,
        detail: e.detail ? JSON.stringify(e.detail) : null,
      })
      .execute();
  }
  async recent(limit: number, filter: AuditFilter = {}) {
    let query = this.db.selectFrom("audit_events").selectAll();
    for (const field of ["identity", "event", "action", "repository", "outcome"] as const) {
      const value = filter[field];
      if (value !== undefined) query = query.where(field, "=", value);
    }
    if (filter.from) query = query.where("at", ">=", filter.from.getTime());
    if (filter.to) query = query.where("at", "<", filter.to.getTime());
    const rows = await query.orderBy("at", "desc").orderBy("id", "desc").limit(limit).execute();
    return rows.map((r) => ({
      id: r.id,
      at: new Date(Number(r.at)),
      event: r.event,
      identity: r.identity,
      action: r.action,
      repository: r.repository,
      outcome: r.outcome as AuditEvent["outcome"],
      client: r.client,
      detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
    }));
  }
}

function signingKeyRow(k: SigningKey): Database["signing_keys"] {
  return { kid: k.kid, algorithm: k.algorithm, private_jwk: k.privateJwk, public_jwk: k.publicJwk, created_at: k.createdAt.getTime(), retired_at: k.retiredAt?.getTime() ?? null };
}

export class SigningKeys implements SigningKeyRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async add(k: SigningKey) {
    await this.db.insertInto("signing_keys").values(signingKeyRow(k)).execute();
  }
  async addFirst(k: SigningKey): Promise<boolean> {
    if (!this.db.isTransaction) return (this.db as Kysely<Database>).transaction().execute((trx) => new SigningKeys(trx).addFirst(k));
    await holdLock(this.db, "signing-keys:first");
    if ((await this.db.selectFrom("signing_keys").select("kid").where("retired_at", "is", null).limit(1).executeTakeFirst()) !== undefined) return false;
    await this.add(k);
    return true;
  }
  async active() {
    const rows = await this.db.selectFrom("signing_keys").selectAll().where("retired_at", "is", null).orderBy("created_at", "desc").execute();
    return rows.map((r) => ({ kid: r.kid, algorithm: r.algorithm, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createdAt: new Date(Number(r.created_at)), retiredAt: date(r.retired_at) }));
  }
  async retire(kid: string) {
    await this.db.updateTable("signing_keys").set({ retired_at: Date.now() }).where("kid", "=", kid).execute();
  }
}

export class Sessions implements SessionRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async create(s: Session) {
    await this.db
      .insertInto("sessions")
      .values({ id_hash: s.idHash, principal_id: s.principalId, credential: s.credential, csrf: s.csrf, created_at: s.createdAt.getTime(), expires_at: s.expiresAt.getTime() })
      .execute();
  }
  async get(idHash: string) {
    const r = await this.db.selectFrom("sessions").selectAll().where("id_hash", "=", idHash).executeTakeFirst();
    return r
      ? { idHash: r.id_hash, principalId: r.principal_id, credential: r.credential, csrf: r.csrf, createdAt: new Date(Number(r.created_at)), expiresAt: new Date(Number(r.expires_at)) }
      : null;
  }
  async delete(idHash: string) {
    const result = await this.db.deleteFrom("sessions").where("id_hash", "=", idHash).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  async deleteExpired(now: Date) {
    const result = await this.db.deleteFrom("sessions").where("expires_at", "<", now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

class SignInFailures implements SignInFailureRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async get(keys: readonly string[]) {
    const found = new Map<string, SignInState>();
    if (keys.length === 0) return found;
    for (const row of await this.db.selectFrom("sign_in_failures").selectAll().where("key", "in", [...keys]).execute()) {
      found.set(row.key, { failures: JSON.parse(row.failures) as number[], blockedUntil: Number(row.blocked_until), strikes: Number(row.strikes) });
    }
    return found;
  }
  async update(key: string, next: (current: SignInState | null) => SignInState): Promise<SignInState> {
    if (!this.db.isTransaction) return (this.db as Kysely<Database>).transaction().execute((trx) => new SignInFailures(trx).update(key, next));
    await holdKeyLock(this.db, "sign-in", key);
    const state = next((await this.get([key])).get(key) ?? null);
    const row = { failures: JSON.stringify(state.failures), blocked_until: state.blockedUntil, strikes: state.strikes, updated_at: Date.now() };
    await this.db.insertInto("sign_in_failures").values({ key, ...row }).onConflict((c) => c.column("key").doUpdateSet(row)).execute();
    return state;
  }
  async prune(before: number) {
    const result = await this.db.deleteFrom("sign_in_failures").where("updated_at", "<", before).where("blocked_until", "<", before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export function identityParts(db: Db) {
  return {
    principals: new Principals(db),
    secrets: new Secrets(db),
    scopeMaps: new ScopeMaps(db),
    attributes: new AttributeStore(db),
    audit: new Audit(db),
    signingKeys: new SigningKeys(db),
    sessions: new Sessions(db),
    signInFailures: new SignInFailures(db),
  };
}

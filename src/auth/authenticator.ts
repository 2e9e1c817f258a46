// Who is asking: HTTP Basic for every kind of principal (the admin with either of its two
// passwords, users, service principals by id, scoped tokens by name, and the zero-GUID user
// with a refresh or access token as password), or `Bearer <access token>`.
//
// Verifying scrypt costs ~50 ms and clients send Basic on every request, so a successful check
// is remembered briefly under a keyed hash of the header (never the secret itself); forget()
// drops it all whenever an identity changes, so rotated or disabled credentials fail at once.
import { createHmac, createSecretKey, randomBytes } from "node:crypto";
import type { MetadataStore } from "../metadata/types.ts";
import type { Principal } from "../metadata/identity-types.ts";
import type { AuditLog } from "./audit.ts";
import { ZERO_GUID, type Identity } from "./identity.ts";
import { verifyPassword } from "./passwords.ts";
import type { SignInLimiter } from "./rate-limit.ts";
import type { TokenService } from "./token-service.ts";

const REMEMBER_MS = 60_000;
/** The subject of tokens issued to callers without credentials (anonymous pull). */
export const ANONYMOUS_SUBJECT = "anonymous";
const REMEMBER_MAX = 10_000;

export interface RequestContext {
  /** The service name tokens are issued for and checked against (the registry's host). */
  service: string;
  client: string;
}

export class Authenticator {
  private readonly metadata: MetadataStore;
  private readonly tokens: TokenService;
  private readonly audit: AuditLog;
  private readonly limiter: SignInLimiter;
  // A KeyObject made once: an HMAC keyed with a raw Buffer re-imports the key on every call.
  private readonly cacheKey = createSecretKey(randomBytes(32));
  private readonly remembered = new Map<string, { identity: Identity; until: number }>();
  /** When the credentials of the last successful sign-in expire (set by fromPassword/fromToken). */
  private lastExpiry: number | null = null;

  constructor(metadata: MetadataStore, tokens: TokenService, audit: AuditLog, limiter: SignInLimiter) {
    this.metadata = metadata;
    this.tokens = tokens;
    this.audit = audit;
    this.limiter = limiter;
  }

  /** The identity behind an Authorization header; anonymous without one; null for bad credentials. */
  async authenticate(authorization: string | undefined, ctx: RequestContext): Promise<Identity | null> {
    if (!authorization) return { kind: "anonymous" };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (bearer) return this.fromAccessToken(bearer[1]!, ctx);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (!basic) return null;
    const key = createHmac("sha256", this.cacheKey).update(ctx.service).update("\0").update(authorization).digest("base64");
    const hit = this.remembered.get(key);
    if (hit && hit.until > Date.now()) return hit.identity;
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return null;
    const identity = await this.signIn(decoded.slice(0, colon), decoded.slice(colon + 1), ctx);
    if (identity) {
      if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
      // Never remembered past the moment the principal or the secret that matched expires.
      const until = Math.min(Date.now() + REMEMBER_MS, this.lastExpiry ?? Infinity);
      this.remembered.set(key, { identity, until });
    }
    return identity;
  }

  /**
   * Checks a username and password (or the zero-GUID user and a token) and audits the attempt.
   * Throws TOOMANYREQUESTS when this name or address failed too often lately.
   */
  async signIn(username: string, password: string, ctx: RequestContext): Promise<Identity | null> {
    this.limiter.check(username, ctx.client);
    this.lastExpiry = null;
    const identity = username === ZERO_GUID ? await this.fromToken(password, ctx) : await this.fromPassword(username, password);
    await this.audit.record({ event: "sign-in", identity: username === ZERO_GUID ? (identity ? describe(identity) : ZERO_GUID) : username, action: "authenticate", repository: null, outcome: identity ? "success" : "failure", client: ctx.client, detail: null });
    if (!identity) this.limiter.fail(username, ctx.client);
    return identity;
  }

  /** The identity a principal signs in as now, or null when it is disabled, expired or gone. */
  async identityOf(principalId: string): Promise<Identity | null> {
    const principal = await this.metadata.principals.get(principalId);
    return principal ? this.toIdentity(principal) : null;
  }

  forget(): void {
    this.remembered.clear();
  }

  private async fromPassword(username: string, password: string): Promise<Identity | null> {
    // Users, tokens and the admin sign in by name; service principals by their id.
    const principal = (await this.metadata.principals.byName(username)) ?? (await this.metadata.principals.get(username));
    if (!principal || (principal.kind === "sp" && principal.id !== username)) return null;
    const now = Date.now();
    let matched: number | null = null;
    for (const secret of await this.metadata.secrets.list(principal.id)) {
      if (secret.expiresAt && secret.expiresAt.getTime() <= now) continue;
      if (await verifyPassword(password, secret.hash)) matched = Math.max(matched ?? 0, secret.expiresAt?.getTime() ?? Infinity);
    }
    if (matched === null) return null;
    this.lastExpiry = Math.min(matched, principal.expiresAt?.getTime() ?? Infinity);
    return this.toIdentity(principal);
  }

  private async fromToken(token: string, ctx: RequestContext): Promise<Identity | null> {
    const principalId = await this.tokens.verifyRefresh(token, ctx.service);
    if (principalId) return this.identityOf(principalId);
    return this.fromAccessToken(token, ctx);
  }

  private async fromAccessToken(token: string, ctx: RequestContext): Promise<Identity | null> {
    const verified = await this.tokens.verifyAccess(token, ctx.service);
    if (!verified) return null;
    // A token outlives nothing: a principal deleted or disabled since it was issued is refused.
    if (verified.subject !== ANONYMOUS_SUBJECT && !(await this.identityOf(verified.subject))) return null;
    return { kind: "bearer", subject: verified.subject, name: verified.name, access: verified.access };
  }

  private async toIdentity(p: Principal): Promise<Identity | null> {
    if (!p.enabled || (p.expiresAt && p.expiresAt.getTime() <= Date.now())) return null;
    switch (p.kind) {
      case "admin":
        return { kind: "admin", id: p.id, name: p.name };
      case "user":
        return { kind: "user", id: p.id, name: p.name, roles: p.roles };
      case "sp":
        return { kind: "sp", id: p.id, name: p.name, roles: p.roles, scope: p.scope };
      case "token": {
        const map = p.scopeMap ? await this.metadata.scopeMaps.get(p.scopeMap) : null;
        return { kind: "token", id: p.id, name: p.name, rules: map?.rules ?? [] };
      }
    }
  }
}

function describe(who: Identity): string {
  return who.kind === "anonymous" ? "anonymous" : who.kind === "bearer" ? who.name : who.name;
}

// Who is asking: HTTP Basic for every kind of principal (the admin with either of its two
// passwords, users, service principals by id, scoped tokens by name, and the zero-GUID user
// with a refresh or access token as password), or `Bearer <access token>`.
//
// Each sign-in also says how the caller proved it (a Credential): the token endpoints mint tokens
// from passwords, secrets and refresh tokens only, never from an access token, and every token
// carries the stamp of the secret that signed in, so it dies with that secret.
//
// Verifying scrypt costs ~50 ms and clients send Basic on every request, so a successful check
// is remembered briefly under a keyed hash of the header (never the secret itself); forget()
// drops it all whenever an identity changes, so rotated or disabled credentials fail at once.
import { createHash, createHmac, createSecretKey, randomBytes } from "node:crypto";
import type { MetadataStore } from "../metadata/types.ts";
import type { Principal } from "../metadata/identity-types.ts";
import type { AuditLog } from "./audit.ts";
import { ZERO_GUID, type Identity } from "./identity.ts";
import { generatePassword, hashPassword, verifyPassword } from "./passwords.ts";
import type { SignInLimiter } from "./rate-limit.ts";
import { credentialStamp, type TokenService } from "./token-service.ts";

const REMEMBER_MS = 60_000;
/** The subject of tokens issued to callers without credentials (anonymous pull). */
export const ANONYMOUS_SUBJECT = "anonymous";
const REMEMBER_MAX = 10_000;
/** Password slots per principal (the admin and tokens have two; users and service principals one). */
const SECRET_SLOTS = 2;
/**
 * NUL and other control characters never belong in a name or password, and scrypt pads a
 * password with zero bytes, so `p` and `p\0` would hash alike: refused before any hashing.
 */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const ALL_CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

export interface RequestContext {
  /** The service name tokens are issued for and checked against (the registry's host). */
  service: string;
  client: string;
}

/** How the caller proved who they are. */
export type Credential =
  /** A password or secret; `stamp` names the stored secret that matched. */
  | { kind: "password"; stamp: string }
  /** A refresh token; `expiresAt` (seconds since the epoch) ends every token minted from it. */
  | { kind: "refresh"; stamp: string; expiresAt: number }
  /** An access token: good for the registry's APIs, never for minting tokens. */
  | { kind: "access" }
  | { kind: "none" };

export interface SignedIn {
  identity: Identity;
  credential: Credential;
}

const ANONYMOUS: SignedIn = { identity: { kind: "anonymous" }, credential: { kind: "none" } };

export class Authenticator {
  private readonly metadata: MetadataStore;
  private readonly tokens: TokenService;
  private readonly audit: AuditLog;
  private readonly limiter: SignInLimiter;
  // A KeyObject made once: an HMAC keyed with a raw Buffer re-imports the key on every call.
  private readonly cacheKey = createSecretKey(randomBytes(32));
  private readonly remembered = new Map<string, { signedIn: SignedIn; until: number }>();
  /** Basic checks under way, by `remembered`'s key and the client address: parallel requests with one header share one. */
  private readonly checking = new Map<string, Promise<SignedIn | null>>();
  /** Principal and credential of a token (subject \0 stamp) → the identity, while still valid. */
  private readonly validTokens = new Map<string, { identity: Identity; until: number }>();
  /** Bumped by forget(): a sign-in checked across a forget() is not remembered. */
  private generation = 0;
  /** Checked when a name is unknown, so that a wrong name costs what a wrong password does. */
  private readonly decoy: Promise<string> = hashPassword(generatePassword());
  private readonly verify: (password: string, hash: string) => Promise<boolean>;

  constructor(metadata: MetadataStore, tokens: TokenService, audit: AuditLog, limiter: SignInLimiter, options: { verify?: (password: string, hash: string) => Promise<boolean> } = {}) {
    this.metadata = metadata;
    this.tokens = tokens;
    this.audit = audit;
    this.limiter = limiter;
    this.verify = options.verify ?? verifyPassword;
  }

  /** The identity behind an Authorization header; anonymous without one; null for bad credentials. */
  async authenticate(authorization: string | undefined, ctx: RequestContext): Promise<Identity | null> {
    return (await this.signedIn(authorization, ctx))?.identity ?? null;
  }

  /** As authenticate, with the kind of credential the header carried. */
  async signedIn(authorization: string | undefined, ctx: RequestContext): Promise<SignedIn | null> {
    if (!authorization) return ANONYMOUS;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (bearer) return this.fromAccessToken(bearer[1]!, ctx);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (!basic) return null;
    const key = createHmac("sha256", this.cacheKey).update(ctx.service).update("\0").update(authorization).digest("base64");
    const hit = this.remembered.get(key);
    if (hit && hit.until > Date.now()) return hit.signedIn;
    // A client's first requests often go out in parallel (layers pushed side by side), all with
    // one header: they share one check, so they cost one scrypt and one counted sign-in attempt.
    // Per client address too: the check counts its attempt under that address, and a refusal
    // for one address (its own failures blocked it) must not answer another's request.
    const flight = `${key}\0${ctx.client}`;
    const running = this.checking.get(flight);
    if (running) return running;
    const check = this.checkBasic(key, basic[1]!, ctx).finally(() => {
      if (this.checking.get(flight) === check) this.checking.delete(flight);
    });
    this.checking.set(flight, check);
    return check;
  }

  private async checkBasic(key: string, credentials: string, ctx: RequestContext): Promise<SignedIn | null> {
    const decoded = Buffer.from(credentials, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return null;
    const generation = this.generation;
    const signedIn = await this.signIn(decoded.slice(0, colon), decoded.slice(colon + 1), ctx);
    // A reset that committed while this check ran must not be undone by remembering its result.
    if (signedIn?.until !== undefined && generation === this.generation) {
      if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
      this.remembered.set(key, { signedIn: { identity: signedIn.identity, credential: signedIn.credential }, until: signedIn.until });
    }
    return signedIn;
  }

  /**
   * Checks a username and password (or the zero-GUID user and a token) and audits the attempt.
   * Throws TOOMANYREQUESTS when this name from this address, or this address, failed too often.
   * `until`: how long the sign-in may be remembered (never past the secret's or principal's expiry).
   */
  async signIn(username: string, password: string, ctx: RequestContext): Promise<(SignedIn & { until?: number }) | null> {
    const attempt = await this.limiter.attempt(username, ctx.client);
    const wellFormed = !CONTROL_CHARACTERS.test(username) && !CONTROL_CHARACTERS.test(password);
    const signedIn = !wellFormed ? null : username === ZERO_GUID ? await this.fromToken(password, ctx) : await this.fromPassword(username, password);
    await this.audit.record({
      event: "sign-in",
      identity: username === ZERO_GUID ? (signedIn ? describe(signedIn.identity) : ZERO_GUID) : await this.auditName(username, signedIn !== null),
      action: "authenticate",
      repository: null,
      outcome: signedIn ? "success" : "failure",
      client: ctx.client,
      detail: wellFormed ? null : { reason: "control characters in the credentials" },
    });
    if (signedIn) await this.limiter.succeeded(attempt);
    return signedIn;
  }

  /**
   * The name a sign-in is audited under. A name no principal has is often a password typed into
   * the wrong field: it is kept only as a short digest, so the audit trail never holds one.
   */
  private async auditName(username: string, succeeded: boolean): Promise<string> {
    const clean = username.replace(ALL_CONTROL_CHARACTERS, "?").slice(0, 100);
    // A name with control characters is no principal's, and is never looked up: PostgreSQL's text
    // refuses a NUL (a 500 for anyone's Basic header, before sign-in; attack s8b, finding 8).
    if (succeeded || (!CONTROL_CHARACTERS.test(username) && ((await this.metadata.principals.byName(username)) || (await this.metadata.principals.get(username))))) return clean;
    return `unknown name #${createHash("sha256").update(username).digest("hex").slice(0, 12)}`;
  }

  /** The principal a refresh token stands for (grant_type=refresh_token), or null. */
  async refresh(token: string, ctx: RequestContext): Promise<SignedIn | null> {
    return this.fromRefreshToken(token, ctx);
  }

  /** The identity a principal signs in as now, or null when it is disabled, expired or gone. */
  async identityOf(principalId: string): Promise<Identity | null> {
    const principal = await this.metadata.principals.get(principalId);
    return principal ? this.toIdentity(principal) : null;
  }

  /**
   * The principal's identity while the secret stamped `credential` is still live (a portal
   * session stays open only as long as the secret that signed it in).
   */
  async withCredential(principalId: string, credential: string): Promise<Identity | null> {
    return this.stillValid(principalId, credential);
  }

  forget(): void {
    this.remembered.clear();
    // A check under way may have read the secret before the change: later requests start their own.
    this.checking.clear();
    this.validTokens.clear();
    this.generation++;
  }

  private async fromPassword(username: string, password: string): Promise<(SignedIn & { until: number }) | null> {
    // Users, tokens and the admin sign in by name; service principals by their id. Each by that one
    // name only: a second name for one account (a user's id, which every token it holds carries
    // as `sub`) would double the guesses the per-name sign-in limit allows.
    const found = (await this.metadata.principals.byName(username)) ?? (await this.metadata.principals.get(username));
    const principal = found && (found.kind === "sp" ? found.id === username : found.name === username) ? found : null;
    const now = Date.now();
    const secrets = principal ? (await this.metadata.secrets.list(principal.id)).filter((s) => !s.expiresAt || s.expiresAt.getTime() > now) : [];
    // Always two checks, side by side (a principal holds at most two secrets), padded with a
    // decoy: an unknown name, one live password and two cost the same, so timing tells nothing.
    const decoy = await this.decoy;
    const checked = [...secrets.slice(0, SECRET_SLOTS), ...Array<null>(Math.max(0, SECRET_SLOTS - secrets.length)).fill(null)];
    const results = await Promise.all(checked.map((secret) => this.verify(password, secret?.hash ?? decoy)));
    let matched: { stamp: string; expiresAt: number } | null = null;
    for (const [i, secret] of checked.entries()) {
      if (!secret || !results[i]) continue;
      const expiresAt = secret.expiresAt?.getTime() ?? Infinity;
      if (!matched || expiresAt > matched.expiresAt) matched = { stamp: credentialStamp(secret.hash), expiresAt };
    }
    if (!matched || !principal) return null;
    const identity = await this.toIdentity(principal);
    if (!identity) return null;
    const until = Math.min(now + REMEMBER_MS, matched.expiresAt, principal.expiresAt?.getTime() ?? Infinity);
    return { identity, credential: { kind: "password", stamp: matched.stamp }, until };
  }

  private async fromToken(token: string, ctx: RequestContext): Promise<(SignedIn & { until?: number }) | null> {
    const refreshed = await this.fromRefreshToken(token, ctx);
    if (refreshed?.credential.kind === "refresh") return { ...refreshed, until: Math.min(Date.now() + REMEMBER_MS, refreshed.credential.expiresAt * 1000) };
    // An access token is checked on each use, as a Bearer one is: not remembered.
    return this.fromAccessToken(token, ctx);
  }

  private async fromRefreshToken(token: string, ctx: RequestContext): Promise<SignedIn | null> {
    const verified = await this.tokens.verifyRefresh(token, ctx.service);
    if (!verified) return null;
    const identity = await this.stillValid(verified.subject, verified.credential);
    return identity ? { identity, credential: { kind: "refresh", stamp: verified.credential, expiresAt: verified.expiresAt } } : null;
  }

  private async fromAccessToken(token: string, ctx: RequestContext): Promise<SignedIn | null> {
    const verified = await this.tokens.verifyAccess(token, ctx.service);
    if (!verified) return null;
    // A token outlives nothing: a principal deleted or disabled, or a secret reset since it was issued, is refused.
    const principal = verified.subject === ANONYMOUS_SUBJECT ? ANONYMOUS.identity : await this.stillValid(verified.subject, verified.credential);
    if (!principal || principal.kind === "bearer") return null;
    return { identity: { kind: "bearer", subject: verified.subject, name: verified.name, access: verified.access, principal }, credential: { kind: "access" } };
  }

  /**
   * The principal's identity while the secret stamped `credential` is still one of its live
   * secrets. Every Bearer request asks, so the answer is remembered like a Basic sign-in: until
   * the secret or the principal expires, at most 60 s, and forgotten at once when any identity
   * changes (the change feed calls forget(), in every process within a second).
   */
  private async stillValid(principalId: string, credential: string | null): Promise<Identity | null> {
    if (credential === null) return null;
    const key = `${principalId}\0${credential}`;
    const now = Date.now();
    const hit = this.validTokens.get(key);
    if (hit && hit.until > now) return hit.identity;
    const generation = this.generation;
    const secret = (await this.metadata.secrets.list(principalId)).find((s) => (!s.expiresAt || s.expiresAt.getTime() > now) && credentialStamp(s.hash) === credential);
    const principal = secret ? await this.metadata.principals.get(principalId) : null;
    const identity = principal ? await this.toIdentity(principal) : null;
    if (identity && generation === this.generation) {
      if (this.validTokens.size >= REMEMBER_MAX) this.validTokens.clear();
      this.validTokens.set(key, { identity, until: Math.min(now + REMEMBER_MS, secret!.expiresAt?.getTime() ?? Infinity, principal!.expiresAt?.getTime() ?? Infinity) });
    }
    return identity;
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
  return who.kind === "anonymous" ? "anonymous" : who.name;
}

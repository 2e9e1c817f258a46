// Portal sessions: a sign-in with any credential Berth accepts (a password, a service principal's
// secret, a token's password, the zero-GUID user with the refresh token `berth login
// --expose-token` prints) opens a server-side session; the browser holds only a random id in an
// HttpOnly cookie. The row keeps the SHA-256 of that id, the principal, the stamp of the secret
// that signed in (rotate or delete the secret and the session ends, as its tokens do) and the
// CSRF token bound to it. HTTP details (cookie, CSRF header, Origin) live in http/session-cookie.ts.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { SessionRows, Session } from "../metadata/identity-types.ts";
import { RegistryError } from "../domain/errors.ts";
import type { Authenticator, RequestContext } from "./authenticator.ts";
import type { Identity } from "./identity.ts";

/** How long a session lasts from sign-in (absolute, not sliding): a working day. */
export const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;

export interface OpenSession {
  identity: Identity;
  session: Session;
}

export class SessionService {
  private readonly rows: SessionRows;
  private readonly authenticator: Authenticator;
  private readonly lifetimeMs: number;

  constructor(rows: SessionRows, authenticator: Authenticator, options: { lifetimeMs?: number } = {}) {
    this.rows = rows;
    this.authenticator = authenticator;
    this.lifetimeMs = options.lifetimeMs ?? SESSION_LIFETIME_MS;
  }

  /**
   * Checks the credentials (audited, and failures counted by the sign-in rate limiter, as every
   * other sign-in) and opens a session. Returns the cookie value, shown to nobody else.
   */
  async signIn(username: string, password: string, ctx: RequestContext): Promise<OpenSession & { cookie: string }> {
    const signedIn = await this.authenticator.signIn(username, password, ctx);
    if (!signedIn || signedIn.identity.kind === "anonymous") throw new RegistryError("UNAUTHORIZED", "invalid username or password");
    const { identity, credential } = signedIn;
    // An access token is good for a few minutes and names no secret to end with: a session needs
    // the password, secret or refresh token behind it.
    if (credential.kind !== "password" && credential.kind !== "refresh") {
      throw new RegistryError("UNAUTHORIZED", "an access token cannot open a session: sign in with a password, or with the refresh token `berth login --expose-token` prints");
    }
    const now = Date.now();
    const expires = Math.min(now + this.lifetimeMs, credential.kind === "refresh" ? credential.expiresAt * 1000 : Infinity);
    const cookie = randomBytes(32).toString("base64url");
    const session: Session = {
      idHash: hashOf(cookie),
      principalId: identity.kind === "bearer" ? identity.subject : identity.id,
      credential: credential.stamp,
      csrf: randomBytes(32).toString("base64url"),
      createdAt: new Date(now),
      expiresAt: new Date(expires),
    };
    await this.rows.deleteExpired(new Date(now));
    await this.rows.create(session);
    return { identity, session, cookie };
  }

  /** The session a cookie value opens, with its identity as it is now; null when ended, expired or revoked. */
  async open(cookie: string): Promise<OpenSession | null> {
    const session = await this.rows.get(hashOf(cookie));
    if (!session || session.expiresAt.getTime() <= Date.now()) return null;
    const identity = await this.authenticator.withCredential(session.principalId, session.credential);
    return identity ? { identity, session } : null;
  }

  async end(cookie: string): Promise<boolean> {
    return this.rows.delete(hashOf(cookie));
  }
}

/** Whether `offered` is the session's CSRF token (constant time). */
export function csrfMatches(session: Session, offered: string | undefined): boolean {
  if (!offered) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(offered);
  return a.length === b.length && timingSafeEqual(a, b);
}

function hashOf(cookie: string): string {
  return createHash("sha256").update(cookie).digest("hex");
}

// Who asks and may they, before any handler runs. Bad credentials are a 401 with the challenge,
// never a silent fall back to anonymous. The OCI API challenges with Bearer (the token flow every
// registry client knows); the classic Helm repository with Basic (Helm sends it pre-emptively).
import type { FastifyRequest } from "fastify";
import type { AuditLog } from "../auth/audit.ts";
import type { Authenticator, RequestContext } from "../auth/authenticator.ts";
import type { Authorizer } from "../auth/authorizer.ts";
import { describeIdentity, isAnonymous, type Access, type Identity } from "../auth/identity.ts";
import { RegistryError } from "../domain/errors.ts";
import type { OpenSession, SessionService } from "../auth/sessions.ts";
import { checkCsrf, fromPortal, sessionCookiesOf, takesSessionCookie } from "./session-cookie.ts";

export type ChallengeStyle = "bearer" | "basic";

export interface GuardOptions {
  /** The token service name; default: the Host the client used. */
  service?: string;
  /** Base URL clients reach Berth at; default: from the request. */
  publicUrl?: string;
  realm: string;
  /** Portal sessions: the cookie authenticates /api/ requests that carry no Authorization. */
  sessions?: SessionService;
}

export class Guard {
  private readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  private readonly audit: AuditLog;
  private readonly options: GuardOptions;

  constructor(authenticator: Authenticator, authorizer: Authorizer, audit: AuditLog, options: GuardOptions) {
    this.authenticator = authenticator;
    this.authorizer = authorizer;
    this.audit = audit;
    this.options = options;
  }

  context(request: FastifyRequest): RequestContext {
    return { service: this.service(request), client: request.ip };
  }

  /** The token service name: configured, else the public URL's host, else the request's Host. */
  service(request: FastifyRequest): string {
    return this.options.service ?? (this.options.publicUrl ? new URL(this.options.publicUrl).host : hostOf(request));
  }

  tokenRealm(request: FastifyRequest): string {
    const base = this.options.publicUrl ?? `${request.protocol}://${hostOf(request)}`;
    return `${base.replace(/\/$/, "")}/oauth2/token`;
  }

  /** The principal behind an identity: a bearer token stands for the principal it was issued to. */
  async principalOf(who: Identity): Promise<Identity> {
    return who.kind === "bearer" ? who.principal : who;
  }

  /** Identifies the caller and requires any one of several access sets (the first names the challenge). */
  async checkAny(request: FastifyRequest, choices: readonly (readonly Access[])[], style: ChallengeStyle): Promise<Identity> {
    const who = await this.identify(request, style);
    const options = await Promise.all(choices.map((wanted) => this.authorizer.bindTags(wanted)));
    for (const wanted of options) if (wanted.every((a) => this.authorizer.may(who, a))) return who;
    try {
      this.authorizer.authorize(who, options[0] ?? [], { tokenFlow: style === "bearer" });
    } catch (err) {
      throw await this.refused(request, who, options[0] ?? [], style, err);
    }
    return who;
  }

  async identify(request: FastifyRequest, style: ChallengeStyle): Promise<Identity> {
    if (this.options.sessions && takesSessionCookie(request)) {
      const opened = await this.session(request);
      if (opened) {
        checkCsrf(request, opened.session, this.options.publicUrl);
        request.berth.identity = describeIdentity(opened.identity);
        request.berth.who = opened.identity;
        return opened.identity;
      }
    }
    const who = await this.authenticator.authenticate(request.headers.authorization, this.context(request));
    if (!who) {
      const bearer = /^Bearer\s/i.test(request.headers.authorization ?? "");
      throw new RegistryError("UNAUTHORIZED", bearer ? "the access token is invalid or expired: request a new one" : "invalid username or password", null, this.challenge(request, style, [], bearer ? "invalid_token" : undefined));
    }
    request.berth.identity = describeIdentity(who);
    request.berth.who = who;
    return who;
  }

  /**
   * The portal session the request's cookies open (the first of them that opens one: another
   * host's cookie of the same name is ignored); null without a cookie. Cookies none of which opens
   * a session (signed out, expired, its secret rotated) are a 401 that asks to sign in again,
   * never a silent fall back to anonymous.
   */
  async session(request: FastifyRequest): Promise<OpenSession | null> {
    const cookies = sessionCookiesOf(request, this.options.publicUrl);
    if (cookies.length === 0 || !this.options.sessions) return null;
    for (const cookie of cookies) {
      const opened = await this.options.sessions.open(cookie);
      if (opened) return opened;
    }
    throw new RegistryError("UNAUTHORIZED", "your session has ended: sign in again");
  }

  /** Any identity Berth knows, with Basic credentials (for /metrics when configured so). */
  async requireSignIn(request: FastifyRequest): Promise<Identity> {
    const who = await this.identify(request, "basic");
    if (isAnonymous(who)) throw new RegistryError("UNAUTHORIZED", "authentication required: sign in with your Berth credentials", null, this.challenge(request, "basic", []));
    return who;
  }

  /** Identifies the caller and checks the accesses the route declared. */
  async check(request: FastifyRequest, declared: readonly Access[], style: ChallengeStyle): Promise<Identity> {
    const who = await this.identify(request, style);
    const wanted = await this.authorizer.bindTags(declared);
    try {
      this.authorizer.authorize(who, wanted, { tokenFlow: style === "bearer" });
    } catch (err) {
      throw await this.refused(request, who, wanted, style, err);
    }
    return who;
  }

  /** Adds the challenge to a 401 and audits a 403. */
  async refused(request: FastifyRequest, who: Identity, wanted: readonly Access[], style: ChallengeStyle, err: unknown): Promise<unknown> {
    if (!(err instanceof RegistryError)) return err;
    if (err.code === "UNAUTHORIZED" && !err.challenge) {
      return new RegistryError(err.code, err.message, err.detail, this.challenge(request, style, wanted, who.kind === "bearer" ? "insufficient_scope" : undefined));
    }
    if (err.code === "DENIED") {
      const first = wanted[0];
      await this.audit.record({ event: "access.denied", identity: describeIdentity(who), action: wanted.map((a) => a.action).join(","), repository: first?.type === "repository" ? first.name : null, outcome: "denied", client: request.ip, detail: { message: err.message } });
    }
    return err;
  }

  /**
   * The WWW-Authenticate challenge of a 401; none for the portal's calls (marked by its header):
   * a browser answering a Basic challenge pops up its dialog and then keeps those credentials
   * for the site, sending them with every request, cross-site ones too.
   */
  challenge(request: FastifyRequest, style: ChallengeStyle, wanted: readonly Access[], error?: string): string | undefined {
    if (fromPortal(request)) return undefined;
    if (style === "basic") return `Basic realm="${this.options.realm}", charset="UTF-8"`;
    const parts = [`realm="${this.tokenRealm(request)}"`, `service="${this.service(request)}"`];
    // A client pushing also checks what exists first: ask for pull with push, as docker does.
    const expanded = wanted.flatMap((a) => (a.action === "push" ? [{ ...a, action: "pull" as const }, a] : [a]));
    const scope = scopeOf(expanded);
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    return `Bearer ${parts.join(",")}`;
  }
}

/**
 * The request's Host when it is a host name or address with an optional port; anything else
 * (quotes, slashes, spaces: an attempt to shape the challenge) is replaced by "localhost".
 */
function hostOf(request: FastifyRequest): string {
  const host = request.headers.host ?? "";
  return /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/.test(host) ? host : "localhost";
}

/** `repository:team/app:pull,push registry:catalog:*` for the accesses a route needs. */
export function scopeOf(wanted: readonly Access[]): string {
  const byResource = new Map<string, string[]>();
  for (const a of wanted) {
    const key = `${a.type}:${a.name}`;
    const action = a.type === "registry" && a.action === "catalog" ? "*" : a.action;
    const list = byResource.get(key) ?? [];
    if (!list.includes(action)) list.push(action);
    byResource.set(key, list);
  }
  return [...byResource].map(([key, actions]) => `${key}:${actions.join(",")}`).join(" ");
}

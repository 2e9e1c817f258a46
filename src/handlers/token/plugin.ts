// The token endpoint of the Docker registry token protocol, and ACR's exchange:
//   GET  /oauth2/token?service=&scope=…&offline_token=true   (Basic, or none for anonymous)
//   POST /oauth2/token   grant_type=password|refresh_token   (form; the OAuth2 variant)
//   POST /oauth2/exchange grant_type=password                 → a refresh token (3 h)
// A token grants the intersection of what was asked and what the identity may do; asking for
// too much is never an error (the registry answers 401/403 later on the operation).
// Tokens are minted from passwords, secrets and refresh tokens only: an access token (Bearer, or
// as the zero-GUID password) is refused here, so a stolen pull token never becomes the account.
// A refresh token minted from a refresh token ends when that one does.
// https://distribution.github.io/distribution/spec/auth/token/
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ANONYMOUS_SUBJECT, type Authenticator, type SignedIn } from "../../auth/authenticator.ts";
import type { AuditLog } from "../../auth/audit.ts";
import { describeIdentity, type Access, type Identity } from "../../auth/identity.ts";
import type { TokenService } from "../../auth/token-service.ts";
import { RegistryError } from "../../domain/errors.ts";
import { answering } from "../../http/route.ts";
import type { Guard } from "../../http/guard.ts";
import { parseScopes } from "./scopes.ts";

export interface TokenPluginOptions {
  guard: Guard;
  authenticator: Authenticator;
  tokens: TokenService;
  audit: AuditLog;
  exchangeLifetimeSeconds: number;
}

type Form = Record<string, string | undefined>;

function subjectOf(who: Identity): string {
  return who.kind === "anonymous" ? ANONYMOUS_SUBJECT : who.kind === "bearer" ? who.subject : who.id;
}

function unauthorized(message: string): RegistryError {
  return new RegistryError("UNAUTHORIZED", message, null, 'Basic realm="Berth token service", charset="UTF-8"');
}

export async function tokenPlugin(app: FastifyInstance, options: TokenPluginOptions): Promise<void> {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  const { guard, authenticator, tokens, audit } = options;

  /** Who may be given tokens: a sign-in with a password, a secret or a refresh token (or none: anonymous). */
  function minting(signedIn: SignedIn | null): SignedIn {
    if (!signedIn) throw unauthorized("invalid username or password");
    if (signedIn.credential.kind === "access") {
      throw unauthorized("an access token cannot be used to get tokens: sign in with a password, a secret or a refresh token");
    }
    return signedIn;
  }

  /** A refresh token for the sign-in: bound to its credential, and never outliving a refresh token it came from. */
  async function refreshFor(signedIn: SignedIn, service: string, lifetimeSeconds = tokens.refreshLifetime): Promise<{ token: string; expiresIn: number }> {
    const { identity, credential } = signedIn;
    if (credential.kind !== "password" && credential.kind !== "refresh") throw unauthorized("sign in to get a refresh token");
    const notAfter = credential.kind === "refresh" ? credential.expiresAt : Infinity;
    const token = await tokens.issueRefresh(subjectOf(identity), service, credential.stamp, { lifetimeSeconds, notAfter });
    return { token, expiresIn: Math.max(0, Math.min(lifetimeSeconds, notAfter - Math.floor(Date.now() / 1000))) };
  }

  function stampOf(signedIn: SignedIn): string | null {
    const { credential } = signedIn;
    return credential.kind === "password" || credential.kind === "refresh" ? credential.stamp : null;
  }

  async function grant(request: FastifyRequest, signedIn: SignedIn, scopes: string[], service: string, offline: boolean, reply: FastifyReply, refreshToken?: string) {
    const who = signedIn.identity;
    const wanted: Access[] = parseScopes(scopes);
    const granted = wanted.filter((access) => guard.authorizer.may(who, access));
    const issuedAt = new Date();
    const token = await tokens.issueAccess(subjectOf(who), describeIdentity(who), service, granted, stampOf(signedIn));
    const refresh = refreshToken ?? (offline && who.kind !== "anonymous" ? (await refreshFor(signedIn, service)).token : undefined);
    await audit.record({
      event: "token.issued",
      identity: describeIdentity(who),
      action: granted.map((a) => `${a.type}:${a.name}:${a.action}`).join(" ") || "(none)",
      repository: granted.find((a) => a.type === "repository")?.name ?? null,
      outcome: "success",
      client: request.ip,
      detail: { requested: scopes.join(" ") || null, refresh: refresh !== undefined && refreshToken === undefined },
    });
    return reply.header("cache-control", "no-store").send({
      token,
      access_token: token,
      expires_in: tokens.accessLifetime,
      issued_at: issuedAt.toISOString(),
      scope: granted.length > 0 ? [...new Set(granted.map((a) => `${a.type}:${a.name}:${a.action}`))].join(" ") : "",
      ...(refresh ? { refresh_token: refresh } : {}),
    });
  }

  app.get(
    "/oauth2/token",
    answering("token", async (request, reply) => {
      const query = request.query as Record<string, string | string[] | undefined>;
      const scopes = ([] as string[]).concat(query.scope ?? []).flatMap((s) => s.split(" ")).filter(Boolean);
      const service = typeof query.service === "string" && query.service ? query.service : guard.service(request);
      const signedIn = minting(await authenticator.signedIn(request.headers.authorization, { service, client: request.ip }));
      return await grant(request, signedIn, scopes, service, query.offline_token === "true", reply);
    }),
  );

  app.post(
    "/oauth2/token",
    answering("token", async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      const service = form.service || guard.service(request);
      const scopes = (form.scope ?? "").split(" ").filter(Boolean);
      const ctx = { service, client: request.ip };
      if (form.grant_type === "password") {
        if (!form.username || form.password === undefined) throw new RegistryError("UNAUTHORIZED", "grant_type=password needs username and password");
        const signedIn = minting(await authenticator.signIn(form.username, form.password, ctx));
        return await grant(request, signedIn, scopes, service, form.access_type === "offline", reply);
      }
      if (form.grant_type === "refresh_token") {
        const signedIn = form.refresh_token ? await authenticator.refresh(form.refresh_token, ctx) : null;
        if (!signedIn) throw unauthorized("the refresh token is invalid or expired, or its password was reset: sign in again");
        return await grant(request, signedIn, scopes, service, false, reply, form.refresh_token);
      }
      throw new RegistryError("UNSUPPORTED", "grant_type must be password or refresh_token");
    }),
  );

  app.post(
    "/oauth2/exchange",
    answering("token", async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      const service = form.service || guard.service(request);
      const ctx = { service, client: request.ip };
      const signedIn = minting(
        form.grant_type === "password" && form.username
          ? await authenticator.signIn(form.username, form.password ?? "", ctx)
          : await authenticator.signedIn(request.headers.authorization, ctx),
      );
      if (signedIn.identity.kind === "anonymous") throw unauthorized("invalid username or password");
      const refresh = await refreshFor(signedIn, service, options.exchangeLifetimeSeconds);
      await audit.record({ event: "token.exchanged", identity: describeIdentity(signedIn.identity), action: "refresh_token", repository: null, outcome: "success", client: request.ip, detail: null });
      return reply.header("cache-control", "no-store").send({ refresh_token: refresh.token, expires_in: refresh.expiresIn });
    }),
  );
}

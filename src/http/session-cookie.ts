// The portal session over HTTP: the cookie (`__Host-berth_session` over TLS, which the browser
// accepts only Secure, for Path=/ and from this very host; `berth_session` over plain HTTP), and
// the two checks every state-changing request authenticated by that cookie must pass: the
// `X-Berth-CSRF` header equal to the session's token (a cross-site form cannot set a header) and,
// when the browser sends one, an `Origin` of this server. Cookies are honoured under /api/ only:
// registry clients never send them, so /v2/ and /helm/ keep their Basic/Bearer-only rules.
import { parseCookie, stringifySetCookie } from "cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import { csrfMatches, type OpenSession } from "../auth/sessions.ts";
import { RegistryError } from "../domain/errors.ts";

export const CSRF_HEADER = "x-berth-csrf";
/** Sent by the portal on each call: a refusal then carries no challenge, so no browser dialog pops up. */
export const PORTAL_HEADER = "x-berth-portal";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function cookieName(request: FastifyRequest): string {
  return request.protocol === "https" ? "__Host-berth_session" : "berth_session";
}

/** Whether this request may authenticate with the session cookie at all. */
export function takesSessionCookie(request: FastifyRequest): boolean {
  return request.url.startsWith("/api/") && !request.headers.authorization && request.headers.cookie !== undefined;
}

export function sessionCookieOf(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (!header) return null;
  const value = parseCookie(header)[cookieName(request)];
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null;
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, expires: Date): void {
  reply.header(
    "set-cookie",
    stringifySetCookie({
      name: cookieName(request),
      value,
      httpOnly: true,
      sameSite: "strict",
      secure: request.protocol === "https",
      path: "/",
      expires,
    }),
  );
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("set-cookie", stringifySetCookie({ name: cookieName(request), value: "", httpOnly: true, sameSite: "strict", secure: request.protocol === "https", path: "/", maxAge: 0 }));
}

/**
 * Refuses (403) a state-changing request that the session cookie authenticates unless it carries
 * the session's CSRF token and, when an Origin is sent, comes from this server's own origin.
 */
export function checkCsrf(request: FastifyRequest, session: OpenSession["session"], publicUrl: string | undefined): void {
  if (SAFE_METHODS.has(request.method)) return;
  checkOrigin(request, publicUrl);
  const offered = request.headers[CSRF_HEADER];
  if (!csrfMatches(session, typeof offered === "string" ? offered : undefined)) {
    throw new RegistryError("DENIED", "missing or wrong X-Berth-CSRF header: reload the portal and try again");
  }
}

/** Refuses (403) a request whose Origin, when sent, is not this server (also guards sign-in itself). */
export function checkOrigin(request: FastifyRequest, publicUrl: string | undefined): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const own = new Set([`${request.protocol}://${request.headers.host ?? ""}`]);
  if (publicUrl) own.add(new URL(publicUrl).origin);
  if (!own.has(origin)) throw new RegistryError("DENIED", "cross-origin request refused: the Origin is not this server");
}

export function fromPortal(request: FastifyRequest): boolean {
  return request.headers[PORTAL_HEADER] !== undefined;
}

// The portal session over HTTP: the cookie (`__Host-berth_session` when clients reach Berth over
// TLS: the request came over https, or a trusted proxy says so, or http.publicUrl is https; the
// browser accepts it only Secure, for Path=/ and from this very host; `berth_session` over plain
// HTTP), and the two checks every state-changing request authenticated by that cookie must pass:
// the `X-Berth-CSRF` header equal to the session's token (a cross-site form cannot set a header)
// and, when the browser sends one, an `Origin` of this server. Cookies are honoured under /api/v1/
// only: registry clients never send them, so /v2/, /helm/ and ChartMuseum's /api/<repo>/ keep
// their Basic/Bearer-only rules.
//
// Whatever the credentials, a state-changing request whose Origin is another site (or `null`) is
// refused on every route (refuseCrossSite, an onRequest hook): a browser keeps Basic credentials
// typed into its dialog and sends them with a no-cors POST from any site; registry, Helm and CLI
// clients send no Origin.
import { parseCookie, stringifySetCookie } from "cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import { csrfMatches, type OpenSession } from "../auth/sessions.ts";
import { RegistryError } from "../domain/errors.ts";

export const CSRF_HEADER = "x-berth-csrf";
/** Sent by the portal on each call: a refusal then carries no challenge, so no browser dialog pops up. */
export const PORTAL_HEADER = "x-berth-portal";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether browsers reach Berth over TLS: this request (or a trusted proxy) says so, or the public URL does. */
function overTls(request: FastifyRequest, publicUrl: string | undefined): boolean {
  return request.protocol === "https" || (publicUrl !== undefined && new URL(publicUrl).protocol === "https:");
}

function cookieName(request: FastifyRequest, publicUrl: string | undefined): string {
  return overTls(request, publicUrl) ? "__Host-berth_session" : "berth_session";
}

/** Whether this request may authenticate with the session cookie at all: Berth's own API only. */
export function takesSessionCookie(request: FastifyRequest): boolean {
  return request.url.startsWith("/api/v1/") && !request.headers.authorization && request.headers.cookie !== undefined;
}

/**
 * Every well-formed session cookie the request carries, in the order sent. A browser sends two
 * of the same name when a sibling host set one for the parent domain; the caller tries each, so
 * a stranger's cookie cannot lock the user out.
 */
export function sessionCookiesOf(request: FastifyRequest, publicUrl: string | undefined): string[] {
  const header = request.headers.cookie;
  if (!header) return [];
  const name = cookieName(request, publicUrl);
  return header.split(";").flatMap((pair) => {
    const value = parseCookie(pair)[name];
    return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? [value] : [];
  });
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, publicUrl: string | undefined, value: string, expires: Date): void {
  reply.header(
    "set-cookie",
    stringifySetCookie({
      name: cookieName(request, publicUrl),
      value,
      httpOnly: true,
      sameSite: "strict",
      secure: overTls(request, publicUrl),
      path: "/",
      expires,
    }),
  );
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply, publicUrl: string | undefined): void {
  const tls = overTls(request, publicUrl);
  reply.header("set-cookie", stringifySetCookie({ name: cookieName(request, publicUrl), value: "", httpOnly: true, sameSite: "strict", secure: tls, path: "/", maxAge: 0 }));
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

/**
 * Refuses (403) a state-changing request whose Origin is sent and is not this server (`null`, as
 * a sandboxed or privacy-redirected page sends, included), whatever its credentials.
 */
export function refuseCrossSite(request: FastifyRequest, publicUrl: string | undefined): void {
  if (!SAFE_METHODS.has(request.method)) checkOrigin(request, publicUrl);
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

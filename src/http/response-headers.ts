// The headers every response carries, whichever route or refusal answers it. They are set once per
// request, by the onRequest hook in server.ts, and by refusals.ts where Fastify or node:http answer
// before any hook runs; no route sets them itself.
//
// Why: Berth serves bytes other people stored (blobs, manifests, charts, READMEs, provenance) from
// the origin the portal will be served from. A browser that opens such a URL must neither guess a
// type other than the one sent (an HTML- or SVG-looking blob sent as octet-stream must not render:
// nosniff) nor run script from it in Berth's origin (a sandboxed document has an opaque origin, and
// default-src 'none' loads nothing). `/` and the other root paths (the portal later, /healthz,
// /oauth2/token) serve only Berth's own content, so they get nosniff but not the sandbox.

const USER_CONTENT = /^\/(?:v2|helm|api)(?:[/?]|$)/;

export const NOSNIFF = "nosniff";
export const SANDBOX = "sandbox; default-src 'none'";

/** The safety headers for a request path (the URL as sent; a query is fine). */
export function safetyHeaders(url: string): Record<string, string> {
  return USER_CONTENT.test(url) ? { "x-content-type-options": NOSNIFF, "content-security-policy": SANDBOX } : { "x-content-type-options": NOSNIFF };
}

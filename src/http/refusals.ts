// What Berth answers when Fastify or node:http refuse a request before a route runs: an unknown
// path, a malformed URL, a path segment too long, a body Fastify cannot parse, headers too large,
// a request node cannot parse at all, a request during shutdown. Each answers in the error shape of
// its protocol, as a route would: the spec's codes under /v2/, Berth's elsewhere, always the body
// {"errors":[{code, message, detail}]} with a message that says what to change, never the
// framework's {"statusCode", "error", "message"} (which clients of neither protocol can read).
import type { Socket } from "node:net";
import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RegistryError, type ErrorCode } from "../domain/errors.ts";
import { holdsNul } from "../domain/nul.ts";
import { errorBody, replyWithError } from "./errors.ts";
import { safetyHeaders } from "./response-headers.ts";

const OCI = /^\/v2(?:[/?]|$)/;

/** The refusal's code in the request's protocol: the spec's own under /v2/, Berth's elsewhere. */
function invalid(url: string, message: string, ociCode: ErrorCode = "NAME_INVALID"): RegistryError {
  return new RegistryError(OCI.test(url) ? ociCode : "INVALID_REQUEST", message);
}

/**
 * No text a client sends may hold NUL (domain/nul.ts says why). Checked once here, before any
 * route's work, on what reaches the stores: the URL's path and query, and a parsed body (the API's
 * JSON, the token service's form; /v2's and Helm's bodies stay streams, read by their own parsers:
 * a manifest's is checked as it is parsed, domain/manifest.ts). A raw NUL cannot arrive (node:http
 * refuses it in the request line), and an escape that is not UTF-8 decodes to U+FFFD, never NUL,
 * so a NUL in a decoded path or query comes from %00.
 * Headers carry no NUL either; the Basic credentials decoded from one may (auth/authenticator.ts).
 */
export function refuseNul(request: FastifyRequest): void {
  const [path, query] = splitOnce(request.url, "?");
  if (/%00/i.test(path)) throw invalid(request.url, "the URL's path holds a NUL (%00), which no name or reference may hold");
  if (query !== undefined && /%00/i.test(query)) throw new RegistryError("INVALID_REQUEST", "a query parameter holds a NUL (%00), which no value Berth takes may hold");
  if (holdsNul(request.body)) throw new RegistryError("INVALID_REQUEST", "the request body holds a NUL (\\u0000), which no value Berth takes may hold");
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** A path no route serves (outside /v2/, whose scope answers for itself): say where the routes are. */
export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split("?")[0]!;
  return replyWithError(
    reply,
    new RegistryError(
      "ENDPOINT_UNKNOWN",
      `no such endpoint: ${request.method} ${path.slice(0, 200)}. Berth serves the OCI API at /v2/, Helm chart repositories at /helm/v1/<repository> (e.g. /helm/v1/repo), ChartMuseum's and Berth's API under /api/, tokens at /oauth2/token`,
    ),
  );
}

/** What a scope's bodies must be, for the words of its refusals. */
export interface BodyRules {
  /** The media type the scope parses, e.g. application/json. */
  accepts: string;
  limitBytes?: number;
}

/** Fastify's own refusals of a body (wrong type, bad JSON, too big) in Berth's words; null for anything else. */
export function bodyRefusal(error: FastifyError, rules: BodyRules): RegistryError | null {
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new RegistryError("INVALID_REQUEST", `send the request body as ${rules.accepts}`);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new RegistryError("INVALID_REQUEST", rules.limitBytes ? `the request body exceeds ${rules.limitBytes / 1024} KiB` : "the request body is too large for this endpoint");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new RegistryError("INVALID_REQUEST", `the request body is not valid JSON: ${error.message}`);
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new RegistryError("INVALID_REQUEST", "Content-Length does not match the body sent");
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code?.startsWith("FST_ERR_CTP_"))) {
    return new RegistryError("INVALID_REQUEST", `the request body is not valid JSON: ${error.message}`);
  }
  return null;
}

/** The root scope's error handler: what no protocol scope answered for itself. */
export function rootErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // The root scope parses JSON (Fastify's default) and the token endpoint's forms.
  return replyWithError(reply, bodyRefusal(error, { accepts: "application/json or application/x-www-form-urlencoded" }) ?? error);
}

/**
 * Fastify's router refusals (Fastify's frameworkErrors option), raised before any hook: so the
 * safety headers are set here, as the onRequest hook would have.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.headers(safetyHeaders(request.url));
  switch (error.code) {
    case "FST_ERR_BAD_URL":
      return replyWithError(reply, invalid(request.url, "the URL holds a malformed percent-escape: write % as %25"));
    case "FST_ERR_MAX_PARAM_LENGTH":
      return replyWithError(reply, invalid(request.url, "a path segment of the URL is longer than 1000 characters"));
  }
  return replyWithError(reply, error);
}

/**
 * node:http's refusals (Fastify's clientErrorHandler): headers over http.maxHeaderSize (16 KiB,
 * request line included), a request node cannot parse, a request that timed out. No request object
 * exists yet, so the answer is written to the socket directly, with node's status (431, 400, 408)
 * and the body and headers a route would send; the path, when the bytes read hold the request
 * line, picks the protocol's codes. Then the connection closes, as node's own handler does.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  // Unknown path: a spec code (valid in both protocols) and the stricter headers.
  const url = /^[A-Z]+ (\S+) HTTP\//.exec(Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 2048).toString("latin1") : "")?.[1] ?? "/v2/";
  const [status, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "the request line and headers exceed 16 KiB: send a shorter URL and smaller headers (no credential Berth issues is that large)"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "the request took too long to arrive: send it again"]
        : [400, `the request is not valid HTTP/1.1 (${err.code ?? "parse error"}): check the client, or the proxy in front of Berth`];
  // Never the error itself: its rawPacket holds the request's bytes, credentials included.
  this.log.debug({ code: err.code, status }, "client error");
  if (socket.writable) {
    const body = errorBody(invalid(url, message, "UNSUPPORTED"));
    const headers = { ...safetyHeaders(url), "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(body)), connection: "close" };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join("")}\r\n${body}`);
  }
  socket.destroy(err);
}

/** During shutdown: a 503 in the protocol's shape (Fastify's own would be its default body). */
export function shuttingDown(): RegistryError {
  return new RegistryError("UNAVAILABLE", "Berth is shutting down: send the request again (to another instance, or once it has restarted)");
}

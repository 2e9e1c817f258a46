// The only place an error code meets an HTTP status, and the spec's error body is written.
import type { FastifyReply, FastifyRequest } from "fastify";
import { connectionFailure, RegistryError, type BerthErrorCode, type ErrorCode, type SpecErrorCode } from "../domain/errors.ts";
import { bodyEnded, clientLeft } from "./body.ts";
import { outOfStorage } from "./out-of-storage.ts";

const STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  TAG_INVALID: 400,
  RANGE_INVALID: 416,
  RANGE_NOT_SATISFIABLE: 416,
  PAGINATION_NUMBER_INVALID: 400,
  MANIFEST_TOO_LARGE: 413,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
  CHART_INVALID: 400,
  CHART_UNKNOWN: 404,
  CHART_EXISTS: 409,
  CHART_TOO_LARGE: 413,
  CLASSIC_REPOSITORY_UNKNOWN: 404,
  ENDPOINT_UNKNOWN: 404,
  INVALID_REQUEST: 400,
  IDENTITY_UNKNOWN: 404,
  TAG_RULE_UNKNOWN: 404,
  QUOTA_UNKNOWN: 404,
  RETENTION_POLICY_UNKNOWN: 404,
  RETENTION_RUNNING: 409,
  IDENTITY_EXISTS: 409,
  WEBHOOK_UNKNOWN: 404,
  WEBHOOK_EXISTS: 409,
  METADATA_UNKNOWN: 404,
  DELETED_UNKNOWN: 404,
  RESTORE_CONFLICT: 409,
  INSUFFICIENT_STORAGE: 507,
} satisfies Record<ErrorCode, number>;

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

/**
 * Under /v2/ the spec's table is all a client may see: containerd, the docker CLI and oras map
 * those codes to messages and show any other as a bare failure. A Berth code keeps its status,
 * message and detail (which say exactly what was wrong) and is named by the spec's nearest code.
 * Server faults keep UNKNOWN/UNAVAILABLE, as distribution does: the spec's table is for 4xx.
 * A code added to BerthErrorCode without a line here does not compile.
 */
const ON_V2 = {
  TAG_INVALID: "MANIFEST_INVALID",
  // The chunk cannot extend the upload where it stands; the Range header says where that is.
  RANGE_INVALID: "BLOB_UPLOAD_INVALID",
  // The requested range does not fit the blob's length (the detail gives the size).
  RANGE_NOT_SATISFIABLE: "SIZE_INVALID",
  // "The operation was unsupported due to ... an invalid set of parameters."
  PAGINATION_NUMBER_INVALID: "UNSUPPORTED",
  MANIFEST_TOO_LARGE: "MANIFEST_INVALID",
  CHART_INVALID: "MANIFEST_INVALID",
  CHART_UNKNOWN: "MANIFEST_UNKNOWN",
  CHART_EXISTS: "DENIED",
  CHART_TOO_LARGE: "SIZE_INVALID",
  CLASSIC_REPOSITORY_UNKNOWN: "NAME_UNKNOWN",
  INVALID_REQUEST: "UNSUPPORTED",
  IDENTITY_UNKNOWN: "DENIED",
  IDENTITY_EXISTS: "DENIED",
  WEBHOOK_UNKNOWN: "DENIED",
  WEBHOOK_EXISTS: "DENIED",
  METADATA_UNKNOWN: "MANIFEST_UNKNOWN",
  TAG_RULE_UNKNOWN: "DENIED",
  DELETED_UNKNOWN: "MANIFEST_UNKNOWN",
  RESTORE_CONFLICT: "DENIED",
  QUOTA_UNKNOWN: "DENIED",
  RETENTION_POLICY_UNKNOWN: "DENIED",
  RETENTION_RUNNING: "DENIED",
  ENDPOINT_UNKNOWN: "UNSUPPORTED",
  // The spec has no code for a full disk: DENIED ("the registry refuses this write"), with the 507
  // status and a message that say why. Not BLOB_UPLOAD_INVALID: docker retries a layer push after
  // it (five times, resending the whole layer), after DENIED it stops at once (moby's
  // retryOnError); a full disk is not fixed in seconds.
  INSUFFICIENT_STORAGE: "DENIED",
} satisfies Record<Exclude<BerthErrorCode, "UNKNOWN" | "UNAVAILABLE">, SpecErrorCode>;

/** Which codes an answer may carry: the spec's only (under /v2/), or Berth's too. */
export type CodeTable = "spec" | "berth";

function shownCode(code: ErrorCode, table: CodeTable): ErrorCode {
  return table === "spec" && code in ON_V2 ? ON_V2[code as keyof typeof ON_V2] : code;
}

/**
 * Errors Node or Fastify raise about the request itself (the client's mistake, a 4xx), and
 * failures of Berth's own connections (the server's, a 503 the client may retry): never the
 * client blamed for a store's reset (attack on uploads, F4), nor a 500 "internal error" for it.
 */
function fromTransport(thrown: unknown, request: FastifyRequest): RegistryError | null {
  if (!thrown || typeof thrown !== "object") return null;
  const { code, name } = thrown as { code?: unknown; name?: unknown };
  // The request stream's own error, as Fastify's body parser hands it over (API and token bodies).
  if (thrown === request.raw.errored) return bodyEnded(thrown);
  // Berth aborts its work when the client leaves mid-body (requestSignal); an abort otherwise
  // is a store call's timeout (Azure's SDK aborts a request past its time).
  if (code === "ABORT_ERR" || name === "AbortError") return clientLeft(request) ? bodyEnded(thrown) : unavailable(thrown, "timed out");
  // Berth's own reads of a request body turn their failures into bodyEnded where they happen
  // (http/body.ts), so a connection failure that arrives here untagged is of a connection Berth
  // opened itself: to the object store (after its SDK's retries), the database, an upstream registry.
  const broken = connectionFailure(thrown);
  if (broken) return unavailable(thrown, broken);
  if (name === "TimeoutError") return unavailable(thrown, "timed out"); // the S3 SDK's connection or socket timeout
  // Only the framework's own refusals (FST_ERR_…, and the SyntaxError of a JSON body it parsed)
  // say something about the request by their status. A storage SDK's error carries a status too
  // (Azure's RestError: 403 for a wrong account key, 404 for a missing container): that is the
  // server's fault, logged and answered 500 below, never the client's, with the store's words.
  const status = (thrown as { statusCode?: number }).statusCode;
  const framework = (typeof code === "string" && code.startsWith("FST_")) || thrown instanceof SyntaxError;
  if (framework && typeof status === "number" && status >= 400 && status < 500) {
    return new RegistryError(status === 413 ? "MANIFEST_TOO_LARGE" : "UNSUPPORTED", (thrown as Error).message);
  }
  return null;
}

/** A connection of Berth's own failed: the client's request was fine and may be sent again. */
function unavailable(thrown: unknown, what: string): RegistryError {
  // Which service: the SDKs mark their errors (the S3 SDK's $metadata, Azure's RestError). The
  // error's own message stays in the log: it may name internal addresses.
  const store = typeof thrown === "object" && thrown !== null && ("$metadata" in thrown || (thrown as Error).name === "RestError");
  const service = store ? "the object store" : "a service Berth depends on";
  return Object.assign(new RegistryError("UNAVAILABLE", `the connection to ${service} failed (${what}): send the request again`, { cause: what }), { cause: thrown });
}

export function replyWithError(reply: FastifyReply, thrown: unknown, table: CodeTable = "berth"): FastifyReply {
  let err = thrown instanceof RegistryError ? thrown : (fromTransport(thrown, reply.request) ?? outOfStorage(thrown, reply.log));
  if (err?.code === "UNAVAILABLE" && err !== thrown) reply.log.error({ err: thrown }, err.message);
  if (!err) {
    reply.log.error({ err: thrown }, "unexpected failure");
    err = new RegistryError("UNKNOWN", "internal error");
  }
  if (err.challenge) reply.header("www-authenticate", err.challenge);
  const retryAfter = (err.detail as { retryAfter?: unknown } | undefined)?.retryAfter;
  if (err.code === "TOOMANYREQUESTS" && typeof retryAfter === "number") reply.header("retry-after", retryAfter);
  if (err.code === "RANGE_INVALID" && typeof (err.detail as { expectedStart?: number })?.expectedStart === "number") {
    const offset = (err.detail as { expectedStart: number }).expectedStart;
    reply.header("range", `0-${Math.max(offset - 1, 0)}`);
  }
  const body = errorBody(err, table);
  reply.code(statusOf(err.code)).header("content-type", "application/json; charset=utf-8");
  return reply.request.method === "HEAD" ? reply.header("content-length", Buffer.byteLength(body)).send() : reply.send(body);
}

/** The spec's error body; also written by refusals.ts where node:http refuses before Fastify runs. */
export function errorBody(err: RegistryError, table: CodeTable = "berth"): string {
  return JSON.stringify({ errors: [{ code: shownCode(err.code, table), message: err.message, detail: err.detail ?? null }] });
}

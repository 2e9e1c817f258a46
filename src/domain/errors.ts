// The OCI distribution spec's error codes, then Berth's own. Code below the handlers throws
// RegistryError and knows nothing of HTTP; http/errors.ts maps a code to its status, once.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes

/** The spec's table: under /v2/ a client sees no other code on a 4xx answer (http/errors.ts). */
export const SPEC_ERROR_CODES = [
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
] as const;
export type SpecErrorCode = (typeof SPEC_ERROR_CODES)[number];

/**
 * Berth's own codes: more precise (and with their own status) where the spec's table has no
 * word, so /api/ and /helm/ can say so. Under /v2/ each answers as the spec's nearest code.
 */
export type BerthErrorCode =
  | "TAG_INVALID"
  /** An upload chunk out of order, or racing another on the same upload (416). */
  | "RANGE_INVALID"
  /** A blob GET's Range beyond the blob (416). */
  | "RANGE_NOT_SATISFIABLE"
  | "PAGINATION_NUMBER_INVALID"
  | "MANIFEST_TOO_LARGE"
  // Server faults (5xx): the spec's table names codes for 4xx answers only.
  | "UNAVAILABLE"
  | "UNKNOWN"
  // Helm charts
  | "CHART_INVALID"
  | "CHART_UNKNOWN"
  | "CHART_EXISTS"
  | "CHART_TOO_LARGE"
  | "CLASSIC_REPOSITORY_UNKNOWN"
  // Berth's own, outside /v2/: a path no route serves
  | "ENDPOINT_UNKNOWN"
  // The management API (identities, scope maps, attributes)
  | "INVALID_REQUEST"
  | "IDENTITY_UNKNOWN"
  | "IDENTITY_EXISTS"
  // Webhooks (404, 409)
  | "WEBHOOK_UNKNOWN"
  | "WEBHOOK_EXISTS"
  // Berth's own, for registry-side metadata
  | "METADATA_UNKNOWN"
  // Berth's own: a tag immutability rule id no rule has
  | "TAG_RULE_UNKNOWN"
  // Soft delete: nothing restorable under that reference (404); a restore that would undo a newer
  // push, or needs content that is gone (409)
  | "DELETED_UNKNOWN"
  | "RESTORE_CONFLICT"
  // Berth's own: no quota has the scope
  | "QUOTA_UNKNOWN"
  // Berth's own: a retention policy id no policy has (404); a retention run while another runs (409)
  | "RETENTION_POLICY_UNKNOWN"
  | "RETENTION_RUNNING"
  // Berth's own: the data directory's filesystem is full (507). Under /v2/ the body carries the
  // spec's DENIED instead (http/errors.ts says why).
  | "INSUFFICIENT_STORAGE";

export type ErrorCode = SpecErrorCode | BerthErrorCode;

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  /** A WWW-Authenticate value, for UNAUTHORIZED. */
  readonly challenge: string | undefined;

  constructor(code: ErrorCode, message: string, detail?: unknown, challenge?: string) {
    super(message);
    this.code = code;
    this.detail = detail;
    this.challenge = challenge;
  }
}

/** Codes of a connection that broke or never opened (Node's, and Azure's SDK's REQUEST_SEND_ERROR). */
const CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET", "REQUEST_SEND_ERROR"]);

/**
 * The code of a connection failure, or null: the request may never have arrived, or its answer
 * never came back (the S3 SDK names these TimeoutError; the code says which).
 */
export function connectionFailure(thrown: unknown): string | null {
  const code = (thrown as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECTION_CODES.has(code) ? code : null;
}

export function isRegistryError(thrown: unknown, code?: ErrorCode): thrown is RegistryError {
  return thrown instanceof RegistryError && (code === undefined || thrown.code === code);
}

/**
 * A write a policy refused (a storage quota, an immutable tag): DENIED, and the refusal itself,
 * which the service records as a `policy.refused` change once the write's transaction has rolled
 * back (services/policy-refusals.ts), so the event stream shows what never happened.
 */
export class PolicyRefusal extends RegistryError {
  readonly refusal: Refusal;

  constructor(refusal: Refusal, message: string, detail: unknown) {
    super("DENIED", message, detail);
    this.refusal = refusal;
  }
}

export interface Refusal {
  reason: "quota" | "immutable";
  repository: string;
  /** The tag or digest the push or delete named, when it named one (a blob upload names its digest). */
  reference: string | null;
  /** The quota's scope, or the tag rule's id. */
  rule: string;
}

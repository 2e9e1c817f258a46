// The OCI distribution spec's error codes, then Berth's own. Code below the handlers throws
// RegistryError and knows nothing of HTTP; http/errors.ts maps a code to its status, once.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes

export type ErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "TAG_INVALID"
  | "RANGE_INVALID"
  | "PAGINATION_NUMBER_INVALID"
  | "MANIFEST_TOO_LARGE"
  | "UNAVAILABLE"
  | "UNKNOWN"
  // Berth's own, for Helm charts
  | "CHART_INVALID"
  | "CHART_UNKNOWN"
  | "CHART_EXISTS"
  | "CHART_TOO_LARGE"
  | "CLASSIC_REPOSITORY_UNKNOWN"
  // Berth's own, outside /v2/: a path no route serves
  | "ENDPOINT_UNKNOWN"
  // Berth's own, for the management API (identities, scope maps, attributes)
  | "INVALID_REQUEST"
  | "IDENTITY_UNKNOWN"
  | "IDENTITY_EXISTS"
  // Berth's own, for registry-side metadata
  | "METADATA_UNKNOWN";

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

export function isRegistryError(thrown: unknown, code?: ErrorCode): thrown is RegistryError {
  return thrown instanceof RegistryError && (code === undefined || thrown.code === code);
}

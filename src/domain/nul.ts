// NUL, the one character no text Berth stores may hold: PostgreSQL's text and jsonb refuse it (a
// 500 where SQLite answered), and no name, tag, annotation or description has a use for it. The
// edges refuse it with this test: http/refusals.ts (URL, API and form bodies), manifest.ts,
// chart.ts; facts read from blobs lose it (services/provenance/indexer.ts).

/** Whether a parsed JSON value (or form) holds NUL in any string, key or value. */
export function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(holdsNul);
  // Plain objects only (what JSON and forms parse to): never walk a stream's or a buffer's insides.
  if (value === null || typeof value !== "object" || ![Object.prototype, null].includes(Object.getPrototypeOf(value))) return false;
  return Object.entries(value).some(([key, inner]) => key.includes("\u0000") || holdsNul(inner));
}

/**
 * `value` with every NUL in its strings and keys made U+FFFD: for facts Berth derives from bytes it
 * keeps exact (an image config's labels, an attestation), where a NUL must not fail the push.
 */
export function withoutNul<T>(value: T): T {
  if (typeof value === "string") return value.replaceAll("\u0000", "\ufffd") as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value === null || typeof value !== "object" || ![Object.prototype, null].includes(Object.getPrototypeOf(value))) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [withoutNul(key), withoutNul(inner)])) as T;
}

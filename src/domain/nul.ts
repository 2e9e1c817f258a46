// NUL, the one character no text Berth stores may hold: PostgreSQL's text and jsonb refuse it (a
// 500 where SQLite answered), and no name, tag, annotation or description has a use for it. The
// edges refuse it with this test: http/refusals.ts (URL, API and form bodies), manifest.ts.

/** Whether a parsed JSON value (or form) holds NUL in any string, key or value. */
export function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(holdsNul);
  // Plain objects only (what JSON and forms parse to): never walk a stream's or a buffer's insides.
  if (value === null || typeof value !== "object" || ![Object.prototype, null].includes(Object.getPrototypeOf(value))) return false;
  return Object.entries(value).some(([key, inner]) => key.includes("\u0000") || holdsNul(inner));
}

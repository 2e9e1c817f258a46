// NUL, the one character no text Berth stores may hold: PostgreSQL's text and jsonb refuse it (a
// 500 where SQLite answered), and no name, tag, annotation or description has a use for it. The
// edges refuse it with this test: http/refusals.ts (URL, API and form bodies), manifest.ts,
// chart.ts; facts read from blobs lose it (services/provenance/indexer.ts).

/**
 * Whether a parsed JSON value (or form) holds NUL in any string, key or value. A loop, not
 * recursion: a 64 KiB body of nested arrays, sent before any sign-in, would overflow the stack.
 */
export function holdsNul(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === "string") {
      if (next.includes("\u0000")) return true;
    } else if (Array.isArray(next)) {
      for (const inner of next) pending.push(inner);
    } else if (isPlain(next)) {
      for (const [key, inner] of Object.entries(next)) {
        if (key.includes("\u0000")) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}

/** Plain objects only (what JSON and forms parse to): never walk a stream's or a buffer's insides. */
function isPlain(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(value));
}

/**
 * `value` with every NUL in its strings and keys made U+FFFD: for facts Berth derives from bytes it
 * keeps exact (an image config's labels, an attestation), where a NUL must not fail the push.
 */
export function withoutNul<T>(value: T): T {
  if (typeof value === "string") return value.replaceAll("\u0000", "\ufffd") as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (!isPlain(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [withoutNul(key), withoutNul(inner)])) as T;
}

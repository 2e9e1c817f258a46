/** A long list of bound values in slices: SQLite allows 32,766 per statement, PostgreSQL 65,535. */
export function slices<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < items.length; at += size) out.push(items.slice(at, at + size));
  return out;
}

// A walk by push time (catalog-types.ts WalkCursor), the one rule for the lists ordered by a last
// push that moves: a repository's manifests and its tags by time (catalog-store.ts).
import type { WalkCursor } from "./catalog-types.ts";

/**
 * Up to `limit` rows of a walk by push time (WalkCursor) after `after`: the "before" leg in the
 * list's `order`, then the "since" leg oldest first. `time` and `key` name the push time and the
 * tie-break columns; `read` runs the caller's query with a leg's condition, order and limit.
 */
export async function walkByTime<R>(
  columns: { time: string; key: string; order: "asc" | "desc" },
  after: WalkCursor | null,
  newest: () => Promise<unknown>,
  read: (where: (eb: any) => any, direction: "asc" | "desc", limit: number) => Promise<R[]>,
  position: (row: R) => { value: number; name: string },
  limit: number,
): Promise<{ row: R; walk: WalkCursor }[]> {
  const { time, key, order } = columns;
  // A walk begins after every push there is, also one stamped ahead by a process whose clock runs
  // ahead (so a first page lists all of them in order); one index seek (manifests_created, tags_updated).
  const since = after?.since ?? Math.max(Date.now(), Number((await newest()) ?? 0) + 1);
  const beyond = (eb: any, direction: "asc" | "desc", from: WalkCursor) => {
    const past = direction === "asc" ? ">" : "<";
    return eb.or([eb(time, past, from.value), eb.and([eb(time, "=", from.value), eb(key, past, from.name)])]);
  };
  const found: { row: R; walk: WalkCursor }[] = [];
  const take = (leg: WalkCursor["leg"], rows: R[]) => found.push(...rows.map((row) => ({ row, walk: { since, leg, ...position(row) } })));
  if (after === null || after.leg === "before") {
    take("before", await read((eb) => eb.and([eb(time, "<", since), ...(after ? [beyond(eb, order, after)] : [])]), order, limit));
    if (found.length === limit) return found;
  }
  take("since", await read((eb) => eb.and([eb(time, ">=", since), ...(after?.leg === "since" ? [beyond(eb, "asc", after)] : [])]), "asc", limit - found.length));
  return found;
}

// `n` and `last` for tags and catalog, and the RFC 8288 Link to the next page.
import type { FastifyReply, FastifyRequest } from "fastify";
import { RegistryError } from "../../domain/errors.ts";
import { queryValue } from "../../http/body.ts";

/** Without `n`, lists are still bounded; the Link header leads on. */
const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;

export interface RequestedPage {
  limit: number;
  after?: string;
  /** Whether `n` was given (a Link then repeats it). */
  explicit: boolean;
}

export function pageOf(request: FastifyRequest): RequestedPage {
  const n = queryValue(request, "n");
  const last = queryValue(request, "last");
  if (n === undefined) return { limit: DEFAULT_PAGE, after: last, explicit: false };
  if (!/^\d+$/.test(n)) throw new RegistryError("PAGINATION_NUMBER_INVALID", "n must be a whole number", { n: n.slice(0, 50) });
  return { limit: Math.min(Number(n), MAX_PAGE), after: last, explicit: true };
}

/** `items` holds up to limit + 1 entries: the extra one only says that more remain. */
export function replyPaged<T extends string>(reply: FastifyReply, path: string, page: RequestedPage, items: T[], body: (items: T[]) => object): FastifyReply {
  const shown = items.slice(0, page.limit);
  if (items.length > page.limit && shown.length > 0) {
    const next = new URLSearchParams({ n: String(page.limit), last: shown.at(-1)! });
    reply.header("link", `<${path}?${next}>; rel="next"`);
  }
  return reply.header("content-type", "application/json").send(JSON.stringify(body(shown)));
}

/**
 * Up to limit + 1 entries that `visible` keeps, read in batches from `list`: a page depends only
 * on what the caller may see, so hidden entries neither cut a page short (losing the Link to the
 * rest) nor show through its size. `cursor` names an entry as `list` takes `after` (the entry
 * itself for names; the API's opaque cursors for rows). `visible` may query (Authorizer.showsContent).
 */
export async function visiblePage<T>(page: RequestedPage, list: (after: string | undefined, limit: number) => Promise<T[]>, visible: (item: T) => boolean | Promise<boolean>, cursor: (item: T) => string = String): Promise<T[]> {
  const wanted = page.limit + 1;
  const batch = Math.min(Math.max(wanted, 100), MAX_PAGE + 1);
  const kept: T[] = [];
  let after = page.after;
  for (;;) {
    const items = await list(after, batch);
    for (const item of items) {
      if (await visible(item)) kept.push(item);
      if (kept.length === wanted) return kept;
    }
    if (items.length < batch) return kept;
    after = cursor(items.at(-1)!);
  }
}

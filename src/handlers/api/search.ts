// GET /api/v1/search (api-contract/search.ts): manifests whose labels, annotations, signatures
// or provenance match, from the search index; only what the caller may see (Authorizer.showsContent:
// not content only a hidden or read-locked tag reaches),
// a page cut from visible hits only.
import { SearchQuery } from "../../api-contract/search.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { SearchHit } from "../../metadata/catalog-types.ts";
import { decodeCursor, encodeCursor } from "../../services/catalog/catalog-service.ts";
import { searchQuery } from "../../services/catalog/search-service.ts";
import { visiblePage } from "../oci/paging.ts";
import { cut, requestedPage } from "./catalog.ts";
import { queryOf, type ApiContext } from "./context.ts";

const many = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export async function getSearch(ctx: ApiContext) {
  ctx.signedIn();
  const query = queryOf(ctx, SearchQuery);
  const search = searchQuery({
    label: many(query.label),
    annotation: many(query.annotation),
    dockerfile: many(query.dockerfile),
    builder: many(query.builder),
    unsigned: query.unsigned === "true",
    unverified: query.unverified === "true",
    ...(query.repository ? { repository: query.repository } : {}),
  }, ctx.search.trust);
  const within = ctx.authorizer.pullScope(ctx.who);
  if (within) search.within = within;
  if (search.terms.length === 0 && !search.unsigned && !search.unverified) {
    throw new RegistryError("INVALID_REQUEST", "search for something: label=k=v, label=k~v, annotation=…, dockerfile=<url>, builder=<id>, unsigned=true or unverified=true");
  }
  const page = requestedPage(query);
  const cursor = (hit: SearchHit) => encodeCursor(hit.repository, hit.digest);
  const found = await visiblePage(
    page,
    (after, limit) => {
      const at = decodeCursor(after, "string");
      return ctx.search.find(search, at ? { repository: String(at.value), digest: at.name } : null, limit);
    },
    (hit) => ctx.authorizer.showsContent(ctx.who, hit.repository, hit.digest),
    cursor,
  );
  const { shown, next } = cut(page, found, cursor);
  return { results: await ctx.search.results(search, shown, (repository, tag) => ctx.authorizer.listable(repository, tag)), next };
}

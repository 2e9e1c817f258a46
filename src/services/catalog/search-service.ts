// Search by provenance: `label=build.sha=e80e6ef`, `annotation=org.opencontainers.image.source~github.com/acme`,
// `dockerfile=<url>`, `builder=<id>`, `unsigned=true`, `unverified=true` (no signature verified now
// against the trust in force: services/provenance/signature-verdicts.ts), over the search index the provenance rows
// fill at push (metadata/search-entries.ts). Terms are ANDed; a page is cut from the hits the
// caller may see (the handler's visibility), in (repository, digest) order.
import { RegistryError } from "../../domain/errors.ts";
import type { SearchHit, SearchQuery, SearchSource, SearchTerm } from "../../metadata/catalog-types.ts";
import type { MetadataStore } from "../../metadata/types.ts";

export interface SearchRequest {
  label: string[];
  annotation: string[];
  dockerfile: string[];
  builder: string[];
  unsigned: boolean;
  unverified: boolean;
  repository?: string;
}

/** `key=value` (equals) or `key~value` (contains): split at the first = or ~. */
export function parseTerm(source: SearchSource, text: string): SearchTerm {
  const at = text.search(/[=~]/);
  if (at <= 0) throw new RegistryError("INVALID_REQUEST", `a ${source} term is key=value (equals) or key~value (contains), e.g. build.sha=e80e6ef`, { [source]: text.slice(0, 200) });
  return { source, key: text.slice(0, at), match: text[at] === "=" ? "equals" : "contains", value: text.slice(at + 1) };
}

/** `trustFingerprint`: the trust in force (SignatureTrust.fingerprint), which `unverified` reads outcomes of. */
export function searchQuery(request: SearchRequest, trustFingerprint: string, now = new Date()): SearchQuery {
  const terms: SearchTerm[] = [
    ...request.label.map((t) => parseTerm("label", t)),
    ...request.annotation.map((t) => parseTerm("annotation", t)),
    ...request.dockerfile.map((url): SearchTerm => ({ source: "label", key: "build.dockerfile", match: "equals", value: url })),
    ...request.builder.map((id): SearchTerm => ({ source: "provenance", key: "builder.id", match: "equals", value: id })),
  ];
  if (terms.length > 16) throw new RegistryError("INVALID_REQUEST", "at most 16 terms in one search");
  return { terms, unsigned: request.unsigned, ...(request.unverified ? { unverified: { trust: trustFingerprint, now: now.getTime() } } : {}), ...(request.repository ? { repositoryPrefix: request.repository } : {}) };
}

export class SearchService {
  private readonly metadata: MetadataStore;
  /** The fingerprint of the trust in force (SignatureTrust.fingerprint). */
  readonly trust: string;

  constructor(metadata: MetadataStore, trust: string) {
    this.metadata = metadata;
    this.trust = trust;
  }

  find(query: SearchQuery, after: { repository: string; digest: string } | null, limit: number): Promise<SearchHit[]> {
    return this.metadata.search.find(query, after, limit);
  }

  /** The page's hits with their tags (those `tagListed` shows) and what matched. */
  async results(query: SearchQuery, hits: readonly SearchHit[], tagListed: (repository: string, tag: string) => boolean) {
    const matches = await this.metadata.search.matches(hits, query.terms);
    const tags = await this.metadata.catalog.tagsAt(hits);
    return hits.map((h) => ({
      repository: h.repository,
      digest: h.digest,
      mediaType: h.mediaType,
      tags: (tags.get(`${h.repository}@${h.digest}`) ?? []).filter((t) => tagListed(h.repository, t)),
      pushed: h.pushed.toISOString(),
      matches: (matches.get(`${h.repository}@${h.digest}`) ?? []).map((e) => ({ source: e.source, key: e.key, value: e.value })),
    }));
  }
}

// The portal's read models (migration 010): one summary row per repository and an index of the
// labels, annotations, signers and builders each manifest carries. Both are derived, never the
// truth: the summary is recomputed inside every transaction that records a manifest, tag or chart
// change for the repository (kysely-store.ts), and the search entries are written with each
// provenance row (provenance-store.ts), so a listing or a search is an indexed query.
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { StoredAs } from "./types.ts";

export type RepositoryKind = "image" | "index" | "chart-oci" | "chart-classic" | "chart-both" | "artifact";

/** A chart repository's kind from how its versions are stored; null without versions. */
export function chartKind(storedAs: Iterable<StoredAs>): RepositoryKind | null {
  const ways = new Set(storedAs);
  if (ways.size === 0) return null;
  return ways.has("both") || ways.size > 1 ? "chart-both" : ways.has("classic") ? "chart-classic" : "chart-oci";
}

export interface BuildLabels {
  user: string | null;
  sha: string | null;
  dockerfile: string | null;
}

export interface RepositorySummaryRow {
  name: RepositoryName;
  kind: RepositoryKind;
  artifactType: string | null;
  tags: number;
  manifests: number;
  size: number;
  pushed: Date | null;
  newest: { tag: string | null; digest: Digest; build: BuildLabels } | null;
}

export interface SummaryFilter {
  /** A substring of the name. */
  q?: string;
  kind?: RepositoryKind;
  /** Only names matching one of these patterns ("team/*" or an exact name): a caller's scope (Authorizer.pullScope). */
  within?: readonly string[];
  /**
   * Repositories with attributes of their own (a row in repository_attributes: the ones
   * Authorizer.summaryIsPerCaller names), whose kind is each caller's, not always the stored one:
   * "also" adds every such repository to `kind`'s rows whatever its stored kind (the caller of
   * the list checks each), "without" leaves them out, "only" keeps just them.
   */
  attributed?: "also" | "without" | "only";
  sort: "name" | "pushed" | "size";
  order: "asc" | "desc";
}

/** Where a page starts: strictly after this row in the filter's order. */
export interface SummaryCursor {
  value: number | string;
  name: string;
}

export interface TagRow {
  name: string;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  /** The tag's last push (a move, or the same manifest pushed again): the order by time. */
  updated: Date;
  /** By time: where a walk goes on after this row (the next page's cursor); by name: null. */
  walk: WalkCursor | null;
}

/** Where a page of a repository's tags starts: after this tag's name, or on a walk by time. */
export type TagCursor = { by: "name"; name: string } | { by: "time"; walk: WalkCursor };

export interface ManifestRow {
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  size: number;
  subject: Digest | null;
  /** The last push (ManifestRecord.pushedAt): the list's order. */
  pushed: Date;
  /** Where a walk goes on after this row (the next page's cursor). */
  walk: WalkCursor;
}

/**
 * A walk by push time: a repository's manifests (CatalogRows.manifests), its tags by time
 * (CatalogRows.tags). The order, the last push, moves with every push (a tag moved, the same bytes
 * pushed again), so a walk by the order alone passes over a row pushed again behind its cursor
 * (newest first: it jumps to the front) or lists it twice (oldest first: it jumps to the end). So a
 * walk has two legs: "before", in the list's order, the rows last pushed before the walk began
 * (`since`: the server's clock at its first page, or just after the newest push if that is later);
 * then "since", oldest first, those pushed since, where a row pushed again only moves further ahead.
 * No row that stays is passed over (with the processes' clocks in step), and each is listed once,
 * those pushed during the walk at the end; except that one pushed again after the walk listed it
 * comes again at the end, as it is now: which rows the walk listed before they moved is no stored
 * fact (a row keeps only its last push), so the second leg cannot leave them out.
 */
export interface WalkCursor {
  since: number;
  leg: "before" | "since";
  /** The row's push time (ms). */
  value: number;
  /** The row's tie-break among rows pushed in the same millisecond: the digest, the tag. */
  name: string;
}

export interface CatalogRows {
  /**
   * Recomputes a repository's summary (drops it when no manifest and no tag is left). Inside the
   * changing transaction. With `delta` (what the transaction moved, catalog-store.ts
   * SummaryDeltas) the counts are added to, else counted from the rows.
   */
  refresh(repository: RepositoryName, delta?: { tags: number; manifests: number; size: number }): Promise<void>;
  summary(repository: RepositoryName): Promise<RepositorySummaryRow | null>;
  /** The kind a summary would give the repository if this manifest were its newest (charts aside); null when it is not stored. */
  contentKind(repository: RepositoryName, digest: Digest): Promise<{ kind: RepositoryKind; artifactType: string | null } | null>;
  /** Up to `limit` summaries in the filter's order, after the cursor. */
  list(filter: SummaryFilter, after: SummaryCursor | null, limit: number): Promise<RepositorySummaryRow[]>;
  count(filter: Omit<SummaryFilter, "sort" | "order">): Promise<number>;
  /** Every name matching the filter (to count what a restricted caller sees). */
  names(filter: Omit<SummaryFilter, "sort" | "order">): Promise<string[]>;
  /** A repository's tags with their manifests, by name, or by when each was last pushed (a walk by time: WalkCursor). */
  tags(repository: RepositoryName, options: { sort: "name" | "time_desc" | "time_asc"; q?: string }, after: TagCursor | null, limit: number): Promise<TagRow[]>;
  /**
   * A repository's manifests, newest first, then any pushed since the walk began (WalkCursor;
   * untagged: only those no tag points at).
   */
  manifests(repository: RepositoryName, options: { untagged: boolean }, after: WalkCursor | null, limit: number): Promise<ManifestRow[]>;
  /** Every manifest digest of a repository (to delete it whole). */
  manifestDigests(repository: RepositoryName): Promise<Digest[]>;
  /** The tags on each digest. */
  tagsOf(repository: RepositoryName, digests: readonly Digest[]): Promise<Map<Digest, string[]>>;
  /** The tags on each manifest of several repositories, keyed `repository@digest`. */
  tagsAt(manifests: readonly { repository: string; digest: string }[]): Promise<Map<string, string[]>>;
  /** Each manifest with its config and layers, and an index with its children's: bytes. */
  contentSizes(repository: RepositoryName, digests: readonly Digest[]): Promise<Map<Digest, number>>;
  /** The digests among these that a signature refers to. */
  signed(repository: RepositoryName, digests: readonly Digest[]): Promise<Set<Digest>>;
  /** build.user / build.sha / build.dockerfile of each digest that has any of them. */
  buildLabels(repository: RepositoryName, digests: readonly Digest[]): Promise<Map<Digest, BuildLabels>>;
}

export type SearchSource = "label" | "annotation" | "signature" | "provenance";

/** One searchable fact about a manifest (`digest`), recorded with the provenance row of `origin`. */
export interface SearchEntry {
  digest: Digest;
  source: SearchSource;
  key: string;
  value: string;
}

export interface SearchTerm {
  source: SearchSource;
  key: string;
  /** equals: also a stored hex value starting with a 7+ hex-digit value; contains: a substring. */
  match: "equals" | "contains";
  value: string;
}

export interface SearchQuery {
  terms: SearchTerm[];
  /** Only manifests no signature refers to. */
  unsigned: boolean;
  /**
   * Only manifests no signature verifies now: none refers to them, or each that does failed or
   * was not evaluated against the trust whose fingerprint is `trust`, or stopped verifying
   * before `now` (ms). Outcomes computed with another trust count as not verified.
   */
  unverified?: { trust: string; now: number };
  repositoryPrefix?: string;
  /** As SummaryFilter.within. */
  within?: readonly string[];
}

export interface SearchHit {
  repository: RepositoryName;
  digest: Digest;
  mediaType: string;
  /** The last push (ManifestRecord.pushedAt). */
  pushed: Date;
}

export interface SearchRows {
  /** Replaces what `origin`'s provenance row said (inside the push transaction). */
  replace(repository: RepositoryName, origin: Digest, entries: readonly SearchEntry[]): Promise<void>;
  forget(repository: RepositoryName, origin: Digest): Promise<void>;
  /** Stored entries of a digest from one source. */
  entriesOf(repository: RepositoryName, digest: Digest, source: SearchSource): Promise<SearchEntry[]>;
  /** Up to `limit` manifests matching every term, in (repository, digest) order after the cursor. */
  find(query: SearchQuery, after: { repository: string; digest: string } | null, limit: number): Promise<SearchHit[]>;
  /** The entries that made each term match, per hit. */
  matches(hits: readonly SearchHit[], terms: readonly SearchTerm[]): Promise<Map<string, SearchEntry[]>>;
}

// Search by provenance (../../../notes/portal-contract.md, "Search"): manifests whose image labels,
// annotations, signatures or SLSA provenance match, over an index filled at push (never a scan of
// manifests). Every term must match (AND); repeat a parameter for more terms.
import { z } from "zod";
import { Time } from "./common.ts";
import { PageQuery } from "./catalog.ts";

const Digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/);
const Terms = z.union([z.string(), z.array(z.string())]).optional();

export const SearchQuery = z.strictObject({
  /** `key=value` equals (a value of 7+ hex digits also matches a stored hex value it starts, as git abbreviates commits); `key~value` contains. */
  label: Terms,
  annotation: Terms,
  /** Images built from this Dockerfile URL (the build.dockerfile label; equals). */
  dockerfile: Terms,
  /** true: only manifests no signature refers to. */
  unsigned: z.enum(["true", "false"]).optional(),
  /** true: only manifests no signature verifies now against the configured trust (none, or only failing, untrusted, unevaluated or expired ones). */
  unverified: z.enum(["true", "false"]).optional(),
  /** Images with an SLSA provenance from this builder id (equals). */
  builder: Terms,
  /** Only repositories whose name starts with this. */
  repository: z.string().max(256).optional(),
  ...PageQuery,
});
export type SearchQuery = z.infer<typeof SearchQuery>;

export const MatchSource = z.enum(["label", "annotation", "signature", "provenance"]);
export type MatchSource = z.infer<typeof MatchSource>;

export const SearchResult = z.strictObject({
  repository: z.string(),
  digest: Digest,
  mediaType: z.string(),
  tags: z.array(z.string()),
  pushed: Time,
  /** The stored entries that made each term match, verbatim. */
  matches: z.array(z.strictObject({ source: MatchSource, key: z.string(), value: z.string() })),
});
export type SearchResult = z.infer<typeof SearchResult>;
/** In (repository, digest) order. */
export const SearchAnswer = z.strictObject({ results: z.array(SearchResult), next: z.string().nullable() });
export type SearchAnswer = z.infer<typeof SearchAnswer>;

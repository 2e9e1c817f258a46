// What the registry holds, as the portal and `berth repository` read it: repository summaries
// (kind, tags, size, last push), a repository's tags and manifests with their details, and one
// manifest in full. Agreed with the portal in ../../../notes/portal-contract.md ("Repositories"):
// fields may be added, never renamed. Every list answers only what the caller may see
// (Authorizer.shows) and pages with `n` (default 100, at most 1000) and the opaque cursor `last`,
// taken from the previous answer's `next` (null: no more rows).
import { z } from "zod";
import { REFERRER_KINDS, type ReferrerTreeNode as ReferrerTree } from "../domain/referrers.ts";
import { Time } from "./common.ts";

const Digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/);
const Strings = z.record(z.string(), z.string());

/** `n` and `last`, as every paged list of the portal API takes them. */
export const PageQuery = {
  n: z.string().regex(/^[1-9][0-9]{0,5}$/, "a whole number from 1 (at most 1000 are answered)").optional(),
  last: z.string().max(2048).optional(),
};
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export const RepositoryKind = z.enum(["image", "index", "chart-oci", "chart-classic", "chart-both", "artifact"]);
export type RepositoryKind = z.infer<typeof RepositoryKind>;

/** The seed's build labels (build.user, build.sha, build.dockerfile) of an image, null where absent. */
export const BuildLabels = z.strictObject({ user: z.string().nullable(), sha: z.string().nullable(), dockerfile: z.string().nullable() });
export type BuildLabels = z.infer<typeof BuildLabels>;

export const RepositorySummary = z.strictObject({
  name: z.string(),
  /** Of the newest pushed top-level manifest (referrers and index children do not count); charts by how they were stored. */
  kind: RepositoryKind,
  /** For kind "artifact": the manifest's artifactType, else its config's media type. */
  artifactType: z.string().nullable(),
  tags: z.number().int(),
  manifests: z.number().int(),
  /** Bytes of the distinct blobs and manifests the repository's manifests reference (a shared layer counts once). */
  size: z.number().int(),
  /** The last push (a manifest, one already stored pushed again included, or a tag set). */
  pushed: Time.nullable(),
  newest: z.strictObject({ tag: z.string().nullable(), digest: Digest, build: BuildLabels }).nullable(),
});
export type RepositorySummary = z.infer<typeof RepositorySummary>;

export const RepositorySort = z.enum(["name", "pushed", "size"]);
export const RepositoryListQuery = z.strictObject({
  /** A substring of the name. */
  q: z.string().max(256).optional(),
  kind: RepositoryKind.optional(),
  /** name (default, ascending), pushed or size (default descending). */
  sort: RepositorySort.optional(),
  order: z.enum(["asc", "desc"]).optional(),
  ...PageQuery,
});
export type RepositoryListQuery = z.infer<typeof RepositoryListQuery>;
export const RepositoryList = z.strictObject({
  repositories: z.array(RepositorySummary),
  /** How many repositories the caller may see match q and kind. */
  total: z.number().int(),
  next: z.string().nullable(),
});
export type RepositoryList = z.infer<typeof RepositoryList>;

/** One repository, with what the caller may do to it (the portal hides what it may not). */
export const RepositoryDetail = RepositorySummary.extend({
  may: z.strictObject({ push: z.boolean(), delete: z.boolean(), manage: z.boolean() }),
});
export type RepositoryDetail = z.infer<typeof RepositoryDetail>;

export const TagDetail = z.strictObject({
  name: z.string(),
  digest: Digest,
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  /** The manifest with its config and layers (an index: with its children's). */
  size: z.number().int(),
  /** "linux/amd64", "linux/arm/v7" for an index (attestation entries excluded); [] otherwise. */
  platforms: z.array(z.string()),
  /** When the tag was last set. */
  pushed: Time,
  /** Whether a signature (notation, cosign) refers to the manifest; the provenance report says whether it verifies. */
  signed: z.boolean(),
  build: BuildLabels.nullable(),
});
export type TagDetail = z.infer<typeof TagDetail>;
export const TagSort = z.enum(["name", "time_desc", "time_asc"]);
export const TagListQuery = z.strictObject({ sort: TagSort.optional(), q: z.string().max(256).optional(), ...PageQuery });
export type TagListQuery = z.infer<typeof TagListQuery>;
/**
 * By name, or by last push (time_desc, time_asc). A push moves a tag's push time (a tag moved, the
 * same manifest pushed again), so a walk by time through `next` lists, after the tags pushed before
 * its first page (in the order asked), those pushed since, oldest first: each tag once, a tag pushed
 * during the walk at the end, never passed over; one pushed again after the walk listed it comes
 * again there, as it is now. A walk by name lists each tag there is once (names do not move).
 */
export const TagList = z.strictObject({ tags: z.array(TagDetail), next: z.string().nullable() });
export type TagList = z.infer<typeof TagList>;

export const ManifestSummary = z.strictObject({
  digest: Digest,
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z.number().int(),
  tags: z.array(z.string()),
  platforms: z.array(z.string()),
  /** The manifest's last push (the same bytes pushed again count): the list's order, newest first. */
  pushed: Time,
  /** The manifest this one refers to (a signature, SBOM or attestation), or null. */
  subject: Digest.nullable(),
});
export type ManifestSummary = z.infer<typeof ManifestSummary>;
export const ManifestListQuery = z.strictObject({ untagged: z.enum(["true", "false"]).optional(), ...PageQuery });
export type ManifestListQuery = z.infer<typeof ManifestListQuery>;
/**
 * Newest push first. A walk by `next` lists, after those pushed before its first page, the ones
 * pushed since (oldest first): a push of the same bytes moves a manifest's push time, which would
 * otherwise carry it past the cursor unseen. One pushed again mid-walk may be listed twice.
 */
export const ManifestList = z.strictObject({ manifests: z.array(ManifestSummary), next: z.string().nullable() });
export type ManifestList = z.infer<typeof ManifestList>;

/** The shape is the domain's (the service builds it); this schema must produce exactly that. */
export type ReferrerTreeNode = ReferrerTree;
export const ReferrerTreeNode: z.ZodType<ReferrerTreeNode> = z.strictObject({
  digest: Digest,
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z.number().int(),
  annotations: Strings,
  kind: z.enum(REFERRER_KINDS),
  get referrers() {
    return z.array(ReferrerTreeNode);
  },
}).meta({ id: "ReferrerTreeNode" });

export const Platform = z.strictObject({ os: z.string(), architecture: z.string(), variant: z.string().optional() });

export const ManifestDetail = z.strictObject({
  repository: z.string(),
  digest: Digest,
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z.number().int(),
  tags: z.array(z.string()),
  /** The manifest's last push (the same bytes pushed again count). */
  pushed: Time,
  config: z.strictObject({ digest: Digest, mediaType: z.string(), size: z.number().int() }).nullable(),
  layers: z.array(z.strictObject({ digest: Digest, mediaType: z.string(), size: z.number().int(), annotations: Strings })),
  annotations: Strings,
  /** The image config's config.Labels, verbatim. */
  labels: Strings,
  /** An index's children, attestation manifests excluded. */
  platforms: z.array(z.strictObject({ digest: Digest, mediaType: z.string(), size: z.number().int(), platform: Platform })),
  referrers: z.array(ReferrerTreeNode),
  chart: z.strictObject({ name: z.string(), version: z.string(), appVersion: z.string().nullable() }).nullable(),
  /** The manifest this one refers to, or null. */
  subject: Digest.nullable(),
});
export type ManifestDetail = z.infer<typeof ManifestDetail>;

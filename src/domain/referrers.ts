// The referrer tree as the catalog reads it: what refers to a manifest (signatures, SBOMs,
// attestations), and what refers to those in turn. Declared here once, so the service that builds
// it and the wire contract that validates it (api-contract/catalog.ts, `z.ZodType<ReferrerTreeNode>`)
// cannot drift apart: a field changed on one side fails the type check on the other.
export const REFERRER_KINDS = ["signature", "sbom", "attestation", "other"] as const;
export type ReferrerKind = (typeof REFERRER_KINDS)[number];

/** A referrer's kind as its artifactType alone tells it (provenance facts, where indexed, come first). */
export function referrerKindOf(artifactType: string | null | undefined): ReferrerKind {
  if (artifactType && /spdx|cyclonedx|sbom|syft/i.test(artifactType)) return "sbom";
  if (artifactType && /in-toto|attestation|provenance/i.test(artifactType)) return "attestation";
  if (artifactType && /signature|sigstore|cosign/i.test(artifactType)) return "signature";
  return "other";
}

export interface ReferrerTreeNode {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Record<string, string>;
  kind: ReferrerKind;
  referrers: ReferrerTreeNode[];
}

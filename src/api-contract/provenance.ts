// The provenance report (/api/v1/provenance/...) and registry-side metadata (/api/v1/metadata/...).
// The report is declared strictly down to each platform, signature and referrer; the facts read
// from attestations and build history (SLSA, SBOM, origin, history steps, signers, checks) vary by
// builder and are typed by services/provenance/, so here they are `unknown` at the wire.
import { z } from "zod";
import { Time } from "./common.ts";

const Digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/);
const Strings = z.record(z.string(), z.string());

export const SignatureReport = z.strictObject({
  digest: Digest,
  artifactType: z.string().nullable(),
  scheme: z.enum(["notation", "cosign-bundle", "cosign-legacy"]),
  envelope: z.enum(["jws", "cose", "sigstore-bundle", "simplesigning", "unknown"]),
  signs: Digest,
  signer: z.unknown(),
  signingTime: z.string().optional(),
  /** null: not checked (no trust configured for it). */
  verified: z.boolean().nullable(),
  reason: z.string(),
  policy: z.string().optional(),
  level: z.string().optional(),
  checks: z.record(z.string(), z.enum(["pass", "fail", "logged", "skipped"])).optional(),
});

export interface ReferrerNode {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  kind: string;
  referrers: ReferrerNode[];
}
export const ReferrerNode: z.ZodType<ReferrerNode> = z.strictObject({
  digest: Digest,
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z.number().int(),
  kind: z.string(),
  get referrers() {
    return z.array(ReferrerNode);
  },
}).meta({ id: "ReferrerNode" });

export const PlatformReport = z.strictObject({
  platform: z.strictObject({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).nullable(),
  digest: Digest,
  mediaType: z.string(),
  size: z.number().int(),
  created: z.string().optional(),
  author: z.string().optional(),
  config: z.strictObject({ digest: Digest, mediaType: z.string(), size: z.number().int() }).optional(),
  labels: Strings,
  annotations: Strings,
  origin: z.record(z.string(), z.unknown()),
  history: z.array(z.unknown()),
  attestations: z.array(z.strictObject({
    digest: Digest,
    foundAs: z.enum(["index-entry", "referrer"]),
    form: z.string(),
    describes: Digest.nullable(),
    statements: z.array(z.record(z.string(), z.unknown())),
  })),
  build: z.record(z.string(), z.unknown()).optional(),
  sboms: z.array(z.record(z.string(), z.unknown())),
  signatures: z.array(SignatureReport),
  referrers: z.array(ReferrerNode),
});

export const ProvenanceReport = z.strictObject({
  repository: z.string(),
  reference: z.string(),
  digest: Digest,
  mediaType: z.string(),
  size: z.number().int(),
  kind: z.string(),
  created: z.string().optional(),
  tags: z.array(z.string()),
  platforms: z.array(PlatformReport),
  annotations: Strings,
  signatures: z.array(SignatureReport),
  referrers: z.array(ReferrerNode),
  verdict: z.strictObject({
    labelsPresent: z.boolean(),
    sourceAndRevisionKnown: z.boolean(),
    signed: z.boolean(),
    signedAndVerified: z.boolean(),
    provenanceAttested: z.boolean(),
    line: z.string(),
  }),
  warnings: z.array(z.string()),
});

// -- registry-side metadata: a key's value per repository, or per digest in it

/** What every metadata answer names first: the repository, and the digest (null: the repository itself). */
const Target = { repository: z.string(), digest: Digest.nullable() };

export const MetadataValue = z.strictObject({ key: z.string(), value: z.string(), version: z.number().int(), updatedAt: Time, updatedBy: z.string() });
export type MetadataValue = z.infer<typeof MetadataValue>;
export const MetadataChange = z.strictObject({
  key: z.string(),
  version: z.number().int(),
  at: Time,
  actor: z.string(),
  /** null: the key did not exist before */
  old: z.string().nullable(),
  /** null: the key was deleted */
  new: z.string().nullable(),
});
export type MetadataChange = z.infer<typeof MetadataChange>;

export const MetadataEntry = z.strictObject({ ...Target, ...MetadataValue.shape });
export const MetadataValues = z.strictObject({ ...Target, values: z.array(MetadataValue) });
export const MetadataHistory = z.strictObject({ ...Target, history: z.array(MetadataChange) });
export const MetadataHistoryQuery = z.strictObject({ key: z.string().optional() });
export const MetadataBody = z.strictObject({ value: z.string() });
/** `changed: false` (and no version) when the key already held this value. */
export const MetadataSet = z.strictObject({ ...Target, key: z.string(), value: z.string(), changed: z.boolean(), version: z.number().int().optional() });
export const MetadataDeleted = z.strictObject({ ...Target, key: z.string(), deleted: z.literal(true), version: z.number().int() });

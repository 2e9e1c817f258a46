// The provenance parts of the metadata store: what each pushed manifest said about where it came
// from (read once at push by services/provenance/indexer.ts), and registry-side key/value
// metadata with its append-only history. Facts are stored as JSON; their shape is below.
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";

export type ProvenanceKind = "image" | "index" | "attestation" | "signature" | "artifact";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface HistoryStep {
  created?: string;
  createdBy?: string;
  author?: string;
  comment?: string;
  emptyLayer?: boolean;
}

/** An image manifest: its config (labels, created, author, platform, history) and annotations. */
export interface ImageFacts {
  kind: "image";
  annotations: Record<string, string>;
  layers: number;
  config: {
    digest: Digest;
    mediaType: string;
    size: number;
    /** False when the config was not an image config, too big, or not readable at push. */
    read: boolean;
    created?: string;
    author?: string;
    platform?: Platform;
    labels: Record<string, string>;
    history: HistoryStep[];
  };
}

export interface IndexEntry {
  digest: Digest;
  mediaType: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** An index: runnable platform children apart from BuildKit attestation manifests. */
export interface IndexFacts {
  kind: "index";
  annotations: Record<string, string>;
  platforms: IndexEntry[];
  /** `vnd.docker.reference.type: attestation-manifest` entries and the manifest each describes. */
  attestations: (IndexEntry & { target: Digest | null })[];
  /** Other entries with a vnd.docker.reference.type (ignored per BuildKit's attestation-storage.md). */
  ignored: IndexEntry[];
}

export interface SlsaFacts {
  version: "v0.2" | "v1";
  builderId?: string;
  buildType?: string;
  configSource?: { uri?: string; digest?: Record<string, string>; path?: string };
  frontend?: string;
  buildArgs?: Record<string, string>;
  materials: { uri: string; digest?: Record<string, string> }[];
  invocationId?: string;
  startedOn?: string;
  finishedOn?: string;
  /** vcs.source / vcs.revision as the client told BuildKit: claimed, not verified. */
  vcs?: { source?: string; revision?: string };
}

export interface SbomFacts {
  format: "spdx-json" | "cyclonedx-json";
  specVersion?: string;
  packageCount: number;
  generator?: string;
}

export interface StatementFacts {
  layerDigest: Digest;
  size: number;
  predicateType: string;
  statementType?: string;
  subjects: { name?: string; digest?: string }[];
  /** False when the layer was too big or unreadable: only the annotation's predicate type is known. */
  read: boolean;
  slsa?: SlsaFacts;
  sbom?: SbomFacts;
}

/** A BuildKit attestation manifest (either shape) or another in-toto attestation artifact. */
export interface AttestationFacts {
  kind: "attestation";
  form: "buildkit-legacy" | "buildkit-oci-artifact" | "in-toto";
  annotations: Record<string, string>;
  statements: StatementFacts[];
}

/** What can be read from a signature without any cryptography. Verification comes later. */
export interface SignatureFacts {
  kind: "signature";
  scheme: "notation" | "cosign-bundle" | "cosign-legacy";
  envelope: "jws" | "cose" | "sigstore-bundle" | "simplesigning" | "unknown";
  annotations: Record<string, string>;
  signingTime?: string;
  signingScheme?: string;
  signer: {
    subject?: string;
    issuer?: string;
    /** SHA-256 fingerprints, upper-case hex, leaf first. */
    thumbprints: string[];
    keyHint?: string;
  };
  predicateType?: string;
  /** A notation JWS envelope or a cosign bundle (base64, at most 64 KiB), kept so verification never reads a blob again. */
  envelopeData?: string;
}

export interface ArtifactFacts {
  kind: "artifact";
  annotations: Record<string, string>;
}

export type ProvenanceFacts = ImageFacts | IndexFacts | AttestationFacts | SignatureFacts | ArtifactFacts;

export interface ProvenanceRecord {
  repository: RepositoryName;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  size: number;
  subject: Digest | null;
  facts: ProvenanceFacts;
  recordedAt: Date;
}

export interface ProvenanceRows {
  record(record: ProvenanceRecord): Promise<void>;
  get(repository: RepositoryName, digest: Digest): Promise<ProvenanceRecord | null>;
  forget(repository: RepositoryName, digest: Digest): Promise<void>;
  /** Rows whose subject is `subject` (referrers with what was read of them). */
  referring(repository: RepositoryName, subject: Digest): Promise<ProvenanceRecord[]>;
  /** Manifests of the repository (indexes) that name `digest` as a child, in byte order. */
  parents(repository: RepositoryName, digest: Digest): Promise<Digest[]>;
  /** Tags pointing at a digest, in byte order. */
  tagsOf(repository: RepositoryName, digest: Digest): Promise<string[]>;
  /** Stores a signature's verification outcome (migration 030), replacing the one before. */
  setVerdict(repository: RepositoryName, digest: Digest, subject: Digest, verdict: SignatureVerdict): Promise<void>;
  /** Up to `limit` signature rows with no outcome computed with `trust`, in (repository, digest) order after `after`. */
  staleVerdicts(trust: string, after: { repository: string; digest: string } | null, limit: number): Promise<ProvenanceRecord[]>;
}

/** A signature verified (or not) against the trust whose fingerprint is `trust`, until `until` (ms; null: nothing ages it). */
export interface SignatureVerdict {
  verified: boolean;
  until: number | null;
  trust: string;
}

/** A repository's (digest null) or a manifest's metadata key. */
export interface MetadataTarget {
  repository: RepositoryName;
  digest: Digest | null;
}

export interface MetadataValue {
  key: string;
  value: string;
  version: number;
  updatedAt: Date;
  updatedBy: string;
}

export interface MetadataChange {
  key: string;
  version: number;
  at: Date;
  actor: string;
  /** null: the key did not exist before (set) */
  old: string | null;
  /** null: the key was deleted */
  new: string | null;
}

export interface MetadataValueRows {
  list(target: MetadataTarget): Promise<MetadataValue[]>;
  get(target: MetadataTarget, key: string): Promise<MetadataValue | null>;
  /** Sets the value (or deletes it, value null) and appends the change to the history; null when nothing changed. */
  change(target: MetadataTarget, key: string, value: string | null, actor: string, at: Date): Promise<MetadataChange | null>;
  /** Every change, oldest first; one key's when given. */
  history(target: MetadataTarget, key?: string): Promise<MetadataChange[]>;
}

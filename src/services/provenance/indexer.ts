// Indexes provenance at push, so a report never reads a blob again (and no layer, ever):
//
//   PUT manifest ─▶ prepare(): classify the manifest; read the small JSON it points at, bounded:
//                    image ─────────── its config blob (labels, created, author, platform, history)
//                    index ─────────── nothing: platforms apart from BuildKit attestation entries
//                    attestation ───── its in-toto statement layers (SLSA, SBOM)
//                    signature ─────── its envelope layer (signer certificate, signing time)
//               ─▶ inside the push transaction: record() one provenance row
//               ─▶ and, with a trust configured, the verification outcomes it decides (signature-verdicts.ts)
//   DELETE manifest (by digest) ─▶ inside the transaction: forget()
//
// Attestation manifests come in two BuildKit shapes (research/provenance.md §0.1): ≤ v0.31 has a
// dummy image config (unknown/unknown) and no subject; v0.32 has artifactType + empty config +
// subject. Both carry in-toto layers, which is how both are recognised here. A failure to read
// anything never fails the push: the row records what could not be read.
import type { BlobStore } from "../../blobs/blob-store.ts";
import type { Digest } from "../../domain/digest.ts";
import type { ParsedManifest } from "../../domain/manifest.ts";
import { isIndexMediaType } from "../../domain/media-types.ts";
import type { RepositoryName } from "../../domain/names.ts";
import { withoutNul } from "../../domain/nul.ts";
import type {
  AttestationFacts, HistoryStep, ImageFacts, IndexEntry, IndexFacts, Platform, ProvenanceFacts, ProvenanceRecord,
} from "../../metadata/provenance-types.ts";
import type { MetadataParts } from "../../metadata/types.ts";
import { enforcePushPolicies, type PushPolicy } from "./push-policy.ts";
import type { SignatureTrust } from "./signature-trust.ts";
import { recordVerdicts } from "./signature-verdicts.ts";
import { COSIGN_BUNDLE, COSIGN_SIMPLESIGNING, cosignBundleFacts, cosignLegacyFacts, NOTATION_SIGNATURE, notationFacts } from "./signatures.ts";
import { IN_TOTO_LAYER, statementFacts } from "./statements.ts";

export const IMAGE_CONFIG_TYPES = ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];
export const ATTESTATION_MANIFEST = "application/vnd.docker.attestation.manifest.v1+json";
export const REFERENCE_TYPE = "vnd.docker.reference.type";
export const REFERENCE_DIGEST = "vnd.docker.reference.digest";
/** Configs, statements and envelopes are small JSON; a bigger one is recorded as not read. */
export const MAX_SMALL_BLOB_BYTES = 4 * 1024 * 1024;
const MAX_STATEMENT_LAYERS = 16;
const MAX_HISTORY = 500;
const MAX_LABELS = 500;

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

interface RawDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  platform?: Json;
  annotations?: Record<string, string>;
}

function descriptors(value: unknown): RawDescriptor[] {
  return (Array.isArray(value) ? value : []).map(obj).map((d) => ({
    mediaType: str(d.mediaType) ?? "",
    digest: str(d.digest) as Digest,
    size: Number(d.size ?? 0),
    artifactType: str(d.artifactType),
    platform: d.platform === undefined ? undefined : obj(d.platform),
    annotations: stringRecord(d.annotations),
  }));
}

function stringRecord(value: unknown, limit = MAX_LABELS): Record<string, string> {
  return Object.fromEntries(
    Object.entries(obj(value))
      .filter((e): e is [string, string] => typeof e[1] === "string")
      .slice(0, limit),
  );
}

function platformOf(value: Json | undefined): Platform | undefined {
  if (!value) return undefined;
  const os = str(value.os);
  const architecture = str(value.architecture);
  if (!os || !architecture) return undefined;
  const variant = str(value.variant);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export class ProvenanceIndexer {
  private readonly blobs: BlobStore;
  private readonly maxBlobBytes: number;
  private readonly pushPolicies: readonly PushPolicy[];
  private readonly trust: SignatureTrust | null;

  /** `trust`: signatures' verification outcomes are stored at push against it (signature-verdicts.ts). */
  constructor(blobs: BlobStore, options: { maxBlobBytes?: number; pushPolicies?: readonly PushPolicy[]; trust?: SignatureTrust } = {}) {
    this.blobs = blobs;
    this.maxBlobBytes = options.maxBlobBytes ?? MAX_SMALL_BLOB_BYTES;
    this.pushPolicies = options.pushPolicies ?? [];
    this.trust = options.trust ?? null;
  }

  /**
   * Before the push transaction: what the manifest says, with its small blobs read once.
   * Throws MANIFEST_INVALID when an image breaks a push policy; nothing else fails a push.
   */
  async prepare(repository: RepositoryName, digest: Digest, parsed: ParsedManifest, body: Buffer): Promise<ProvenanceRecord | null> {
    let json: Json;
    try {
      json = obj(JSON.parse(body.toString("utf8")));
    } catch {
      return null; // parseManifest accepted it, so this does not happen; never fail a push over provenance
    }
    // The manifest holds no NUL (parseManifest), but the blobs read for facts may; PostgreSQL's text refuses it.
    const facts = withoutNul(isIndexMediaType(parsed.mediaType) ? this.indexFacts(json) : await this.manifestFacts(json, parsed));
    enforcePushPolicies(this.pushPolicies, repository, facts);
    return {
      repository,
      digest,
      mediaType: parsed.mediaType,
      artifactType: str(json.artifactType) ?? null,
      size: body.length,
      subject: parsed.subject,
      facts,
      recordedAt: new Date(),
    };
  }

  /** Inside the push transaction. */
  async record(tx: MetadataParts, prepared: ProvenanceRecord): Promise<void> {
    await tx.provenance.record(prepared);
    if (this.trust) await recordVerdicts(tx, this.trust, prepared);
  }

  /** Inside the delete transaction. */
  async forget(tx: MetadataParts, repository: RepositoryName, digest: Digest): Promise<void> {
    await tx.provenance.forget(repository, digest);
  }

  private indexFacts(json: Json): IndexFacts {
    const facts: IndexFacts = { kind: "index", annotations: stringRecord(json.annotations), platforms: [], attestations: [], ignored: [] };
    for (const d of descriptors(json.manifests)) {
      const entry: IndexEntry = { digest: d.digest, mediaType: d.mediaType, size: d.size };
      const platform = platformOf(d.platform);
      if (platform) entry.platform = platform;
      if (d.annotations && Object.keys(d.annotations).length > 0) entry.annotations = d.annotations;
      const type = d.annotations?.[REFERENCE_TYPE];
      if (type === "attestation-manifest") facts.attestations.push({ ...entry, target: (d.annotations?.[REFERENCE_DIGEST] as Digest | undefined) ?? null });
      else if (type !== undefined) facts.ignored.push(entry);
      else facts.platforms.push(entry);
    }
    return facts;
  }

  private async manifestFacts(json: Json, parsed: ParsedManifest): Promise<ProvenanceFacts> {
    const annotations = stringRecord(json.annotations);
    const layers = descriptors(json.layers);
    const artifactType = str(json.artifactType);
    const configType = parsed.config?.mediaType;
    if (artifactType === ATTESTATION_MANIFEST || (layers.length > 0 && layers.some((l) => l.mediaType === IN_TOTO_LAYER))) {
      const form: AttestationFacts["form"] =
        artifactType === ATTESTATION_MANIFEST ? "buildkit-oci-artifact" : configType && IMAGE_CONFIG_TYPES.includes(configType) ? "buildkit-legacy" : "in-toto";
      return { kind: "attestation", form, annotations, statements: await this.statements(layers) };
    }
    if (artifactType === NOTATION_SIGNATURE || configType === NOTATION_SIGNATURE) {
      const layer = layers[0];
      return notationFacts(annotations, layer?.mediaType, layer ? await this.readSmall(layer.digest, layer.size) : null);
    }
    if (artifactType === COSIGN_BUNDLE) {
      const layer = layers[0];
      return cosignBundleFacts(annotations, layer ? await this.readSmall(layer.digest, layer.size) : null);
    }
    if (layers.length > 0 && layers.every((l) => l.mediaType === COSIGN_SIMPLESIGNING)) {
      return cosignLegacyFacts(annotations, layers[0]?.annotations ?? {});
    }
    if (parsed.config && configType && IMAGE_CONFIG_TYPES.includes(configType) && !artifactType) {
      return this.imageFacts(annotations, parsed.config, layers.length);
    }
    return { kind: "artifact", annotations };
  }

  private async imageFacts(annotations: Record<string, string>, config: NonNullable<ParsedManifest["config"]>, layers: number): Promise<ImageFacts> {
    const facts: ImageFacts = { kind: "image", annotations, layers, config: { digest: config.digest, mediaType: config.mediaType, size: config.size, read: false, labels: {}, history: [] } };
    const bytes = await this.readSmall(config.digest, config.size);
    if (!bytes) return facts;
    let json: Json;
    try {
      json = obj(JSON.parse(bytes.toString("utf8")));
    } catch {
      return facts;
    }
    const inner = obj(json.config);
    facts.config = {
      ...facts.config,
      read: true,
      created: str(json.created),
      author: str(json.author),
      platform: platformOf(json),
      labels: stringRecord(inner.Labels),
      history: (Array.isArray(json.history) ? json.history : []).slice(0, MAX_HISTORY).map(obj).map((h): HistoryStep => {
        const step: HistoryStep = {};
        if (str(h.created)) step.created = str(h.created);
        if (str(h.created_by)) step.createdBy = str(h.created_by)!.slice(0, 4096);
        if (str(h.author)) step.author = str(h.author);
        if (str(h.comment)) step.comment = str(h.comment);
        if (h.empty_layer === true) step.emptyLayer = true;
        return step;
      }),
    };
    return facts;
  }

  private async statements(layers: RawDescriptor[]): Promise<AttestationFacts["statements"]> {
    const result: AttestationFacts["statements"] = [];
    for (const layer of layers.filter((l) => l.mediaType === IN_TOTO_LAYER).slice(0, MAX_STATEMENT_LAYERS)) {
      const bytes = await this.readSmall(layer.digest, layer.size);
      let statement: unknown = null;
      try {
        statement = bytes ? JSON.parse(bytes.toString("utf8")) : null;
      } catch {
        statement = null;
      }
      result.push(statementFacts(layer, statement));
    }
    return result;
  }

  /** The whole blob when it is at most maxBlobBytes and readable; null otherwise. Never a layer of an image. */
  private async readSmall(digest: Digest, declaredSize: number): Promise<Buffer | null> {
    if (!(declaredSize >= 0 && declaredSize <= this.maxBlobBytes)) return null;
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      const stream = await this.blobs.open(digest);
      for await (const chunk of stream) {
        total += (chunk as Buffer).length;
        if (total > this.maxBlobBytes) {
          stream.destroy();
          return null;
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    } catch {
      return null; // not pushed (a sparse manifest) or unreadable: recorded as not read
    }
  }
}

// The provenance report for `repo:tag` or `repo@digest`, assembled from rows recorded at push
// (indexer.ts): no blob is read here. Per platform: identity, build origin (labels apart from
// annotations, well-known keys named), build steps, attestations (SLSA, SBOM), signatures and
// referrers; then a verdict line and warnings. Attestation manifests are never platforms: they
// are found inside the index (BuildKit ≤ v0.31) or as referrers (v0.32+), deduplicated by digest.
import type { Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { Reference, RepositoryName } from "../../domain/names.ts";
import type {
  HistoryStep, Platform, ProvenanceRecord, SbomFacts, SignatureFacts, SlsaFacts, StatementFacts,
} from "../../metadata/provenance-types.ts";
import type { MetadataStore } from "../../metadata/types.ts";
import type { Subject, Verification } from "./notation-verify.ts";
import { originOf, type Origin } from "./origin.ts";
import { SignatureTrust } from "./signature-trust.ts";

const MAX_REFERRER_DEPTH = 4;

export interface AttestationReport {
  digest: Digest;
  /** Where it was found: an index entry (BuildKit legacy) or a referrer with a subject (v0.32+, others). */
  foundAs: "index-entry" | "referrer";
  form: string;
  describes: Digest | null;
  statements: { predicateType: string; statementType?: string; read: boolean; slsa?: SlsaFacts; sbom?: SbomFacts }[];
}

export interface SignatureReport {
  digest: Digest;
  artifactType: string | null;
  scheme: SignatureFacts["scheme"];
  envelope: SignatureFacts["envelope"];
  signs: Digest;
  signer: SignatureFacts["signer"];
  signingTime?: string;
  verified: boolean | null;
  reason: string;
  policy?: string;
  level?: string;
  checks?: Verification["checks"];
}

export interface ReferrerNode {
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  size: number;
  kind: string;
  referrers: ReferrerNode[];
}

export interface PlatformReport {
  platform: Platform | null;
  digest: Digest;
  mediaType: string;
  size: number;
  created?: string;
  author?: string;
  config?: { digest: Digest; mediaType: string; size: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  origin: Origin;
  history: HistoryStep[];
  attestations: AttestationReport[];
  build?: SlsaFacts & { attestation: Digest };
  sboms: (SbomFacts & { attestation: Digest })[];
  signatures: SignatureReport[];
  referrers: ReferrerNode[];
}

export interface Verdict {
  labelsPresent: boolean;
  sourceAndRevisionKnown: boolean;
  signed: boolean;
  signedAndVerified: boolean;
  provenanceAttested: boolean;
  line: string;
}

export interface ProvenanceReport {
  repository: RepositoryName;
  reference: string;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: string;
  created?: string;
  tags: string[];
  platforms: PlatformReport[];
  annotations: Record<string, string>;
  signatures: SignatureReport[];
  referrers: ReferrerNode[];
  verdict: Verdict;
  warnings: string[];
}

function statementReport(s: StatementFacts): AttestationReport["statements"][number] {
  return { predicateType: s.predicateType, ...(s.statementType ? { statementType: s.statementType } : {}), read: s.read, ...(s.slsa ? { slsa: s.slsa } : {}), ...(s.sbom ? { sbom: s.sbom } : {}) };
}

export class ProvenanceReports {
  private readonly metadata: MetadataStore;
  private readonly trust: SignatureTrust;

  /** `trust`: without one, signatures are listed, not verified. */
  constructor(metadata: MetadataStore, trust: SignatureTrust = new SignatureTrust()) {
    this.metadata = metadata;
    this.trust = trust;
  }

  /**
   * `shown` decides which manifests the report may name besides the one asked for (an index's
   * platforms and attestation entries, signatures, attestations and referrers): the API leaves out
   * those only a read-locked or hidden tag covers, as the manifest page does.
   */
  async report(repository: RepositoryName, reference: Reference, shown: Shown = async () => true): Promise<ProvenanceReport> {
    const digest = await this.resolve(repository, reference);
    const summary = await this.metadata.manifests.summary(repository, digest);
    if (!summary) throw new RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry", { digest });
    const row = await this.metadata.provenance.get(repository, digest);
    const warnings: string[] = [];
    const report: ProvenanceReport = {
      repository,
      reference: reference.kind === "tag" ? reference.tag : reference.digest,
      digest,
      mediaType: summary.mediaType,
      size: summary.size,
      kind: row?.facts.kind ?? "unknown",
      tags: await this.metadata.provenance.tagsOf(repository, digest),
      platforms: [],
      annotations: summary.annotations ?? {},
      signatures: [],
      referrers: await this.referrerTree(repository, digest, 0, shown),
      verdict: { labelsPresent: false, sourceAndRevisionKnown: false, signed: false, signedAndVerified: false, provenanceAttested: false, line: "" },
      warnings,
    };
    if (!row) warnings.push("this manifest was pushed before Berth recorded provenance: push it again to index it");
    report.signatures = await this.signaturesOf(repository, { digest, mediaType: summary.mediaType, size: summary.size }, shown);

    if (row?.facts.kind === "index") {
      const index = row.facts;
      const fromIndex = new Map<Digest, { target: Digest | null; digest: Digest }>();
      for (const a of index.attestations) if ((await shown(a.digest)) && (!a.target || (await shown(a.target)))) fromIndex.set(a.digest, { target: a.target, digest: a.digest });
      for (const entry of index.platforms) {
        if (!(await shown(entry.digest))) continue;
        const child = await this.metadata.provenance.get(repository, entry.digest);
        // An attestation manifest listed without BuildKit's annotations: still not a platform.
        if (child?.facts.kind === "attestation") {
          fromIndex.set(entry.digest, { target: null, digest: entry.digest });
          warnings.push(`index entry ${entry.digest} is an attestation manifest without vnd.docker.reference annotations: not shown as a platform`);
          continue;
        }
        report.platforms.push(await this.platformReport(repository, entry.digest, entry.platform ?? null, entry.mediaType, entry.size, index.annotations, child, fromIndex, warnings, shown));
      }
      const platforms = new Set(report.platforms.map((p) => p.digest));
      for (const a of fromIndex.values()) {
        if (a.target && !platforms.has(a.target)) warnings.push(`attestation ${a.digest} describes ${a.target}, which is not a platform of this index`);
      }
      const created = report.platforms.map((p) => p.created).filter((c): c is string => c !== undefined).sort();
      report.created = index.annotations["org.opencontainers.image.created"] ?? created.at(-1);
    } else {
      const platform = row?.facts.kind === "image" ? (row.facts.config.platform ?? null) : null;
      const only = await this.platformReport(repository, digest, platform, summary.mediaType, summary.size, {}, row, new Map(), warnings, shown);
      only.signatures = []; // the top-level list holds them once
      report.platforms.push(only);
      report.created = only.created;
      report.kind = row?.facts.kind ?? "unknown";
    }
    report.verdict = verdictOf(report, warnings);
    return report;
  }

  private async resolve(repository: RepositoryName, reference: Reference): Promise<Digest> {
    if (reference.kind === "digest") return reference.digest;
    const digest = await this.metadata.tags.resolve(repository, reference.tag);
    if (digest) return digest;
    if (!(await this.metadata.repositories.exists(repository))) throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
    throw new RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry", { tag: reference.tag });
  }

  private async platformReport(
    repository: RepositoryName, digest: Digest, platform: Platform | null, mediaType: string, size: number,
    indexAnnotations: Record<string, string>, row: ProvenanceRecord | null,
    fromIndex: Map<Digest, { target: Digest | null; digest: Digest }>, warnings: string[], shown: Shown,
  ): Promise<PlatformReport> {
    const image = row?.facts.kind === "image" ? row.facts : null;
    if (row && !image) warnings.push(`${digest} is a ${row.facts.kind}, not an image: it has no config labels or history`);
    if (image && !image.config.read) warnings.push(`the config of ${digest} could not be read at push (missing, too big or not JSON)`);
    const attestations: AttestationReport[] = [];
    for (const a of fromIndex.values()) {
      if (a.target !== digest) continue;
      const att = await this.metadata.provenance.get(repository, a.digest);
      if (att?.facts.kind !== "attestation") {
        warnings.push(`attestation manifest ${a.digest} listed in the index was not indexed`);
        continue;
      }
      attestations.push({ digest: a.digest, foundAs: "index-entry", form: att.facts.form, describes: digest, statements: att.facts.statements.map(statementReport) });
    }
    const referring = await shownRows(await this.metadata.provenance.referring(repository, digest), shown);
    for (const r of referring) {
      if (r.facts.kind !== "attestation" || attestations.some((a) => a.digest === r.digest)) continue;
      attestations.push({ digest: r.digest, foundAs: "referrer", form: r.facts.form, describes: digest, statements: r.facts.statements.map(statementReport) });
    }
    const statements = attestations.flatMap((a) => a.statements.map((s) => ({ ...s, attestation: a.digest })));
    const slsa = statements.find((s) => s.slsa);
    const origin = originOf(image?.config.labels ?? {}, image?.annotations ?? {}, indexAnnotations, slsa?.slsa);
    const result: PlatformReport = {
      platform: image?.config.platform ?? platform,
      digest,
      mediaType,
      size,
      ...(image?.config.created ? { created: image.config.created } : {}),
      ...(image?.config.author ? { author: image.config.author } : {}),
      ...(image ? { config: { digest: image.config.digest, mediaType: image.config.mediaType, size: image.config.size } } : {}),
      labels: image?.config.labels ?? {},
      annotations: image?.annotations ?? (row?.facts.kind === "artifact" ? row.facts.annotations : {}),
      origin,
      history: image?.config.history ?? [],
      attestations,
      ...(slsa?.slsa ? { build: { ...slsa.slsa, attestation: slsa.attestation } } : {}),
      sboms: statements.filter((s) => s.sbom).map((s) => ({ ...s.sbom!, attestation: s.attestation })),
      signatures: referring.map((r) => this.signatureReport(repository, r, { digest, mediaType, size })).filter((s): s is SignatureReport => s !== null),
      referrers: await this.referrerTree(repository, digest, 0, shown),
    };
    if (slsa?.slsa && !slsa.slsa.buildArgs) warnings.push(`provenance of ${digest} has no build arguments (BuildKit mode=min): build args are not recorded`);
    const sha = image?.config.labels["build.sha"];
    const claimed = slsa?.slsa?.vcs?.revision;
    if (sha && claimed && sha !== claimed) warnings.push(`label build.sha (${sha}) differs from the revision the provenance claims (${claimed})`);
    return result;
  }

  private async signaturesOf(repository: RepositoryName, subject: Subject, shown: Shown): Promise<SignatureReport[]> {
    const rows = await shownRows(await this.metadata.provenance.referring(repository, subject.digest as Digest), shown);
    return rows.map((r) => this.signatureReport(repository, r, subject)).filter((s): s is SignatureReport => s !== null);
  }

  /** A signature as listed, verified when it is notation's and a trust policy is configured. */
  private signatureReport(repository: RepositoryName, row: ProvenanceRecord, subject: Subject): SignatureReport | null {
    if (row.facts.kind !== "signature") return null;
    const f = row.facts;
    // `until` is for the stored outcomes the search reads (signature-verdicts.ts), not the report.
    const { until: _until, ...verification }: Verification = this.trust.verify(repository, subject, f, new Date());
    return {
      digest: row.digest, artifactType: row.artifactType, scheme: f.scheme, envelope: f.envelope, signs: subject.digest as Digest, signer: f.signer,
      ...(f.signingTime ? { signingTime: f.signingTime } : {}), ...verification,
    };
  }

  /** What refers to a digest, and what refers to those, as `oras discover` shows it. */
  private async referrerTree(repository: RepositoryName, digest: Digest, depth: number, shown: Shown): Promise<ReferrerNode[]> {
    if (depth >= MAX_REFERRER_DEPTH) return [];
    const found = await this.metadata.manifests.referrers(repository, digest);
    const nodes: ReferrerNode[] = [];
    for (const m of found) {
      if (!(await shown(m.digest))) continue;
      const row = await this.metadata.provenance.get(repository, m.digest);
      nodes.push({ digest: m.digest, mediaType: m.mediaType, artifactType: m.artifactType, size: m.size, kind: row?.facts.kind ?? "unknown", referrers: await this.referrerTree(repository, m.digest, depth + 1, shown) });
    }
    return nodes;
  }
}

/** Whether the report may name this manifest (ProvenanceReports.report). */
export type Shown = (digest: Digest) => Promise<boolean>;

async function shownRows<T extends { digest: Digest }>(rows: readonly T[], shown: Shown): Promise<T[]> {
  const keep = await Promise.all(rows.map((r) => shown(r.digest)));
  return rows.filter((_, i) => keep[i]);
}

function verdictOf(report: ProvenanceReport, warnings: string[]): Verdict {
  const platforms = report.platforms;
  const labelsPresent = platforms.length > 0 && platforms.every((p) => Object.keys(p.labels).length > 0);
  const sourceAndRevisionKnown = platforms.length > 0 && platforms.every((p) => p.origin.source !== undefined && p.origin.revision !== undefined);
  const signatures = [...report.signatures, ...platforms.flatMap((p) => p.signatures)];
  const signed = signatures.length > 0;
  const signedAndVerified = signatures.some((s) => s.verified === true);
  const provenanceAttested = platforms.length > 0 && platforms.every((p) => p.build !== undefined);
  if (!labelsPresent) warnings.push(platforms.some((p) => Object.keys(p.labels).length > 0) ? "some platforms have no labels" : "no labels: nothing says who built this image");
  if (!sourceAndRevisionKnown) warnings.push("source repository and revision are not both known (org.opencontainers.image.source / .revision, build.sha)");
  if (!signed) warnings.push("not signed");
  else if (!signedAndVerified) warnings.push(`signed, but no signature is verified (${[...new Set(signatures.map((s) => s.reason))].join("; ")})`);
  if (!provenanceAttested) warnings.push("no SLSA provenance attestation");
  const mark = (ok: boolean) => (ok ? "yes" : "no");
  const line =
    `labels present: ${mark(labelsPresent)} · source and revision known: ${mark(sourceAndRevisionKnown)} · ` +
    `signed and verified: ${signedAndVerified ? "yes" : signed ? "signed, not verified" : "no"} · provenance attested: ${mark(provenanceAttested)}`;
  return { labelsPresent, sourceAndRevisionKnown, signed, signedAndVerified, provenanceAttested, line };
}

// What the registry holds, as the portal and `berth repository` read it (api-contract/catalog.ts):
// pages of repository summaries, tags and manifests from the read models (metadata/catalog-*.ts),
// each page's details added by a few batched queries, and one manifest in full. Who may see what
// is the caller's: every method takes the visibility it must apply (handlers build it from
// Authorizer.shows) and answers JSON-ready objects.
import type { BlobStore } from "../../blobs/blob-store.ts";
import { versionToTag } from "../../domain/chart.ts";
import type { Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { isIndexMediaType } from "../../domain/media-types.ts";
import type { Reference, RepositoryName } from "../../domain/names.ts";
import { referrerKindOf, type ReferrerKind, type ReferrerTreeNode } from "../../domain/referrers.ts";
import type { BuildLabels, ManifestRow, RepositorySummaryRow, SummaryCursor, TagRow, WalkCursor } from "../../metadata/catalog-types.ts";
import type { Platform, ProvenanceRecord } from "../../metadata/provenance-types.ts";
import type { ChartRecord, MetadataStore } from "../../metadata/types.ts";
import { IMAGE_CONFIG_TYPES } from "../provenance/indexer.ts";
import { chartTexts, type ChartTexts } from "./chart-files.ts";

const MAX_REFERRER_DEPTH = 4;
const REFERENCE_TYPE = "vnd.docker.reference.type";

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const strings = (value: unknown): Record<string, string> => Object.fromEntries(Object.entries(obj(value)).filter((e): e is [string, string] => typeof e[1] === "string"));

/**
 * The artifactType to show: stored manifests carry the effective one (artifactType, else the
 * config's media type, as the referrers API reports it), so an image would read as "artifact of
 * type image config". An image or an index has none here.
 */
export function shownArtifactType(artifactType: string | null): string | null {
  return artifactType !== null && IMAGE_CONFIG_TYPES.includes(artifactType) ? null : artifactType;
}

export function platformText(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join("/");
}

/** A page cursor as the API hands it out: opaque to clients, checked when it comes back. */
export function encodeCursor(value: number | string, name: string): string {
  return Buffer.from(JSON.stringify([value, name])).toString("base64url");
}

function notOurs(text: string): RegistryError {
  return new RegistryError("INVALID_REQUEST", "last is not a cursor this API gave out: pass the previous answer's `next`", { last: text.slice(0, 100) });
}

/**
 * What a cursor may hold: a time or size (a safe integer: 1e400 or 1.5 would reach a bigint
 * column as text PostgreSQL refuses) or a name (without NUL, which PostgreSQL's text refuses).
 */
function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}
/** A time in ms within what a Date holds: past it new Date() is NaN, which PostgreSQL's bigint refuses. */
const MAX_DATE_MS = 8.64e15;
function isTime(value: unknown): value is number {
  return isNumber(value) && Math.abs(value) <= MAX_DATE_MS;
}
function isText(value: unknown): value is string {
  return typeof value === "string" && !value.includes("\u0000");
}

/** The cursor's parts, each checked; anything else (a forged or garbled cursor) is a 400. */
function cursorParts(text: string): [number | string, string, ...unknown[]] {
  try {
    const parts = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(parts) && (isNumber(parts[0]) || isText(parts[0])) && isText(parts[1])) return parts as [number | string, string, ...unknown[]];
  } catch {
    // answered below
  }
  throw notOurs(text);
}

/** `value`: the kind of value the list's order gives its cursors (a name sort's is the name; a time sort's a time). */
export function decodeCursor(text: string | undefined, value: "number" | "time" | "string" | "either" = "either"): SummaryCursor | null {
  if (text === undefined || text === "") return null;
  const [at, name] = cursorParts(text);
  if (value === "time" ? !isTime(at) : value !== "either" && typeof at !== value) throw notOurs(text);
  return { value: at, name };
}

/** A walk by push time's cursor (WalkCursor: manifests, tags by time). */
export function encodeWalkCursor(walk: WalkCursor): string {
  return Buffer.from(JSON.stringify([walk.value, walk.name, walk.since, walk.leg])).toString("base64url");
}

/** One from before walks had legs ([time, name]) goes on in the list's order from now. */
export function decodeWalkCursor(text: string | undefined): WalkCursor | null {
  if (text === undefined || text === "") return null;
  const [value, name, since, leg, ...rest] = cursorParts(text);
  if (!isTime(value) || rest.length > 0) throw notOurs(text);
  if (since === undefined && leg === undefined) return { since: Date.now(), leg: "before", value, name };
  if (isTime(since) && (leg === "before" || leg === "since")) return { since, leg, value, name };
  throw notOurs(text);
}

export function summaryJson(row: RepositorySummaryRow) {
  return {
    name: row.name,
    kind: row.kind,
    artifactType: row.artifactType,
    tags: row.tags,
    manifests: row.manifests,
    size: row.size,
    pushed: row.pushed?.toISOString() ?? null,
    newest: row.newest,
  };
}

function referrerKind(row: ProvenanceRecord | null, artifactType: string | null): ReferrerKind {
  if (row?.facts.kind === "signature") return "signature";
  if (row?.facts.kind === "attestation") return row.facts.statements.some((s) => s.sbom) ? "sbom" : "attestation";
  return referrerKindOf(artifactType);
}

export class CatalogService {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;

  constructor(metadata: MetadataStore, blobs: BlobStore) {
    this.metadata = metadata;
    this.blobs = blobs;
  }

  get rows() {
    return this.metadata.catalog;
  }

  async summary(repository: RepositoryName): Promise<RepositorySummaryRow> {
    const row = await this.metadata.catalog.summary(repository);
    if (!row) throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
    return row;
  }

  /** Tags of a page with size, platforms, signed and build labels. */
  async tagDetails(repository: RepositoryName, tags: readonly TagRow[]) {
    const digests = [...new Set(tags.map((t) => t.digest))];
    const [sizes, signed, build, platforms] = await Promise.all([
      this.metadata.catalog.contentSizes(repository, digests),
      this.metadata.catalog.signed(repository, digests),
      this.metadata.catalog.buildLabels(repository, digests),
      this.platforms(repository, tags),
    ]);
    return tags.map((t) => ({
      name: t.name,
      digest: t.digest,
      mediaType: t.mediaType,
      artifactType: shownArtifactType(t.artifactType),
      size: sizes.get(t.digest) ?? 0,
      platforms: platforms.get(t.digest) ?? [],
      pushed: t.updated.toISOString(),
      signed: signed.has(t.digest),
      build: build.get(t.digest) ?? null,
    }));
  }

  /** Manifests of a page with their (listed) tags and platforms. */
  async manifestSummaries(repository: RepositoryName, manifests: readonly ManifestRow[], tagListed: (tag: string) => boolean) {
    const digests = manifests.map((m) => m.digest);
    const [tags, platforms] = await Promise.all([this.metadata.catalog.tagsOf(repository, digests), this.platforms(repository, manifests)]);
    return manifests.map((m) => ({
      digest: m.digest,
      mediaType: m.mediaType,
      artifactType: shownArtifactType(m.artifactType),
      size: m.size,
      tags: (tags.get(m.digest) ?? []).filter(tagListed),
      platforms: platforms.get(m.digest) ?? [],
      pushed: m.pushed.toISOString(),
      subject: m.subject,
    }));
  }

  /** "os/arch[/variant]" of each index's runnable children, as the provenance indexer recorded them. */
  private async platforms(repository: RepositoryName, rows: readonly { digest: Digest; mediaType: string }[]): Promise<Map<Digest, string[]>> {
    const found = new Map<Digest, string[]>();
    for (const row of rows) {
      if (!isIndexMediaType(row.mediaType) || found.has(row.digest)) continue;
      const record = await this.metadata.provenance.get(repository, row.digest);
      found.set(row.digest, record?.facts.kind === "index" ? record.facts.platforms.flatMap((p) => (p.platform ? [platformText(p.platform)] : [])) : []);
    }
    return found;
  }

  /**
   * One manifest in full, by tag or digest. `shown` decides which of the manifests it reaches (an
   * index's platforms, the referrers tree) the caller is shown: one covered only by a read-locked
   * or hidden tag is left out, with everything under it.
   */
  async manifest(repository: RepositoryName, reference: Reference, tagListed: (tag: string) => boolean, shown: (digest: Digest) => Promise<boolean>) {
    const record = await this.metadata.manifests.get(repository, reference.kind === "tag" ? { tag: reference.tag } : reference.digest);
    if (!record) {
      if (!(await this.metadata.repositories.exists(repository))) throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
      throw new RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry", reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest });
    }
    const json = obj(JSON.parse(record.body.toString("utf8")));
    const config = obj(json.config);
    const provenance = await this.metadata.provenance.get(repository, record.digest);
    const tags = (await this.metadata.catalog.tagsOf(repository, [record.digest])).get(record.digest) ?? [];
    const chart = (await this.metadata.charts.inRepository(repository)).find((c) => c.manifestDigest === record.digest);
    const descriptor = (d: Json) => ({ digest: String(d.digest ?? ""), mediaType: String(d.mediaType ?? ""), size: Number(d.size ?? 0) });
    return {
      repository,
      digest: record.digest,
      mediaType: record.mediaType,
      artifactType: shownArtifactType(record.artifactType),
      size: record.size,
      tags: tags.filter(tagListed),
      pushed: record.pushedAt.toISOString(),
      config: typeof config.digest === "string" ? descriptor(config) : null,
      layers: (Array.isArray(json.layers) ? json.layers : []).map(obj).map((l) => ({ ...descriptor(l), annotations: strings(l.annotations) })),
      annotations: record.annotations ?? {},
      labels: provenance?.facts.kind === "image" ? provenance.facts.config.labels : {},
      platforms: await filterShown((Array.isArray(json.manifests) ? json.manifests : []).map(obj).flatMap((m) => {
        const p = obj(m.platform);
        if (typeof p.os !== "string" || typeof p.architecture !== "string" || strings(m.annotations)[REFERENCE_TYPE] !== undefined) return [];
        return [{ ...descriptor(m), platform: { os: p.os, architecture: p.architecture, ...(typeof p.variant === "string" ? { variant: p.variant } : {}) } }];
      }), shown),
      referrers: await this.referrerTree(repository, record.digest, 0, shown),
      chart: chart ? { name: chart.name, version: chart.version, appVersion: chart.metadata.appVersion ?? null } : null,
      subject: record.subject,
    };
  }

  private async referrerTree(repository: RepositoryName, digest: Digest, depth: number, shown: (digest: Digest) => Promise<boolean>): Promise<ReferrerTreeNode[]> {
    if (depth >= MAX_REFERRER_DEPTH) return [];
    const nodes: ReferrerTreeNode[] = [];
    for (const m of await this.metadata.manifests.referrers(repository, digest)) {
      if (!(await shown(m.digest))) continue;
      const row = await this.metadata.provenance.get(repository, m.digest);
      nodes.push({
        digest: m.digest,
        mediaType: m.mediaType,
        artifactType: m.artifactType,
        size: m.size,
        annotations: m.annotations ?? {},
        kind: referrerKind(row, m.artifactType),
        referrers: await this.referrerTree(repository, m.digest, depth + 1, shown),
      });
    }
    return nodes;
  }

  /** Every chart version stored in one OCI repository. */
  chartVersions(repository: RepositoryName): Promise<ChartRecord[]> {
    return this.metadata.charts.inRepository(repository);
  }

  async chartTexts(chart: ChartRecord): Promise<ChartTexts> {
    try {
      return await chartTexts(await this.blobs.open(chart.chartDigest));
    } catch {
      return { readme: null, values: null, readmeBytes: null, valuesBytes: null }; // missing from storage: fsck says so; the page still shows the rest
    }
  }
}

/** The items whose digest `shown` lets through, in their order. */
export async function filterShown<T extends { digest: string }>(items: readonly T[], shown: (digest: Digest) => Promise<boolean>): Promise<T[]> {
  const keep = await Promise.all(items.map((item) => shown(item.digest as Digest)));
  return items.filter((_, i) => keep[i]);
}

export function chartTag(chart: ChartRecord): string {
  return versionToTag(chart.version);
}

export type { BuildLabels };

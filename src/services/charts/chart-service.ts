// Charts the classic way (ACR's and ChartMuseum's push APIs, downloads by file name), stored the
// OCI way: a package pushed to classic repository R becomes the Helm chart manifest Helm itself
// would push to oci://<host>/R, in repository R/<name>, tagged with the version. So one store
// serves `helm pull oci://…` and `helm repo add …/helm/v1/R` alike.
import type { ChangeActor } from "../../domain/changes.ts";
import { Readable } from "node:stream";
import type { BlobStore, StagedBlob } from "../../blobs/blob-store.ts";
import { chartFileName, HELM_CHART_LAYER, HELM_CONFIG, HELM_PROV_LAYER, helmConfigJson, versionToTag, type ChartMetadata } from "../../domain/chart.ts";
import { digestBytes, type Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import { OCI_MANIFEST } from "../../domain/media-types.ts";
import { parseRepositoryName, parseTag, type RepositoryName } from "../../domain/names.ts";
import type { ChartRecord, MetadataStore, StoredAs } from "../../metadata/types.ts";
import { commitBlobIn } from "../blob-commit.ts";
import type { ManifestService } from "../manifest-service.ts";
import { readChartArchive, readProvenance, type ChartLimits } from "./archive.ts";
import type { ChartIndex, ChartPrecondition, Visibility } from "./chart-index.ts";

export interface ChartServiceOptions {
  limits: ChartLimits;
  maxUploadBytes: number;
}

/** A chart version as the access decision sees it: the OCI repository, and the version (its tag). */
export interface ChartRef {
  repository: RepositoryName;
  version: string;
}

/**
 * A package received and read, not yet stored: the chart version it would be, for the caller to
 * authorize (the repository is known only once Chart.yaml is read) before storePackage().
 */
export interface ReceivedPackage {
  view: string;
  chart: ChartRef;
  metadata: ChartMetadata;
  staged: StagedBlob;
}

/**
 * A .prov received, not yet attached: the chart version it is for (`chart`, for the caller to
 * authorize), and that version's row when it is stored and findable (null: CHART_UNKNOWN once
 * authorized, so a refusal says nothing about whether it exists).
 */
export interface ReceivedProvenance {
  view: string;
  body: Buffer;
  /** null when a package URL names no chart the caller may find. */
  chart: ChartRef | null;
  stored: ChartRecord | null;
  name: string;
  version: string;
  /** The checksums it signs, by file name (`<name>-<version>.tgz`: `sha256:<hex>`). */
  files: Record<string, string>;
}

const MAX_PROV_BYTES = 1024 * 1024;

interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

export class ChartService {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;
  private readonly manifests: ManifestService;
  readonly index: ChartIndex;
  private readonly options: ChartServiceOptions;

  constructor(metadata: MetadataStore, blobs: BlobStore, manifests: ManifestService, index: ChartIndex, options: ChartServiceOptions) {
    this.metadata = metadata;
    this.blobs = blobs;
    this.manifests = manifests;
    this.index = index;
    this.options = options;
  }

  /** The OCI repository a classic push to `view` stores a chart in. */
  repositoryFor(view: string, chartName: string): RepositoryName {
    try {
      return parseRepositoryName(`${view}/${chartName}`);
    } catch {
      throw new RegistryError("CHART_INVALID", `chart name ${JSON.stringify(chartName)} cannot be stored: Berth serves every chart the OCI way too, and OCI repository names are lowercase`, { name: chartName });
    }
  }

  /**
   * Stages a package and reads its Chart.yaml: the name and version come from there, never the
   * file name. Nothing is stored yet; storePackage() stores it, discard() drops it.
   */
  async receivePackage(view: string, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ReceivedPackage> {
    const staged = await this.blobs.stage(body, "sha256", this.options.maxUploadBytes, () => tooLarge(this.options.maxUploadBytes), signal);
    try {
      const archive = await readChartArchive(await this.blobs.openStaged(staged), this.options.limits);
      return { view, chart: { repository: this.repositoryFor(view, archive.metadata.name), version: archive.metadata.version }, metadata: archive.metadata, staged };
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }

  /** Drops a received package (the caller may not push it). */
  async discard(staged: StagedBlob): Promise<void> {
    await this.blobs.discard(staged).catch(() => undefined);
  }

  /**
   * Stores a received package as one transaction: its blob, the config, the manifest, the tag and
   * the chart row, all or nothing. An existing version is CHART_EXISTS unless `force`.
   */
  async storePackage(received: ReceivedPackage, options: { force: boolean; provenance?: Buffer }, actor: ChangeActor | null = null): Promise<ChartRecord> {
    const { view, chart: { repository }, metadata, staged } = received;
    const stagedProv: StagedBlob[] = [];
    try {
      const isNew: ChartPrecondition | undefined = options.force ? undefined : (existing) => {
        if (existing) throw new RegistryError("CHART_EXISTS", `${existing.fileName} already exists in ${view}: push with --force (PATCH, or ?force) to overwrite`, { chart: existing.name, version: existing.version });
      };
      // Checked now so a plain second push stores nothing, and again in the transaction, which decides.
      isNew?.(await this.metadata.charts.get(repository, metadata.version));
      const chartLayer = { mediaType: HELM_CHART_LAYER, digest: staged.digest, size: staged.size };
      // A new package invalidates a signature made for the old one, so an overwrite drops the .prov,
      // unless one came with it (a signed push: ChartMuseum's multipart), checked before anything is stored.
      let provLayer: Descriptor | null = null;
      if (options.provenance) {
        provLayer = await this.stageProvenance(options.provenance, received, stagedProv);
      }
      return await this.storeManifest(repository, metadata, chartLayer, provLayer, "classic", isNew, [staged, ...stagedProv], actor);
    } catch (err) {
      await this.discard(staged);
      for (const blob of stagedProv) await this.discard(blob);
      throw err;
    }
  }

  /** A .prov sent with its package: it must be for that chart version. Staged into `staged`. */
  private async stageProvenance(body: Buffer, received: ReceivedPackage, staged: StagedBlob[]): Promise<Descriptor> {
    if (body.length > MAX_PROV_BYTES) throw tooLarge(MAX_PROV_BYTES);
    const prov = readProvenance(body);
    const { name, version } = received.metadata;
    if (prov.name !== name || prov.version !== version) {
      throw new RegistryError("CHART_INVALID", `the .prov is for ${prov.name} ${prov.version}, the chart sent with it is ${name} ${version}: upload a chart with its own .prov`, { name, version });
    }
    const fileName = chartFileName(name, version);
    const mismatch = provenanceMismatch(prov.files, fileName, received.staged.digest);
    if (mismatch) throw new RegistryError("CHART_INVALID", `${mismatch}: the .prov does not sign the chart sent with it; upload a chart with its own .prov`, { name, version, package: received.staged.digest });
    const digest = digestBytes(body);
    staged.push(await this.blobs.receive(Readable.from([body]), digest, undefined, body.length));
    return { mediaType: HELM_PROV_LAYER, digest, size: body.length };
  }

  /**
   * Reads a .prov and finds the chart version it is for: the one at a package URL of the view
   * (`fileName`, among the charts `visible` holds), or the one the .prov names (ChartMuseum).
   */
  async receiveProvenance(view: string, body: Buffer, options: { fileName?: string; visible: Visibility }): Promise<ReceivedProvenance> {
    if (body.length > MAX_PROV_BYTES) throw tooLarge(MAX_PROV_BYTES);
    const prov = readProvenance(body);
    if (options.fileName) {
      const stored = this.index.resolveFile(view, options.fileName.replace(/\.prov$/, ""), options.visible);
      return { view, body, chart: stored, stored, name: prov.name, version: prov.version, files: prov.files };
    }
    const chart = { repository: this.repositoryFor(view, prov.name), version: prov.version };
    return { view, body, chart, stored: await this.metadata.charts.get(chart.repository, chart.version), name: prov.name, version: prov.version, files: prov.files };
  }

  /** Adds (or with `force` replaces) the .prov of a chart version already stored, in one transaction. */
  async attachProvenance(received: ReceivedProvenance, options: { force: boolean }, actor: ChangeActor | null = null): Promise<ChartRecord> {
    const chart = received.stored;
    if (!chart) throw new RegistryError("CHART_UNKNOWN", `no chart ${received.name} ${received.version} in ${received.view}: push the chart before its .prov`, { name: received.name, version: received.version });
    const unchanged: ChartPrecondition = (existing) => {
      if (existing?.provDigest && !options.force) throw new RegistryError("CHART_EXISTS", `${chart.fileName}.prov already exists: push with --force to overwrite`);
      if (existing?.manifestDigest !== chart.manifestDigest) throw changedMeanwhile(chart);
    };
    unchanged(chart);
    // Another package than the version holds: as a .prov racing an overwrite of its package, 409.
    const mismatch = provenanceMismatch(received.files, chart.fileName, chart.chartDigest);
    if (mismatch) throw new RegistryError("CHART_EXISTS", `${mismatch}: ${chart.fileName} holds another package; push the package this .prov signs, or sign the one it holds`, { chart: chart.name, version: chart.version, package: chart.chartDigest });
    const digest = digestBytes(received.body);
    const staged = await this.blobs.receive(Readable.from([received.body]), digest, undefined, received.body.length);
    const provLayer = { mediaType: HELM_PROV_LAYER, digest, size: received.body.length };
    return this.storeManifest(chart.repository, chart.metadata, { mediaType: HELM_CHART_LAYER, digest: chart.chartDigest, size: chart.chartSize }, provLayer, chart.storedAs, unchanged, [staged], actor);
  }

  async removeProvenance(chart: ChartRecord, actor: ChangeActor | null = null): Promise<void> {
    if (!chart.provDigest) throw new RegistryError("CHART_UNKNOWN", `${chart.fileName} has no .prov`);
    const unchanged: ChartPrecondition = (existing) => {
      if (existing?.manifestDigest !== chart.manifestDigest) throw changedMeanwhile(chart);
    };
    await this.storeManifest(chart.repository, chart.metadata, { mediaType: HELM_CHART_LAYER, digest: chart.chartDigest, size: chart.chartSize }, null, chart.storedAs, unchanged, [], actor);
  }

  /** Deletes a chart version: its manifest and tag (the blobs go with gc). */
  async deleteVersion(chart: ChartRecord, actor: ChangeActor | null = null): Promise<void> {
    await this.manifests.delete(chart.repository, { kind: "digest", digest: chart.manifestDigest }, actor);
  }

  /** The versions of a chart a view shows (CHART_UNKNOWN when none). */
  versions(view: string, name: string, visible: Visibility): readonly ChartRecord[] {
    const versions = this.index.versionsOf(view, name, visible);
    if (versions.length === 0) throw new RegistryError("CHART_UNKNOWN", `no chart named ${name} in ${view}`, { name });
    return versions;
  }

  /** One version; `latest` means the newest. */
  version(view: string, name: string, version: string, visible: Visibility): ChartRecord {
    const versions = this.versions(view, name, visible);
    const found = version === "latest" ? versions[0] : versions.find((c) => c.version === version);
    if (!found) throw new RegistryError("CHART_UNKNOWN", `no version ${version} of chart ${name} in ${view}`, { name, version });
    return found;
  }

  /** The chart behind a package URL, or CHART_UNKNOWN. */
  file(view: string, path: string, visible: Visibility): ChartRecord {
    const chart = this.index.resolveFile(view, path, visible);
    if (!chart) throw new RegistryError("CHART_UNKNOWN", `no chart package ${path} in ${view}`, { path });
    return chart;
  }

  openBlob(digest: Digest): Promise<Readable> {
    return this.blobs.open(digest);
  }

  async blobSize(digest: Digest): Promise<number> {
    const info = await this.blobs.stat(digest);
    if (!info) throw new RegistryError("CHART_UNKNOWN", "chart file is missing from storage; run `berth fsck`", { digest });
    return info.size;
  }

  /**
   * Writes the manifest Helm would push for this chart, tagged with its version, in one
   * transaction with the blobs it names that this request brought (`staged`) and its config.
   */
  private async storeManifest(repository: RepositoryName, metadata: ChartMetadata, chartLayer: Descriptor, provLayer: Descriptor | null, storedAs: StoredAs, chartPrecondition: ChartPrecondition | undefined, staged: StagedBlob[] = [], actor: ChangeActor | null = null): Promise<ChartRecord> {
    const config = helmConfigJson(metadata);
    const configDigest = digestBytes(config);
    const stagedConfig = await this.blobs.receive(Readable.from([config]), configDigest, undefined, config.length);
    const blobs = [...staged, stagedConfig];
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: HELM_CONFIG, digest: configDigest, size: config.length },
        layers: provLayer ? [chartLayer, provLayer] : [chartLayer],
        annotations: helmAnnotations(metadata),
      }),
    );
    try {
      const pushed = await this.manifests.put(repository, { kind: "tag", tag: parseTag(versionToTag(metadata.version)) }, manifest, OCI_MANIFEST, {
        storedAs,
        chartPrecondition,
        chartConfig: metadata,
        actor,
        // The version is one thing: the manifest it held (before a forced push, a .prov attached or
        // removed) goes in this transaction, not left live and untagged (attack 17b).
        replaces: true,
        alsoStore: async (tx) => {
          for (const blob of blobs) await commitBlobIn(tx, this.blobs, repository, blob);
        },
      });
      if (!pushed.chart) throw new RegistryError("UNKNOWN", "chart was stored but not recorded");
      return pushed.chart;
    } catch (err) {
      // Published files whose rows rolled back are gc's (files without a row); the rest goes now.
      for (const blob of blobs) await this.discard(blob);
      throw err;
    }
  }
}

/** The annotations `helm push` writes (helm pkg/registry/chart.go). */
function helmAnnotations(metadata: ChartMetadata): Record<string, string> {
  const annotations: Record<string, string> = {};
  if (metadata.description) annotations["org.opencontainers.image.description"] = metadata.description;
  annotations["org.opencontainers.image.title"] = metadata.name;
  annotations["org.opencontainers.image.version"] = metadata.version;
  if (metadata.home) annotations["org.opencontainers.image.url"] = metadata.home;
  annotations["org.opencontainers.image.created"] = new Date().toISOString();
  if (metadata.sources?.[0]) annotations["org.opencontainers.image.source"] = metadata.sources[0];
  const authors = (metadata.maintainers ?? []).map((m) => (m.email ? `${m.name} (${m.email})` : m.name)).filter(Boolean);
  if (authors.length > 0) annotations["org.opencontainers.image.authors"] = authors.join(", ");
  for (const [key, value] of Object.entries(metadata.annotations ?? {})) {
    if (key !== "org.opencontainers.image.title" && key !== "org.opencontainers.image.version") annotations[key] = value;
  }
  return annotations;
}

/**
 * Why `helm verify` (and `helm pull --verify`) would refuse this .prov for the package, or null:
 * helm looks up the checksum under the downloaded file's name, `<name>-<version>.tgz`, and
 * compares it with `sha256:<hex>` of the package (helm pkg/provenance, Signatory.Verify). The
 * signature itself is the client's to check: Berth holds no keys.
 */
function provenanceMismatch(files: Record<string, string>, fileName: string, packageDigest: Digest): string | null {
  const sum = files[fileName];
  if (sum === undefined) return `the .prov lists no checksum for ${fileName} (it lists ${Object.keys(files).slice(0, 5).join(", ")})`;
  if (sum !== packageDigest) return `the .prov's checksum for ${fileName} is ${sum.slice(0, 80)}, the package's is ${packageDigest}`;
  return null;
}

/** The .prov was made for the package the version held when the request began; it holds another now. */
function changedMeanwhile(chart: ChartRecord): RegistryError {
  return new RegistryError("CHART_EXISTS", `${chart.fileName} changed while this request ran: send it again`, { chart: chart.name, version: chart.version });
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError("CHART_TOO_LARGE", `chart package is larger than ${limit} bytes (helm.maxUploadBytes)`, { limit });
}


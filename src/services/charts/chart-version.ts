// What a chart version is, decided here for every way a chart arrives (`helm push` over OCI, a
// classic push, ChartMuseum's API, `berth helm push`): a Helm chart manifest (Helm's config media
// type, a chart layer) that is tagged with the chart's version. `helm push` sends the manifest by
// digest before it tags it; recording that first PUT let a push whose tag a lock refused replace
// the version anyway. The row is written in the manifest's own transaction (ChartIndex.record).
import { chartFileName, chartMetadataFrom, versionToTag, HELM_CHART_LAYER, HELM_CONFIG, HELM_LEGACY_CHART_LAYER, HELM_PROV_LAYER, type ChartMetadata } from "../../domain/chart.ts";
import type { Digest } from "../../domain/digest.ts";
import type { ParsedManifest } from "../../domain/manifest.ts";
import type { RepositoryName } from "../../domain/names.ts";
import type { ChartRecord, StoredAs } from "../../metadata/types.ts";

/** Config blobs are tiny; anything larger is not a chart config worth indexing. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export function namespaceOf(repository: string): string {
  const slash = repository.lastIndexOf("/");
  return slash < 0 ? "" : repository.slice(0, slash);
}

/** Whether a manifest is shaped as a Helm chart, so its config is worth reading. */
export function isChartManifest(parsed: ParsedManifest): boolean {
  return parsed.config?.mediaType === HELM_CONFIG && parsed.config.size <= MAX_CONFIG_BYTES && chartLayerOf(parsed) !== undefined;
}

/** The chart's metadata from its config blob's bytes, or null when they are not a chart config. */
export function chartConfigFrom(bytes: Buffer): ChartMetadata | null {
  try {
    return chartMetadataFrom(JSON.parse(bytes.toString("utf8")));
  } catch {
    return null; // stored as any OCI artifact, just not listed as a chart
  }
}

export interface PushedChart {
  repository: RepositoryName;
  manifestDigest: Digest;
  parsed: ParsedManifest;
  /** What the config blob says (read from it, or the Chart.yaml a classic push built it from). */
  metadata: ChartMetadata;
  storedAs: StoredAs;
  /** The tags this push sets. */
  tags: readonly string[];
}

/** The chart version a pushed manifest makes, or null when it is not a chart or not tagged with its version. */
export function chartVersionOf(pushed: PushedChart): ChartRecord | null {
  const { repository, parsed, metadata } = pushed;
  const chartLayer = chartLayerOf(parsed);
  if (!isChartManifest(parsed) || !chartLayer || !pushed.tags.includes(versionToTag(metadata.version))) return null;
  const createdAnnotation = parsed.annotations?.["org.opencontainers.image.created"];
  const created = createdAnnotation && !Number.isNaN(Date.parse(createdAnnotation)) ? new Date(createdAnnotation) : new Date();
  return {
    repository,
    version: metadata.version,
    namespace: namespaceOf(repository),
    name: metadata.name,
    fileName: chartFileName(metadata.name, metadata.version),
    manifestDigest: pushed.manifestDigest,
    chartDigest: chartLayer.digest,
    chartSize: chartLayer.size,
    provDigest: parsed.layers.find((l) => l.mediaType === HELM_PROV_LAYER)?.digest ?? null,
    metadata,
    created,
    storedAs: pushed.storedAs,
    published: new Date(),
  };
}

function chartLayerOf(parsed: ParsedManifest) {
  return parsed.layers.find((l) => l.mediaType === HELM_CHART_LAYER || l.mediaType === HELM_LEGACY_CHART_LAYER);
}

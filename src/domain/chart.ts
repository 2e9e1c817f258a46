// Helm chart metadata, as Helm itself models it (helm pkg/chart/v2/metadata.go). The same
// fields make the OCI config blob (JSON, in Helm's struct order) and a classic index entry
// (index.yaml is parsed strictly: an unknown field rejects the whole index, so only these exist).
import semver from "semver";
import { RegistryError } from "./errors.ts";
import { holdsNul } from "./nul.ts";

export const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
export const HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
export const HELM_PROV_LAYER = "application/vnd.cncf.helm.chart.provenance.v1.prov";
/** Helm before 3.7 pushed the chart layer with this type. */
export const HELM_LEGACY_CHART_LAYER = "application/tar+gzip";

export interface Maintainer {
  name?: string;
  email?: string;
  url?: string;
}

export interface Dependency {
  name?: string;
  version?: string;
  repository?: string;
  condition?: string;
  tags?: string[];
  enabled?: boolean;
  "import-values"?: unknown[];
  alias?: string;
}

export interface ChartMetadata {
  name: string;
  home?: string;
  sources?: string[];
  version: string;
  description?: string;
  keywords?: string[];
  maintainers?: Maintainer[];
  icon?: string;
  apiVersion?: string;
  condition?: string;
  tags?: string;
  appVersion?: string;
  deprecated?: boolean;
  annotations?: Record<string, string>;
  kubeVersion?: string;
  dependencies?: Dependency[];
  type?: string;
}

/** Helm's json.Marshal order for Metadata: the OCI config blob is written in it. */
const FIELD_ORDER = [
  "name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion",
  "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type",
] as const;

const NAME_PATTERN = /^[a-zA-Z0-9._-]+$/;

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError("CHART_INVALID", message, detail);
}

const isString = (v: unknown): v is string => typeof v === "string";
const stringList = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter(isString) : undefined);

function stringMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(v)) if (isString(value)) out[key] = value;
  return out;
}

/** YAML/JSON scalars people write unquoted (appVersion: 1.0) become the strings Helm expects. */
function scalarString(v: unknown): string | undefined {
  if (isString(v)) return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/**
 * Keeps only the fields Helm knows, with the types it expects; throws CHART_INVALID when the
 * name or version is missing or invalid. Input: a parsed Chart.yaml or OCI config blob.
 */
export function chartMetadataFrom(raw: unknown): ChartMetadata {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid("Chart.yaml must be a mapping");
  // Its fields become the chart's annotations and index rows, which hold no NUL (nul.ts).
  if (holdsNul(raw)) throw invalid("Chart.yaml holds a NUL character: remove it");
  const r = raw as Record<string, unknown>;
  const name = scalarString(r.name);
  const version = scalarString(r.version);
  if (!name) throw invalid("Chart.yaml has no name");
  if (!version) throw invalid("Chart.yaml has no version");
  checkChartName(name);
  parseChartVersion(version);
  const apiVersion = scalarString(r.apiVersion) ?? "v1";
  if (!["v1", "v2", "v3"].includes(apiVersion)) throw invalid(`unsupported chart apiVersion ${JSON.stringify(apiVersion).slice(0, 40)}: use v1 or v2`);
  const type = scalarString(r.type);
  if (type !== undefined && type !== "" && type !== "application" && type !== "library") throw invalid("chart type must be application or library");
  const metadata: ChartMetadata = {
    name,
    home: scalarString(r.home),
    sources: stringList(r.sources),
    version,
    description: scalarString(r.description),
    keywords: stringList(r.keywords),
    maintainers: Array.isArray(r.maintainers)
      ? r.maintainers.filter((m) => typeof m === "object" && m !== null).map((m) => {
          const o = m as Record<string, unknown>;
          return dropEmpty({ name: scalarString(o.name), email: scalarString(o.email), url: scalarString(o.url) });
        })
      : undefined,
    icon: scalarString(r.icon),
    apiVersion,
    condition: scalarString(r.condition),
    tags: scalarString(r.tags),
    appVersion: scalarString(r.appVersion),
    deprecated: r.deprecated === true ? true : undefined,
    annotations: stringMap(r.annotations),
    kubeVersion: scalarString(r.kubeVersion),
    dependencies: Array.isArray(r.dependencies)
      ? r.dependencies.filter((d) => typeof d === "object" && d !== null).map((d) => {
          const o = d as Record<string, unknown>;
          return dropEmpty({
            name: scalarString(o.name),
            version: scalarString(o.version),
            repository: scalarString(o.repository),
            condition: scalarString(o.condition),
            tags: stringList(o.tags),
            enabled: typeof o.enabled === "boolean" ? o.enabled : undefined,
            "import-values": Array.isArray(o["import-values"]) ? o["import-values"] : undefined,
            alias: scalarString(o.alias),
          });
        })
      : undefined,
    type: type || undefined,
  };
  return dropEmpty(metadata);
}

/** Removes undefined, empty strings, empty lists and empty maps, as Go's omitempty does. */
function dropEmpty<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[key] = v;
  }
  return out as T;
}

/** The OCI config blob Helm writes for a chart: Metadata as JSON, in Helm's field order. */
export function helmConfigJson(metadata: ChartMetadata): Buffer {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELD_ORDER) if (metadata[field] !== undefined) ordered[field] = metadata[field];
  return Buffer.from(JSON.stringify(ordered));
}

export function checkChartName(name: string): void {
  if (name.length > 250 || !NAME_PATTERN.test(name) || name === "." || name === "..") {
    throw invalid("invalid chart name: use letters, digits, '.', '_' and '-' (at most 250)", { name: name.slice(0, 300) });
  }
}

/**
 * A chart version as Helm reads it (Masterminds semver NewVersion): SemVer 2, also coerced from
 * `v1.2.3`, `1.2` and `1`. Returns the normalized semver; throws CHART_INVALID otherwise.
 */
export function parseChartVersion(text: string): semver.SemVer {
  const m = /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.exec(text);
  const parsed = m ? semver.parse(`${m[1]}${m[2] ?? ".0"}${m[3] ?? ".0"}${m[4] ?? ""}${m[5] ?? ""}`) : null;
  if (!parsed) throw invalid("invalid chart version: use semantic versioning, e.g. 1.2.3", { version: text.slice(0, 200) });
  return parsed;
}

/** Newest first; versions Helm cannot parse go last, in byte order. */
export function compareVersionsDescending(a: string, b: string): number {
  const pa = tryParse(a);
  const pb = tryParse(b);
  if (pa && pb) return semver.rcompare(pa, pb) || (a < b ? -1 : a > b ? 1 : 0);
  if (pa) return -1;
  if (pb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorting an index compares each version many times: parse each distinct string once. */
const parsed = new Map<string, semver.SemVer | null>();

function tryParse(text: string): semver.SemVer | null {
  let version = parsed.get(text);
  if (version === undefined) {
    try {
      version = parseChartVersion(text);
    } catch {
      version = null;
    }
    if (parsed.size >= 100_000) parsed.clear();
    parsed.set(text, version);
  }
  return version;
}

/** OCI tags cannot hold `+`; Helm writes `_` instead (helm/helm#10166). */
export function versionToTag(version: string): string {
  return version.replaceAll("+", "_");
}

export function tagToVersion(tag: string): string {
  return tag.replaceAll("_", "+");
}

/** The file name Helm gives a packaged chart, and signs in its .prov. */
export function chartFileName(name: string, version: string): string {
  return `${name}-${version}.tgz`;
}

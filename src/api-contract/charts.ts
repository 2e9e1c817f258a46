// Charts: Berth's own list (/api/v1/charts, every version however stored) and the bodies of
// ChartMuseum's API (https://github.com/helm/chartmuseum#api), which helm cm-push and scripts read.
import { z } from "zod";
import { PageQuery } from "./catalog.ts";
import { Time } from "./common.ts";

export const StoredChart = z.strictObject({
  /** `<repository>:<tag>`, what `helm pull oci://` takes. */
  reference: z.string(),
  repository: z.string(),
  namespace: z.string(),
  name: z.string(),
  version: z.string(),
  appVersion: z.string().nullable(),
  description: z.string().nullable(),
  digest: z.string(),
  chartDigest: z.string(),
  size: z.number().int(),
  created: Time,
  storedAs: z.enum(["classic", "oci", "both"]),
  provenance: z.boolean(),
});
export type StoredChart = z.infer<typeof StoredChart>;
/** `next`: the cursor of the next page, when `n` was given and more versions remain; else null. */
export const ChartList = z.strictObject({ charts: z.array(StoredChart), next: z.string().nullable() });
export type ChartList = z.infer<typeof ChartList>;
/** Without `n`, every version the caller may see (as before paging came); q: a substring of the repository, name or description. */
export const ChartListQuery = z.strictObject({ q: z.string().max(256).optional(), ...PageQuery });

const Maintainer = z.strictObject({ name: z.string().optional(), email: z.string().optional(), url: z.string().optional() });
const Dependency = z.strictObject({
  name: z.string().optional(),
  version: z.string().optional(),
  repository: z.string().optional(),
  condition: z.string().optional(),
  tags: z.array(z.string()).optional(),
  enabled: z.boolean().optional(),
  "import-values": z.array(z.unknown()).optional(),
  alias: z.string().optional(),
});

/** An index.yaml entry as JSON: Chart.yaml's fields, then urls, created and the package's hex digest. */
export const ChartVersionEntry = z.strictObject({
  name: z.string(),
  home: z.string().optional(),
  sources: z.array(z.string()).optional(),
  version: z.string(),
  description: z.string().optional(),
  keywords: z.array(z.string()).optional(),
  maintainers: z.array(Maintainer).optional(),
  icon: z.string().optional(),
  apiVersion: z.string().optional(),
  condition: z.string().optional(),
  tags: z.string().optional(),
  appVersion: z.string().optional(),
  deprecated: z.boolean().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  kubeVersion: z.string().optional(),
  dependencies: z.array(Dependency).optional(),
  type: z.string().optional(),
  urls: z.array(z.string()),
  created: Time,
  digest: z.string(),
});
export type ChartVersionEntry = z.infer<typeof ChartVersionEntry>;
/** Every chart of a repository, by name. */
export const ChartListing = z.record(z.string(), z.array(ChartVersionEntry));
export const ChartVersions = z.array(ChartVersionEntry);
export const Saved = z.strictObject({ saved: z.literal(true) });

/** Chart.yaml's fields a chart page shows (as in ChartVersionEntry). */
export const ChartMetadataView = ChartVersionEntry.pick({
  description: true, home: true, sources: true, keywords: true, maintainers: true, icon: true, appVersion: true, kubeVersion: true,
  type: true, dependencies: true, deprecated: true, annotations: true, apiVersion: true,
});

export const ChartDetailQuery = z.strictObject({ version: z.string().max(256).optional() });
export const ChartDetail = z.strictObject({
  /** The OCI repository, `<namespace>/<name>`, as StoredChart.repository. */
  repository: z.string(),
  namespace: z.string(),
  name: z.string(),
  /** Every version the caller may see, newest first (semver). */
  versions: z.array(StoredChart),
  /** The selected version (default: the newest). */
  version: z.string(),
  metadata: ChartMetadataView,
  /** README.md of the package, as text: render it safely (it is the pusher's text). */
  readme: z.string().nullable(),
  /** values.yaml of the package, as text. */
  values: z.string().nullable(),
  /** README.md's whole size in bytes (null: none). Past 512 KiB, `readme` holds its first 512 KiB only. */
  readmeBytes: z.number().int().nullable(),
  /** values.yaml's whole size in bytes (null: none). Past 512 KiB, `values` holds its first 512 KiB only. */
  valuesBytes: z.number().int().nullable(),
  /** The classic repository path (/helm/v1/<namespace>) for `helm repo add`, when any version listed is stored the classic way (null: none is). */
  classicRepository: z.string().nullable(),
});
export type ChartDetail = z.infer<typeof ChartDetail>;

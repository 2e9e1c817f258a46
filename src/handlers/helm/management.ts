// Berth's own JSON API over charts: every version, however stored (for `berth chart list` and
// the portal).
import type { StoredChart } from "../../api-contract/charts.ts";
import { versionToTag } from "../../domain/chart.ts";
import { listed, type HelmContext } from "./context.ts";

export async function listAllCharts(ctx: HelmContext) {
  const charts = ctx.charts.index.all(listed(ctx)).map((c): StoredChart => ({
    reference: `${c.repository}:${versionToTag(c.version)}`,
    repository: c.repository,
    namespace: c.namespace,
    name: c.name,
    version: c.version,
    appVersion: c.metadata.appVersion ?? null,
    description: c.metadata.description ?? null,
    digest: c.manifestDigest,
    chartDigest: c.chartDigest,
    size: c.chartSize,
    created: c.created.toISOString(),
    storedAs: c.storedAs,
    provenance: c.provDigest !== null,
  }));
  return ctx.reply.send({ charts, next: null });
}

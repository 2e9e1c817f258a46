// Berth's own JSON API over charts: every version, however stored (for `berth chart list` and
// the portal), the whole list or, with ?n=, a page after the cursor ?last=. A read-locked version
// is left out (context.ts revealed), as on the chart page: a row is its digests and description.
import { ChartListQuery, type StoredChart } from "../../api-contract/charts.ts";
import { compareVersionsDescending, versionToTag } from "../../domain/chart.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { ChartRecord } from "../../metadata/types.ts";
import { revealed, type HelmContext } from "./context.ts";

export function storedChart(c: ChartRecord): StoredChart {
  return {
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
  };
}

/** The list's order (ChartIndex.all): repository, then version newest first. */
function compare(a: { repository: string; version: string }, b: { repository: string; version: string }): number {
  return a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : compareVersionsDescending(a.version, b.version);
}

export async function listAllCharts(ctx: HelmContext) {
  const parsed = ChartListQuery.safeParse(ctx.request.query ?? {});
  if (!parsed.success) throw new RegistryError("INVALID_REQUEST", `invalid query: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const { q, n, last } = parsed.data;
  let charts = ctx.charts.index.all(revealed(ctx));
  if (q) {
    const needle = q.toLowerCase();
    charts = charts.filter((c) => c.repository.includes(needle) || c.name.toLowerCase().includes(needle) || (c.metadata.description ?? "").toLowerCase().includes(needle));
  }
  if (n === undefined && last === undefined) return ctx.reply.send({ charts: charts.map(storedChart), next: null });
  // A page: the versions after the cursor's (repository, version), even if that one is gone since.
  let start = 0;
  if (last) {
    let at: { repository: string; version: string };
    try {
      const [repository, version] = JSON.parse(Buffer.from(last, "base64url").toString("utf8")) as [unknown, unknown];
      if (typeof repository !== "string" || typeof version !== "string") throw new Error("not a cursor");
      at = { repository, version };
    } catch {
      throw new RegistryError("INVALID_REQUEST", "last is not a cursor this API gave out: pass the previous answer's `next`");
    }
    start = charts.findIndex((c) => compare(c, at) > 0);
    if (start < 0) start = charts.length;
  }
  const limit = Math.min(Math.max(Number(n ?? 100), 1), 1000);
  const page = charts.slice(start, start + limit);
  const more = start + limit < charts.length;
  const next = more && page.length > 0 ? Buffer.from(JSON.stringify([page.at(-1)!.repository, page.at(-1)!.version])).toString("base64url") : null;
  return ctx.reply.send({ charts: page.map(storedChart), next });
}

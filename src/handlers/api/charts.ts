// GET /api/v1/charts/<namespace>/<name>[?version=] (api-contract/charts.ts ChartDetail): one chart
// as its page shows it, whichever way it was stored: the versions the caller may see (newest
// first; hidden and read-locked ones are left out), Chart.yaml's fields, README.md and values.yaml of the selected version as text, and the
// classic repository to `helm repo add` when it is stored that way. (GET /api/v1/charts, the list,
// is the Helm plugin's: handlers/helm/management.ts.)
import { ChartDetailQuery } from "../../api-contract/charts.ts";
import { compareVersionsDescending, versionToTag } from "../../domain/chart.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import type { Access } from "../../auth/identity.ts";
import type { FastifyRequest } from "fastify";
import { ROOT_NAMESPACE_SEGMENT } from "../../services/charts/chart-index.ts";
import { storedChart } from "../helm/management.ts";
import { queryOf, type ApiContext } from "./context.ts";

export const CHARTS_PREFIX = "/api/v1/charts/";

export function chartRepository(url: string): RepositoryName {
  const path = url.split("?")[0]!;
  let rest: string;
  try {
    rest = decodeURIComponent(path.slice(CHARTS_PREFIX.length)).replace(/\/+$/, "");
  } catch {
    throw new RegistryError("INVALID_REQUEST", "the path is not valid percent-encoding");
  }
  return parseRepositoryName(rest);
}

export const onChart = (request: FastifyRequest): Access[] => [{ type: "repository", name: chartRepository(request.url), action: "pull" }];

export async function getChart(ctx: ApiContext) {
  const repository = chartRepository(ctx.request.url);
  const { version } = queryOf(ctx, ChartDetailQuery);
  const versions = (await ctx.catalog.chartVersions(repository))
    // A read-locked version is neither listed nor opened: its README and values are its content.
    .filter((c) => ctx.authorizer.reveals(ctx.who, repository, versionToTag(c.version)))
    .sort((a, b) => compareVersionsDescending(a.version, b.version));
  const chosen = version === undefined ? versions[0] : versions.find((c) => c.version === version);
  if (!chosen) {
    throw new RegistryError("CHART_UNKNOWN", version === undefined ? `no chart stored in ${repository}` : `no version ${version} of the chart in ${repository}`, { repository, ...(version ? { version } : {}) });
  }
  const m = chosen.metadata;
  const texts = await ctx.catalog.chartTexts(chosen);
  const metadata = {
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.home !== undefined ? { home: m.home } : {}),
    ...(m.sources !== undefined ? { sources: m.sources } : {}),
    ...(m.keywords !== undefined ? { keywords: m.keywords } : {}),
    ...(m.maintainers !== undefined ? { maintainers: m.maintainers } : {}),
    ...(m.icon !== undefined ? { icon: m.icon } : {}),
    ...(m.appVersion !== undefined ? { appVersion: m.appVersion } : {}),
    ...(m.kubeVersion !== undefined ? { kubeVersion: m.kubeVersion } : {}),
    ...(m.type !== undefined ? { type: m.type } : {}),
    ...(m.dependencies !== undefined ? { dependencies: m.dependencies } : {}),
    ...(m.deprecated !== undefined ? { deprecated: m.deprecated } : {}),
    ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
    ...(m.apiVersion !== undefined ? { apiVersion: m.apiVersion } : {}),
  };
  return {
    repository,
    namespace: chosen.namespace,
    name: chosen.name,
    versions: versions.map(storedChart),
    version: chosen.version,
    metadata,
    readme: texts.readme,
    values: texts.values,
    readmeBytes: texts.readmeBytes,
    valuesBytes: texts.valuesBytes,
    classicRepository: versions.every((c) => c.storedAs === "oci") ? null : `/helm/v1/${chosen.namespace || ROOT_NAMESPACE_SEGMENT}`,
  };
}

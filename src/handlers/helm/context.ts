// What the Helm handlers share: the caller, the services, and the checks they need.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import type { Identity } from "../../auth/identity.ts";
import type { RepositoryName } from "../../domain/names.ts";
import type { ChartRecord } from "../../metadata/types.ts";
import type { ChartVersionEntry, Visibility } from "../../services/charts/chart-index.ts";
import type { ChartService } from "../../services/charts/chart-service.ts";

export interface HelmContext {
  request: FastifyRequest;
  reply: FastifyReply;
  who: Identity;
  charts: ChartService;
  authorizer: Authorizer;
}

/** Charts the caller may read and listings show; null (shared, cached) when that is all of them. */
export function visibility(ctx: HelmContext): Visibility {
  if (ctx.authorizer.mayReadAll(ctx.who)) return null;
  return (repository: RepositoryName) => ctx.authorizer.listable(repository) && ctx.authorizer.may(ctx.who, { type: "repository", name: repository, action: "pull" });
}

export function pushCheck(ctx: HelmContext): (repository: RepositoryName) => void {
  return (repository) => ctx.authorizer.authorize(ctx.who, [{ type: "repository", name: repository, action: "push" }]);
}

export function pullCheck(ctx: HelmContext, chart: ChartRecord): void {
  ctx.authorizer.authorize(ctx.who, [{ type: "repository", name: chart.repository, action: "pull" }]);
}

export function deleteCheck(ctx: HelmContext, chart: ChartRecord): void {
  ctx.authorizer.authorize(ctx.who, [{ type: "repository", name: chart.repository, action: "delete" }]);
}

/** `{name: [versions…]}`, as ChartMuseum's and ACR's list APIs answer. */
export function chartListing(ctx: HelmContext, view: string): Record<string, ChartVersionEntry[]> {
  const listing: Record<string, ChartVersionEntry[]> = {};
  for (const [name, versions] of ctx.charts.index.entries(view, visibility(ctx))) listing[name] = versions.map((c) => ctx.charts.index.entry(view, c));
  return listing;
}

export function versionEntries(ctx: HelmContext, view: string, versions: readonly ChartRecord[]): ChartVersionEntry[] {
  return versions.map((c) => ctx.charts.index.entry(view, c));
}

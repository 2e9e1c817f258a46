// What the Helm handlers share: the caller, the services, the action the route table declared,
// and the one access decision every chart route goes through. A classic view spans many OCI
// repositories, so a route's repository is known only once its chart is: the route declares the
// action, and each chart version it touches is checked as the OCI routes check a tag.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import type { Access, Identity } from "../../auth/identity.ts";
import { versionToTag } from "../../domain/chart.ts";
import type { ChartRecord } from "../../metadata/types.ts";
import type { ChartVersionEntry, Visibility } from "../../services/charts/chart-index.ts";
import type { ChartCheck, ChartRef, ChartService } from "../../services/charts/chart-service.ts";

/** What a Helm route does to the chart versions it touches. */
export type ChartAction = "pull" | "push" | "delete";

export interface HelmContext {
  request: FastifyRequest;
  reply: FastifyReply;
  who: Identity;
  charts: ChartService;
  authorizer: Authorizer;
  action: ChartAction;
}

/** The access a route needs on one chart version: its version is the tag, so tag attributes apply. */
export function chartAccess(action: ChartAction, chart: ChartRef): Access {
  return { type: "repository", name: chart.repository, action, tag: versionToTag(chart.version) };
}

/** Throws DENIED (a lock, or no right) or UNAUTHORIZED unless the caller may do the route's action to the version. */
export function check(ctx: HelmContext, chart: ChartRef): void {
  ctx.authorizer.authorize(ctx.who, [chartAccess(ctx.action, chart)]);
}

export function checker(ctx: HelmContext): ChartCheck {
  return (chart) => check(ctx, chart);
}

/**
 * The charts a caller finds by name or file: those of repositories its grants let it read or act
 * on. Any other is answered as missing (404), exactly as a chart that does not exist, as the OCI
 * routes answer both alike; a 403 would say that it exists. Locks come after, in check().
 */
export function findable(ctx: HelmContext): Visibility {
  return (chart) => ctx.authorizer.grants(ctx.who, { type: "repository", name: chart.repository, action: "pull" }) || ctx.authorizer.grants(ctx.who, { type: "repository", name: chart.repository, action: ctx.action });
}

/**
 * What listings (index.yaml, _charts, ChartMuseum's list, /api/v1/charts) show the caller: the
 * versions it may read that no attribute hides, the repository's or the version's own. null
 * (the shared, cached documents) when that is every version.
 */
export function listed(ctx: HelmContext): Visibility {
  if (ctx.authorizer.mayReadAll(ctx.who)) return null;
  return (chart) => ctx.authorizer.listable(chart.repository, versionToTag(chart.version)) && ctx.authorizer.may(ctx.who, { type: "repository", name: chart.repository, action: "pull" });
}

/** One version found as the route finds it, then checked: a lock on it is a 403 that names the lock. */
export function checkedVersion(ctx: HelmContext, view: string, name: string, version: string): ChartRecord {
  const chart = ctx.charts.version(view, name, version, findable(ctx));
  check(ctx, chart);
  return chart;
}

/** `{name: [versions…]}`, as ChartMuseum's and ACR's list APIs answer. */
export function chartListing(ctx: HelmContext, view: string): Record<string, ChartVersionEntry[]> {
  const listing: Record<string, ChartVersionEntry[]> = {};
  for (const [name, versions] of ctx.charts.index.entries(view, listed(ctx))) listing[name] = versions.map((c) => ctx.charts.index.entry(view, c));
  return listing;
}

export function versionEntries(ctx: HelmContext, view: string, versions: readonly ChartRecord[]): ChartVersionEntry[] {
  return versions.map((c) => ctx.charts.index.entry(view, c));
}

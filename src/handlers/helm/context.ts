// What the Helm handlers share: the caller, the services, the action the route table declared,
// and the one access decision every chart route goes through. A classic view spans many OCI
// repositories, so a route's repository is known only once its chart is: the route declares the
// action, and each chart version it touches is checked as the OCI routes check a tag.
import type { FastifyReply, FastifyRequest } from "fastify";
import { RegistryError } from "../../domain/errors.ts";
import type { Authorizer } from "../../auth/authorizer.ts";
import type { Access, Identity } from "../../auth/identity.ts";
import { versionToTag } from "../../domain/chart.ts";
import type { ChartRecord } from "../../metadata/types.ts";
import type { ChartVersionEntry, Visibility } from "../../services/charts/chart-index.ts";
import type { ChartRef, ChartService, ReceivedPackage } from "../../services/charts/chart-service.ts";
import { actorOf } from "../../http/actor.ts";
import { requestSignal } from "../oci/context.ts";

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

/**
 * Deleting a chart version deletes its manifest by digest, and with it every tag on it: it is
 * checked as an OCI delete by digest is, so a delete-locked tag on the same manifest (the
 * version's or any other) refuses it.
 */
export async function checkDeletion(ctx: HelmContext, chart: ChartRecord): Promise<void> {
  const byDigest: Access = { type: "repository", name: chart.repository, action: "delete", digest: chart.manifestDigest };
  ctx.authorizer.authorize(ctx.who, [chartAccess("delete", chart), ...(await ctx.authorizer.bindTags([byDigest]))]);
}

/**
 * Removing a version's .prov re-pushes the version without it (a new manifest under its tag):
 * it needs delete and push on the version, so its write lock applies as well.
 */
export function checkProvenanceRemoval(ctx: HelmContext, chart: ChartRef): void {
  ctx.authorizer.authorize(ctx.who, [chartAccess("delete", chart), chartAccess("push", chart)]);
}

/**
 * Stores a package the caller may push. A caller who may push nowhere is refused before the body
 * is read; otherwise it is received and read (the repository comes from Chart.yaml), checked here
 * as any chart version is, and only then stored; refused, it is dropped.
 */
export async function pushPackage(ctx: HelmContext, view: string, body: AsyncIterable<Uint8Array>, force: boolean): Promise<ChartRecord> {
  return storeReceived(ctx, await receiveToPush(ctx, view, body), { force });
}

/** pushPackage()'s first half: the package received, read and authorized, not stored yet. */
export async function receiveToPush(ctx: HelmContext, view: string, body: AsyncIterable<Uint8Array>): Promise<ReceivedPackage> {
  ctx.authorizer.authorizeSomewhere(ctx.who, "push", `${view}/*`);
  const received = await ctx.charts.receivePackage(view, body, requestSignal(ctx.request));
  try {
    check(ctx, received.chart);
  } catch (err) {
    await ctx.charts.discard(received.staged);
    throw err;
  }
  return received;
}

/** pushPackage()'s second half; `provenance`: the .prov sent with it, stored in the same transaction. */
export function storeReceived(ctx: HelmContext, received: ReceivedPackage, options: { force: boolean; provenance?: Buffer }): Promise<ChartRecord> {
  return ctx.charts.storePackage(received, options, actorOf(ctx.request, ctx.who));
}

/** Attaches a .prov the caller may push to the version it is for (a package URL, or what the .prov names). */
export async function pushProvenance(ctx: HelmContext, view: string, body: Buffer, options: { force: boolean; fileName?: string }): Promise<ChartRecord> {
  ctx.authorizer.authorizeSomewhere(ctx.who, "push", `${view}/*`);
  const received = await ctx.charts.receiveProvenance(view, body, { fileName: options.fileName, visible: findable(ctx) });
  if (received.chart) check(ctx, received.chart);
  return ctx.charts.attachProvenance(received, { force: options.force }, actorOf(ctx.request, ctx.who));
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
 * What Helm's listings (index.yaml, _charts, ChartMuseum's list) show the caller: the versions it
 * may read that no attribute hides, the repository's or the version's own. A read-locked version
 * stays listed (Authorizer.shows): Helm resolves versions from the index, and its download is
 * refused. null (the shared, cached documents) when that is every version.
 */
export function listed(ctx: HelmContext): Visibility {
  if (ctx.authorizer.mayReadAll(ctx.who)) return null;
  return (chart) => ctx.authorizer.shows(ctx.who, chart.repository, versionToTag(chart.version));
}

/**
 * What the portal API's chart list (/api/v1/charts) shows the caller: the versions listed() shows
 * that are not read-locked either (Authorizer.reveals), as the chart page and the tags page leave
 * a read-locked version out: each row carries its digests and description, content a read lock
 * keeps from everyone.
 */
export function revealed(ctx: HelmContext): Visibility {
  if (ctx.authorizer.mayReadAll(ctx.who)) return null;
  return (chart) => ctx.authorizer.reveals(ctx.who, chart.repository, versionToTag(chart.version));
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

/** How many repositories a 404 for an unknown view names before it says "and N more". */
const NAMED_VIEWS = 20;

/**
 * A view that is not configured (helm.views) and lists no chart to the caller is most likely a
 * typo: `helm repo add x http://host/helm/v1/rpeo` would otherwise succeed with an empty index and
 * show up only as "no results found" later. So it answers 404 naming the repositories that do
 * exist, as ACR answers 404 for a repository it does not have. Both the test and the names go by
 * what the caller may list: a namespace it may not read, or whose charts are hidden (listEnabled
 * false), answers and is named exactly as one that does not exist, so the 404 reveals nothing.
 */
export function requireView(ctx: HelmContext, view: string): void {
  const index = ctx.charts.index;
  const configured = index.configuredViews();
  const visible = listed(ctx);
  if (configured.includes(view) || index.listsAny(view, visible)) return;
  const namespaces = new Set(index.all(visible).map((c) => c.namespace).filter((n) => n !== ""));
  const known = [...new Set([...configured, ...[...namespaces].sort()])].map((name) => `/helm/v1/${name}`);
  const named = known.length > NAMED_VIEWS ? `${known.slice(0, NAMED_VIEWS).join(", ")} and ${known.length - NAMED_VIEWS} more` : known.join(", ") || "none yet";
  const host = ctx.request.headers.host ?? "<host>";
  throw new RegistryError(
    "CLASSIC_REPOSITORY_UNKNOWN",
    `no chart repository /helm/v1/${view}: the repositories here are ${named}. To start ${view}, push a chart to it: \`helm push mychart-0.1.0.tgz oci://${host}/${view}\` or \`berth helm push mychart-0.1.0.tgz --repository ${view} --server <url>\``,
    { repositories: known },
  );
}

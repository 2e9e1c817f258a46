// The Helm endpoint tables, with the action each route does to the chart versions it touches.
// The plugin finds the route here and puts its action into the context; context.ts turns it into
// the Access for each chart version (repository and version as tag), so the classic repository
// and ChartMuseum's API go through the same decision as the OCI routes, tag attributes included.
// Classic: ACR's REST (the retired `az acr helm`) plus Helm's downloads; research/helm.md §1.
// ChartMuseum: https://github.com/helm/chartmuseum#api
import * as classic from "./classic.ts";
import * as museum from "./chartmuseum.ts";
import type { ChartAction, HelmContext } from "./context.ts";
import type { ClassicPath, MuseumPath } from "./paths.ts";

type Method = "GET" | "HEAD" | "PUT" | "PATCH" | "POST" | "DELETE";

export interface HelmRoute<P extends { kind: string }> {
  kind: P["kind"];
  methods: readonly Method[];
  action: ChartAction;
  handler: (ctx: HelmContext, path: P) => Promise<unknown>;
}

function route<P extends { kind: string }, K extends P["kind"]>(kind: K, methods: readonly Method[], action: ChartAction, handler: (ctx: HelmContext, path: Extract<P, { kind: K }>) => Promise<unknown>): HelmRoute<P> {
  return { kind, methods, action, handler: handler as HelmRoute<P>["handler"] };
}

export const CLASSIC_ROUTES: HelmRoute<ClassicPath>[] = [
  route<ClassicPath, "index">("index", ["GET", "HEAD"], "pull", classic.getIndex),
  route<ClassicPath, "blob">("blob", ["GET", "HEAD"], "pull", classic.getBlob),
  // PUT pushes a new version (409 when it exists), PATCH overwrites; a .tgz.prov goes the same way.
  route<ClassicPath, "blob">("blob", ["PUT", "PATCH"], "push", classic.putBlob),
  route<ClassicPath, "blob">("blob", ["DELETE"], "delete", classic.deleteBlob),
  route<ClassicPath, "charts">("charts", ["GET"], "pull", classic.getCharts),
  route<ClassicPath, "charts">("charts", ["DELETE"], "delete", classic.deleteCharts),
];

export const MUSEUM_ROUTES: HelmRoute<MuseumPath>[] = [
  route<MuseumPath, "charts">("charts", ["POST"], "push", museum.postCharts),
  route<MuseumPath, "prov">("prov", ["POST"], "push", museum.postProv),
  route<MuseumPath, "charts">("charts", ["GET", "HEAD"], "pull", museum.getCharts),
  route<MuseumPath, "charts">("charts", ["DELETE"], "delete", museum.deleteChart),
];

export function findHelmRoute<P extends { kind: string }>(table: readonly HelmRoute<P>[], path: P, method: string): HelmRoute<P> | undefined {
  return table.find((r) => r.kind === path.kind && r.methods.includes(method as Method));
}

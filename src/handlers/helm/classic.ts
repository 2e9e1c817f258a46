// The classic chart repository at /helm/v1/<repository>: index.yaml, packages and .prov files
// for helm, and ACR's push and management calls (the REST behind the retired `az acr helm`).
import { RegistryError } from "../../domain/errors.ts";
import { actorOf } from "../../http/actor.ts";
import { readBounded, requestBody } from "../../http/body.ts";
import { chartListing, check, checkDeletion, checkedVersion, checkProvenanceRemoval, findable, listed, pushPackage, pushProvenance, requireView, versionEntries, type HelmContext } from "./context.ts";
import type { ClassicPath } from "./paths.ts";

const PROV_LIMIT = 1024 * 1024;

export async function getIndex(ctx: HelmContext, path: Extract<ClassicPath, { kind: "index" }>) {
  requireView(ctx, path.view);
  const document = ctx.charts.index.document(path.view, listed(ctx));
  ctx.reply
    .header("content-type", "text/yaml; charset=utf-8")
    .header("etag", document.etag)
    .header("cache-control", "no-cache")
    .header("content-length", document.body.length);
  // Helm treats anything but 200 as a failure, so 304 only for clients that ask for it.
  if (ctx.request.headers["if-none-match"] === document.etag) return ctx.reply.code(304).send();
  return ctx.request.method === "HEAD" ? ctx.reply.send() : ctx.reply.send(document.body);
}

export async function getBlob(ctx: HelmContext, path: Extract<ClassicPath, { kind: "blob" }>) {
  const isProv = path.path.endsWith(".tgz.prov");
  if (!isProv && !path.path.endsWith(".tgz")) throw new RegistryError("CHART_UNKNOWN", "chart files end in .tgz or .tgz.prov", { path: path.path });
  const chart = ctx.charts.file(path.view, isProv ? path.path.slice(0, -".prov".length) : path.path, findable(ctx));
  check(ctx, chart);
  const digest = isProv ? chart.provDigest : chart.chartDigest;
  if (!digest) throw new RegistryError("CHART_UNKNOWN", `${chart.fileName} has no .prov`, { path: path.path });
  ctx.reply
    .header("content-type", isProv ? "application/pgp-signature" : "application/gzip")
    .header("docker-content-digest", digest)
    .header("etag", `"${digest}"`);
  ctx.reply.header("content-length", isProv ? await ctx.charts.blobSize(digest) : chart.chartSize);
  if (ctx.request.method === "HEAD") return ctx.reply.send();
  return ctx.reply.send(await ctx.charts.openBlob(digest));
}

/** PUT pushes (409 on an existing version), PATCH overwrites: ACR's `az acr helm push [--force]`. */
export async function putBlob(ctx: HelmContext, path: Extract<ClassicPath, { kind: "blob" }>) {
  const force = ctx.request.method === "PATCH";
  if (path.path.includes("/")) throw new RegistryError("CHART_INVALID", "push to /helm/v1/<repository>/_blobs/<chart>-<version>.tgz");
  if (path.path.endsWith(".tgz.prov")) {
    const body = await readBounded(ctx.request, PROV_LIMIT);
    await pushProvenance(ctx, path.view, body, { force, fileName: path.path });
  } else if (path.path.endsWith(".tgz")) {
    await pushPackage(ctx, path.view, requestBody(ctx.request), force);
  } else {
    throw new RegistryError("CHART_INVALID", "push a packaged chart (.tgz) or its provenance (.tgz.prov): run `helm package` first");
  }
  return ctx.reply.code(201).send({ saved: true });
}

export async function deleteBlob(ctx: HelmContext, path: Extract<ClassicPath, { kind: "blob" }>) {
  const isProv = path.path.endsWith(".tgz.prov");
  const chart = ctx.charts.file(path.view, isProv ? path.path.slice(0, -".prov".length) : path.path, findable(ctx));
  if (isProv) {
    checkProvenanceRemoval(ctx, chart);
    await ctx.charts.removeProvenance(chart, actorOf(ctx.request, ctx.who));
  } else {
    await checkDeletion(ctx, chart);
    await ctx.charts.deleteVersion(chart, actorOf(ctx.request, ctx.who));
  }
  return ctx.reply.send({ deleted: true });
}

export async function getCharts(ctx: HelmContext, path: Extract<ClassicPath, { kind: "charts" }>) {
  if (!path.name) {
    requireView(ctx, path.view);
    return ctx.reply.send(chartListing(ctx, path.view));
  }
  if (!path.version) return ctx.reply.send(versionEntries(ctx, path.view, ctx.charts.versions(path.view, path.name, listed(ctx))));
  return ctx.reply.send(ctx.charts.index.entry(path.view, checkedVersion(ctx, path.view, path.name, path.version)));
}

export async function deleteCharts(ctx: HelmContext, path: Extract<ClassicPath, { kind: "charts" }>) {
  if (!path.name) throw new RegistryError("UNSUPPORTED", "delete one chart: DELETE /helm/v1/<repository>/_charts/<chart>[/<version>]");
  // Every version is checked before any goes: one locked version keeps the chart whole.
  const doomed = path.version ? [ctx.charts.version(path.view, path.name, path.version, findable(ctx))] : ctx.charts.versions(path.view, path.name, findable(ctx));
  for (const chart of doomed) await checkDeletion(ctx, chart);
  for (const chart of doomed) await ctx.charts.deleteVersion(chart, actorOf(ctx.request, ctx.who));
  return ctx.reply.send({ deleted: true });
}

// ChartMuseum's API (/api/<repository>/charts, /prov), so `helm cm-push` and scripts written for
// ChartMuseum work. Uploads are raw bodies or multipart/form-data with `chart` and `prov` files;
// the multipart parts stream, nothing is buffered whole but the small .prov.
import busboy from "busboy";
import { finished, type Readable } from "node:stream";
import { RegistryError } from "../../domain/errors.ts";
import { actorOf } from "../../http/actor.ts";
import { bodyEnded, clientLeft, queryValue, readBounded, requestBody } from "../../http/body.ts";
import { chartListing, checkDeletion, checkedVersion, findable, listed, pushPackage, pushProvenance, receiveToPush, storeReceived, versionEntries, type HelmContext } from "./context.ts";
import type { ReceivedPackage } from "../../services/charts/chart-service.ts";
import type { MuseumPath } from "./paths.ts";

const PROV_LIMIT = 1024 * 1024;

function isForced(ctx: HelmContext): boolean {
  return queryValue(ctx.request, "force") !== undefined;
}

export async function postCharts(ctx: HelmContext, path: Extract<MuseumPath, { kind: "charts" }>) {
  if (path.name) throw new RegistryError("UNSUPPORTED", "POST is not supported here: upload to /api/<repository>/charts");
  const force = isForced(ctx);
  const contentType = ctx.request.headers["content-type"] ?? "";
  if (!/^multipart\/form-data/i.test(contentType)) {
    await pushPackage(ctx, path.view, requestBody(ctx.request), force);
    return ctx.reply.code(201).send({ saved: true });
  }
  // `helm cm-push` of a signed chart sends both in one request: they are stored as one version in
  // one transaction, so a refused .prov changes nothing, and the parts' order does not matter.
  const parts: { chart: ReceivedPackage | null; prov: Buffer | null } = { chart: null, prov: null };
  try {
    await readMultipart(ctx, async (field, file) => {
      if (field === "chart") {
        if (parts.chart) throw new RegistryError("CHART_INVALID", "the multipart upload holds more than one `chart` file: upload one chart (and its .prov) per request");
        parts.chart = await receiveToPush(ctx, path.view, file);
      } else if (field === "prov") {
        if (parts.prov) throw new RegistryError("CHART_INVALID", "the multipart upload holds more than one `prov` file: upload one chart and its .prov per request");
        parts.prov = await readAll(file, PROV_LIMIT);
      } else file.resume();
    });
  } catch (err) {
    if (parts.chart) await ctx.charts.discard(parts.chart.staged);
    throw err;
  }
  if (parts.chart) await storeReceived(ctx, parts.chart, { force, ...(parts.prov && { provenance: parts.prov }) });
  else if (parts.prov) await pushProvenance(ctx, path.view, parts.prov, { force });
  return ctx.reply.code(201).send({ saved: true });
}

export async function postProv(ctx: HelmContext, path: Extract<MuseumPath, { kind: "prov" }>) {
  const force = isForced(ctx);
  const contentType = ctx.request.headers["content-type"] ?? "";
  if (/^multipart\/form-data/i.test(contentType)) {
    await readMultipart(ctx, async (field, file) => {
      if (field === "prov") await pushProvenance(ctx, path.view, await readAll(file, PROV_LIMIT), { force });
      else file.resume();
    });
  } else {
    await pushProvenance(ctx, path.view, await readBounded(ctx.request, PROV_LIMIT), { force });
  }
  return ctx.reply.code(201).send({ saved: true });
}

export async function getCharts(ctx: HelmContext, path: Extract<MuseumPath, { kind: "charts" }>) {
  if (!path.name) return ctx.reply.send(chartListing(ctx, path.view));
  const body = path.version
    ? ctx.charts.index.entry(path.view, checkedVersion(ctx, path.view, path.name, path.version))
    : versionEntries(ctx, path.view, ctx.charts.versions(path.view, path.name, listed(ctx)));
  return ctx.request.method === "HEAD" ? ctx.reply.send() : ctx.reply.send(body);
}

export async function deleteChart(ctx: HelmContext, path: Extract<MuseumPath, { kind: "charts" }>) {
  if (!path.name || !path.version) throw new RegistryError("UNSUPPORTED", "delete one version: DELETE /api/<repository>/charts/<name>/<version>");
  const chart = ctx.charts.version(path.view, path.name, path.version, findable(ctx));
  await checkDeletion(ctx, chart);
  await ctx.charts.deleteVersion(chart, actorOf(ctx.request, ctx.who));
  return ctx.reply.send({ deleted: true });
}

/** Runs `onFile` for each file part, one at a time, and waits for all of them. */
async function readMultipart(ctx: HelmContext, onFile: (field: string, file: Readable) => Promise<void>): Promise<void> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: ctx.request.headers, limits: { files: 4, fields: 16, parts: 20 } });
  } catch (err) {
    throw malformed(err);
  }
  // Parts arrive one after another; a failed part still has its bytes drained, or the parser
  // would wait for them forever.
  let chain = Promise.resolve();
  let failure: unknown = null;
  let files = 0;
  const raw = ctx.request.raw;
  const parsed = new Promise<unknown>((resolve) => {
    parser.on("file", (field, file) => {
      files++;
      chain = chain
        .then(() => (failure === null ? onFile(field, file) : undefined))
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => file.resume());
    });
    // The parser destroyed (a malformed form, the request failing) destroys the part being read too, so `chain` ends.
    parser.on("error", resolve);
    parser.on("close", () => resolve(null));
  });
  // pipe() does not pass on the request's failure: a client that leaves mid-body would leave the
  // parser, and the part being stored, waiting for bytes that never come.
  const stop = finished(raw, (err) => {
    if (err) parser.destroy(err);
  });
  raw.pipe(parser);
  const parseError = await parsed;
  await chain;
  stop();
  // A client that left before its body was whole: whatever the parser or a part made of the cut
  // (an unexpected end of form, a truncated archive), the answer is the one every upload gives.
  if (raw.errored || clientLeft(ctx.request)) throw bodyEnded(raw.errored ?? parseError ?? failure);
  if (parseError !== null) throw malformed(parseError);
  if (failure !== null) throw failure;
  if (files === 0) throw new RegistryError("CHART_INVALID", "the multipart upload holds no `chart` or `prov` file");
}

function malformed(err: unknown): RegistryError {
  return new RegistryError("CHART_INVALID", `malformed multipart upload: ${(err as Error).message}`);
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.resume();
      throw new RegistryError("CHART_TOO_LARGE", `provenance file is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

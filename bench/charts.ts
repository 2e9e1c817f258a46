// The `charts` phase of `npm run bench`: a classic chart repository holding many chart versions.
// It starts a fresh Berth (its own data directory, nothing of the blob phases in it), fills
// /helm/v1/repo through ACR's `PUT _blobs/<name>-<version>.tgz` a few pushes at a time, then
// measures what `helm repo update` leans on: index.yaml requests per second, how soon a push shows
// in the index, and Berth's RSS. The reference is a plain node:http server holding the same
// index.yaml bytes in memory (bench/static-index-server.ts): the ceiling for serving that document
// from Node on this machine with this client. ChartMuseum, the peer the issue names, cannot be
// installed here (see chartmuseumReason), so its column says so instead of holding numbers.
import { gzipSync } from "node:zlib";
import { validChart } from "../test/support/chart-fixtures.ts";
import { measureRate } from "./rates.ts";
import { send, type Target } from "./registry-client.ts";
import type { ChartFill, ChartResults, IndexGet, PushVisible } from "./report.ts";
import { readRss, RssSampler, summarizeRss } from "./rss.ts";
import { startBerthTarget, startStaticIndexServer, type RunningTarget } from "./servers.ts";

export const chartmuseumUnavailable = "not available (Go proxy 403)";
/** What `go list -m -versions` answered for both module paths (checked when this phase was written). */
export const chartmuseumReason =
  "`go list -m -versions helm.sh/chartmuseum` (and github.com/helm/chartmuseum): reading " +
  "https://proxy.golang.org/<module>/@v/list: 403 Forbidden, \"This module version is not available.\"; " +
  "it is not on npm, PyPI or Debian either";

export interface ChartBenchOptions {
  /** Chart versions in the repository (whole charts of `perChart` versions, rounded up). */
  versions: number;
  perChart: number;
  /** Pushes in flight at once during the fill. */
  pushConcurrency: number;
  /** Connections for the index.yaml rate. */
  connections: number;
  seconds: number;
  /** Pushes timed from their 201 to the first index.yaml that lists them. */
  latencyReps: number;
  /** Starts a server and registers it for the run's cleanup. */
  start(start: () => Promise<RunningTarget>): Promise<RunningTarget>;
  /** Stops a server started with start() and unregisters it. */
  stop(target: RunningTarget): Promise<void>;
  log(message: string): void;
}

const repository = "repo";
const indexPath = `/helm/v1/${repository}/index.yaml`;
/** How long a pushed version may take to show before the run calls it a failure. */
const visibleDeadlineMs = 10_000;

const words = ["api", "auth", "billing", "cache", "catalog", "checkout", "gateway", "ingest", "metrics", "notify",
  "orders", "payments", "search", "session", "storage", "users", "web", "worker", "queue", "report"];

function chartName(index: number): string {
  return `${words[index % words.length]}-${String(Math.floor(index / words.length)).padStart(3, "0")}`;
}

/** The i-th of a chart's versions: 1.0.0, 1.0.1, …, 1.0.3, 1.1.0, …, four patches per minor. */
function chartVersion(i: number): string {
  return `1.${Math.floor(i / 4)}.${i % 4}`;
}

interface Package {
  name: string;
  version: string;
  body: Buffer;
}

/** A small, realistic package: Chart.yaml with description, keywords, maintainers, home, sources. */
async function chartPackage(index: number, version: string): Promise<Package> {
  const name = chartName(index);
  const word = words[index % words.length]!;
  const body = await validChart({
    name,
    version,
    appVersion: `2.${index % 7}.${index % 13}`,
    description: `The ${word} service of the storefront (team ${Math.floor(index / words.length)}): deployment, service, ingress, autoscaling`,
    type: "application",
    keywords: [word, "storefront", index % 2 === 0 ? "http" : "grpc"],
    home: `https://charts.example.com/${name}`,
    sources: [`https://git.example.com/storefront/${name}`],
    maintainers: [
      { name: "Platform Team", email: "platform@example.com" },
      { name: `Owner ${index}`, email: `owner${index}@example.com`, url: `https://example.com/people/${index}` },
    ],
  });
  return { name, version, body };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

async function push(berth: Target, pkg: Package): Promise<number> {
  const start = performance.now();
  const reply = await send(berth, "PUT", `/helm/v1/${repository}/_blobs/${pkg.name}-${pkg.version}.tgz`, {
    headers: { "content-type": "application/gzip" },
    body: [pkg.body],
    length: pkg.body.length,
  });
  if (reply.status !== 201) throw new Error(`PUT ${pkg.name}-${pkg.version}.tgz: expected 201, got ${reply.status}: ${reply.body.toString("utf8").slice(0, 300)}`);
  return performance.now() - start;
}

interface Fetched {
  status: number;
  etag: string;
  body: Buffer;
  /** From the request to the last body byte. */
  ms: number;
  /** From the request to the response headers (Berth renders a changed index before it answers). */
  headersMs: number;
}

async function getIndex(target: Target, headers: Record<string, string> = {}): Promise<Fetched> {
  const chunks: Buffer[] = [];
  const start = performance.now();
  const reply = await send(target, "GET", indexPath, { headers, onData: (chunk) => chunks.push(chunk) });
  return { status: reply.status, etag: String(reply.headers.etag ?? ""), body: Buffer.concat(chunks), ms: performance.now() - start, headersMs: reply.answeredAt - start };
}

/** The number of chart versions an index.yaml lists: one `digest:` line each. */
function versionsListed(body: Buffer): number {
  return body.toString("utf8").match(/^ +digest: "?[0-9a-f]{64}"?$/gm)?.length ?? 0;
}

/** The median of a few sequential GETs of an index nothing changes: the transfer alone. */
async function steadyGet(target: Target, tries = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < tries; i++) {
    const got = await getIndex(target);
    if (got.status !== 200) throw new Error(`GET index.yaml: ${got.status}`);
    times.push(got.ms);
  }
  return percentile(times, 50);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n").slice(0, 3).join(" ") : String(error);
}

export async function runChartBench(o: ChartBenchOptions): Promise<ChartResults> {
  const charts = Math.ceil(o.versions / o.perChart);
  const results: ChartResults = {
    options: { versions: charts * o.perChart, charts, perChart: o.perChart, pushConcurrency: o.pushConcurrency, connections: o.connections, seconds: o.seconds, latencyReps: o.latencyReps },
    chartmuseum: `${chartmuseumUnavailable}: ${chartmuseumReason}`,
    berth: {},
    staticFile: {},
    failures: {},
  };
  /** Runs one step; a failure is recorded and the steps that do not need it still run. */
  const step = async (name: string, work: () => Promise<void>): Promise<boolean> => {
    try {
      await work();
      return true;
    } catch (error) {
      results.failures[name] = errorText(error);
      o.log(`charts ${name} failed: ${results.failures[name]}`);
      return false;
    }
  };

  o.log(`charts: generating ${results.options.versions} packages (${charts} charts × ${o.perChart} versions)`);
  const packages: Package[] = [];
  // Version-major order: every chart's first version, then every chart's second, as release streams interleave.
  for (let v = 0; v < o.perChart; v++) for (let c = 0; c < charts; c++) packages.push(await chartPackage(c, chartVersion(v)));

  let berth: RunningTarget;
  try {
    berth = await o.start(() => startBerthTarget());
  } catch (error) {
    results.failures.start = `Berth did not start: ${errorText(error)}`;
    return results;
  }
  o.log(`charts: Berth at ${berth.url} (pid ${berth.pid})`);
  results.berth.rssIdleBytes = readRss(berth.pid) ?? undefined;

  const filled = await step("fill", async () => {
    // Warm-up, untimed: connections, JIT and the push path's first use, on a chart outside the set.
    for (let i = 0; i < 3; i++) await push(berth, await chartPackage(charts + 1, `0.0.${i}`));
    o.log(`charts: pushing ${packages.length} versions, ${o.pushConcurrency} at a time`);
    const times: number[] = [];
    let next = 0;
    let failed: unknown = null;
    const sampler = new RssSampler(berth.pid, 250);
    const start = performance.now();
    let reported = start;
    const worker = async () => {
      while (failed === null && next < packages.length) {
        const pkg = packages[next++]!;
        try {
          times.push(await push(berth, pkg));
        } catch (error) {
          failed ??= error;
        }
        if (performance.now() - reported > 15_000) {
          reported = performance.now();
          o.log(`charts: ${times.length}/${packages.length} pushed, ${(times.length / ((reported - start) / 1000)).toFixed(0)}/s`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.pushConcurrency }, worker));
    const seconds = (performance.now() - start) / 1000;
    const rss = summarizeRss(sampler.stop());
    if (failed !== null) throw failed;
    const fill: ChartFill = {
      pushes: times.length,
      seconds,
      perSecond: times.length / seconds,
      pushP50Ms: percentile(times, 50),
      pushP99Ms: percentile(times, 99),
      packageBytesMedian: percentile(packages.map((p) => p.body.length), 50),
      rssPeakBytes: rss.peakBytes,
    };
    results.berth.fill = fill;
    results.berth.rssAfterFillBytes = readRss(berth.pid) ?? undefined;
    o.log(`charts: filled in ${seconds.toFixed(1)} s, ${fill.perSecond.toFixed(0)} pushes/s (one push: median ${fill.pushP50Ms.toFixed(1)} ms, p99 ${fill.pushP99Ms.toFixed(1)} ms)`);
  });
  // The warm-up chart is part of the index too.
  const expected = results.options.versions + 3;

  let indexBytes: Buffer | null = null;
  let etag = "";
  if (filled) {
    await step("index", async () => {
      const cold = await getIndex(berth);
      if (cold.status !== 200) throw new Error(`GET ${indexPath}: expected 200, got ${cold.status}: ${cold.body.toString("utf8").slice(0, 300)}`);
      const listed = versionsListed(cold.body);
      if (listed !== expected) throw new Error(`index.yaml lists ${listed} versions, expected ${expected}`);
      indexBytes = cold.body;
      etag = cold.etag;
      const index: IndexGet = { status: cold.status, bytes: cold.body.length, versions: listed, coldMs: cold.ms, coldHeadersMs: cold.headersMs, steadyMs: await steadyGet(berth) };
      results.berth.index = index;
      const gzipStart = performance.now();
      const gzipped = gzipSync(cold.body);
      results.gzip = { bytes: gzipped.length, ms: performance.now() - gzipStart };
      o.log(`charts: index.yaml ${index.bytes} bytes, ${listed} versions; first GET ${cold.ms.toFixed(0)} ms, then ${index.steadyMs.toFixed(1)} ms`);
    });
  }

  if (indexBytes) {
    const bytes: Buffer = indexBytes;
    const started: { staticServer?: RunningTarget } = {};
    await step("static", async () => {
      const server = await o.start(() => startStaticIndexServer(bytes));
      started.staticServer = server;
      o.log(`charts: ${server.name} server at ${server.url} (pid ${server.pid})`);
      results.staticFile.rssIdleBytes = readRss(server.pid) ?? undefined;
      const got = await getIndex(server);
      if (got.status !== 200 || !got.body.equals(bytes)) throw new Error(`the static server answered ${got.status} with ${got.body.length} bytes, not the ${bytes.length} it holds`);
      results.staticFile.index = { status: got.status, bytes: got.body.length, versions: expected, coldMs: got.ms, coldHeadersMs: got.headersMs, steadyMs: await steadyGet(server) };
    });
    const staticServer = started.staticServer;
    // Berth first, then the reference, each with its RSS sampled while the load runs.
    const targets: [Target | undefined, "berth" | "staticFile"][] = [[berth, "berth"], [staticServer, "staticFile"]];
    for (const [target, key] of targets) {
      if (!target) continue;
      await step(`${key}IndexRate`, async () => {
        o.log(`charts: ${target.name} GET index.yaml for ${o.seconds} s at ${o.connections} connections`);
        const sampler = new RssSampler(target.pid);
        let rate;
        try {
          rate = await measureRate(target, "GET", indexPath, {}, o.connections, o.seconds);
        } finally {
          results[key].indexRss = summarizeRss(sampler.stop());
        }
        results[key].indexRate = rate;
        o.log(`charts: ${target.name} index.yaml: ${rate.perSecond.toFixed(0)} req/s (non-2xx ${rate.non2xx}, errors ${rate.errors}), RSS peak ${(results[key].indexRss.peakBytes / 1e6).toFixed(0)} MB`);
        if (rate.non2xx + rate.errors > rate.requests / 100) throw new Error(`${rate.non2xx} non-2xx answers and ${rate.errors} errors for ${rate.requests} successes`);
      });
    }
    if (staticServer) await o.stop(staticServer);

    await step("pushVisible", async () => {
      o.log(`charts: ${o.latencyReps} pushes, each timed from its 201 to the first index.yaml that lists it`);
      const runs: PushVisible[] = [];
      for (let rep = 0; rep < o.latencyReps; rep++) {
        // A new newest version of an existing chart, the everyday case: its chart's entries change.
        const pkg = await chartPackage((rep * 37) % charts, `2.0.${rep}`);
        const marker = `_blobs/${pkg.name}-${pkg.version}.tgz`;
        await new Promise((r) => setTimeout(r, 200)); // let the previous round's work settle
        const pushMs = await push(berth, pkg);
        const pushed = performance.now();
        let polls = 0;
        let headersMs: number;
        for (;;) {
          if (performance.now() - pushed > visibleDeadlineMs) throw new Error(`${marker} not in index.yaml ${visibleDeadlineMs} ms after its push (${polls} polls)`);
          polls++;
          const polled = performance.now();
          const got = await getIndex(berth, { "if-none-match": etag });
          if (got.status === 304) continue;
          if (got.status !== 200) throw new Error(`GET index.yaml: ${got.status}`);
          etag = got.etag;
          if (got.body.includes(marker)) {
            headersMs = polled - pushed + got.headersMs;
            break;
          }
        }
        const run: PushVisible = { pushMs, visibleMs: performance.now() - pushed, headersMs, polls };
        runs.push(run);
        o.log(`charts: push ${rep + 1}/${o.latencyReps}: ${run.pushMs.toFixed(1)} ms to 201, then ${run.visibleMs.toFixed(1)} ms to the index listing it (its headers after ${run.headersMs.toFixed(1)} ms; ${polls} GET${polls === 1 ? "" : "s"})`);
      }
      const visible = runs.map((r) => r.visibleMs);
      results.berth.pushVisible = { runs, medianMs: percentile(visible, 50), maxMs: Math.max(...visible) };
    });
  }
  await o.stop(berth).catch((error: unknown) => o.log(`charts: stopping Berth failed: ${errorText(error)}`));
  return results;
}

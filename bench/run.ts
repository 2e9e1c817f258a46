// `npm run bench`: Berth against CNCF distribution v3 on this machine, in one run.
// Starts both on 127.0.0.1, plus three node:http sinks that show what plain Node can do with the
// same bytes (drop them; hash them; hash, write and fsync them), then, metric by metric and target by target: monolithic and chunked pushes of a large blob, its pull, HEAD-blob and
// GET-manifest rates, and RSS while many pushes stream at once; first the machine's own limits
// (SHA-256 of one stream, disk write + fsync). Then the `charts` phase (bench/charts.ts): a
// classic chart repository of 10,000 versions in a fresh Berth, its index.yaml rate against a
// static file server holding the same bytes, push-to-index latency and RSS.
// Prints a table, or JSON with --json.
// Everything started is stopped and every temp directory removed, also on failure or Ctrl-C.
import { rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { combineCpu, cpuSnapshot, cpuUsed, type CpuUse } from "./cpu.ts";
import { BlobFactory, GiB, MiB, smallImage, type Blob } from "./blob.ts";
import { runChartBench } from "./charts.ts";
import { directWriteSpeed, diskWriteSpeed, flushDirtyPages, machine, sha256Speed, type DiskSpeed, type HashSpeed } from "./physical.ts";
import { measureRate } from "./rates.ts";
import { closeConnections, pull, pushChunked, pushMonolithic, putManifest } from "./registry-client.ts";
import { renderText, type Results, type TargetResults, type Throughput } from "./report.ts";
import { RssSampler, summarizeRss } from "./rss.ts";
import { benchCacheBytes, startBerthOnS3, startBerthPairOnS3, startDistributionOnS3, startScaleBackends } from "./scale.ts";
import { sinkNames, startBerthTarget, startDistribution, startNullServer, type RunningTarget } from "./servers.ts";

const usage = `node bench/run.ts [options]
  --quick              256 MiB blobs, 3 s rates, 1 run each, 1,000 chart versions (for development)
  --json               print the results as JSON on stdout (progress stays on stderr)
  --only LIST          targets, comma-separated: berth, distribution, ceiling (default: all)
  --phases LIST        physical, push, chunked, pull, rates, concurrent, charts (default: all), or scale:
                       push, chunked, pull and rates on an S3 gateway (versitygw) and PostgreSQL: distribution,
                       Berth, two Berth instances behind a round-robin, and both again with redirected pulls
  --read-cache         scale phase: Berth's streamed targets with the read cache on (storage.cache.dir)
  --size-mib N         blob size in MiB (default 1024; --quick 256)
  --reps N             timed runs per transfer metric, the median is reported (default 3; --quick 1)
  --seconds N          duration of each rate measurement (default 10; --quick 3)
  --connections N      connections for the rate measurements (default 64)
  --concurrent N       pushes at once for the RSS measurement (default 10)
  --chart-versions N   chart versions in the charts phase's repository, 20 per chart (default 10000; --quick 1000)
  --chart-connections N  connections for the index.yaml rate (default 16)
  --profile DIR        run Berth with --cpu-prof, profiles written to DIR when it stops
  --save FILE          also write the JSON results to FILE`;

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    only: { type: "string", default: "berth,distribution,ceiling" },
    phases: { type: "string", default: "physical,push,chunked,pull,rates,concurrent,charts" },
    "size-mib": { type: "string" },
    reps: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "64" },
    concurrent: { type: "string", default: "10" },
    "chart-versions": { type: "string" },
    "chart-connections": { type: "string", default: "16" },
    profile: { type: "string" },
    save: { type: "string" },
    "read-cache": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

function positive(name: string, text: string | undefined, fallback: number, max: number): number {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
  return value;
}

const quick = args.quick;
const blobBytes = positive("size-mib", args["size-mib"], quick ? 256 : 1024, 16 * 1024) * MiB;
const chunkBytes = 16 * MiB;
const reps = positive("reps", args.reps, quick ? 1 : 3, 20);
const rateSeconds = positive("seconds", args.seconds, quick ? 3 : 10, 120);
const connections = positive("connections", args.connections, 64, 1024);
const concurrentPushes = positive("concurrent", args.concurrent, 10, 64);
const chartVersions = positive("chart-versions", args["chart-versions"], quick ? 1000 : 10_000, 100_000);
const chartConnections = positive("chart-connections", args["chart-connections"], 16, 1024);
const only = new Set(args.only.split(",").map((s) => s.trim()));
const phases = new Set(args.phases.split(",").map((s) => s.trim()));
// The scale phase runs the blob phases on other targets (bench/scale.ts), not on the filesystem ones.
const scale = phases.delete("scale");
if (scale) for (const name of ["push", "chunked", "pull", "rates"]) phases.add(name);
for (const name of only) if (!["berth", "distribution", "ceiling"].includes(name)) throw new Error(`unknown target ${name}`);
const blobPhases = ["push", "chunked", "pull", "rates", "concurrent"];
for (const name of phases) if (!["physical", ...blobPhases, "charts"].includes(name)) throw new Error(`unknown phase ${name}`);
const bigRepo = "bench/big";
const smallRepo = "bench/small";

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---- cleanup: every started server registers here; runs once, on success, failure or signal ----
const running: RunningTarget[] = [];
/** Services the targets run on (the scale phase's S3 gateway and PostgreSQL), stopped after them. */
const services: (() => Promise<void>)[] = [];
/** Scratch directories of the benchmark itself (the disk test). */
const tempDirs: string[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    closeConnections();
    for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
    for (const target of [...running].reverse()) {
      try {
        await target.dispose();
        running.splice(running.indexOf(target), 1);
      } catch (error) {
        log(`stopping ${target.name} failed: ${String(error)}`);
      }
    }
    for (const stop of services.splice(0)) await stop().catch((error: unknown) => log(`stopping a service failed: ${String(error)}`));
  })();
  return cleaning;
}
// Last resort, when the run dies without cleanup() (an uncaught error, a closed pipe): kill what is
// still registered and remove its directory, synchronously, as the process exits.
process.once("exit", () => {
  for (const target of running) {
    try {
      process.kill(target.pid, "SIGKILL");
    } catch {
      // already gone
    }
    if (target.tempDir) rmSync(target.tempDir, { recursive: true, force: true });
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
// A reader that goes away (`| head`) must not crash the run before it cleans up.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping servers`);
    void cleanup().finally(() => process.exit(130));
  });
}
// The whole run is bounded: the full run takes minutes, never this long.
const watchdog = setTimeout(() => {
  log("the run exceeded its time bound (60 min): stopping");
  void cleanup().finally(() => process.exit(2));
}, 60 * 60 * 1000);
watchdog.unref();

// ---- measuring ----
function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n").slice(0, 3).join(" ") : String(error);
}

/** Stops a target started for the run and forgets it (cleanup() would stop it otherwise). */
async function stop(target: RunningTarget): Promise<void> {
  await target.dispose();
  const at = running.indexOf(target);
  if (at >= 0) running.splice(at, 1);
}

async function phase(results: TargetResults, name: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    results.failures[name] = errorText(error);
    log(`${results.name} ${name} failed: ${results.failures[name]}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

function throughput(bytes: number, runs: number[]): Throughput {
  return { bytes, runs, mibPerSecond: bytes / MiB / median(runs) };
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

interface Entry {
  target: RunningTarget;
  results: TargetResults;
  /** Sinks are not registries: they take pushes (and the plain one serves pulls and small GETs). */
  kind: "registry" | "sink" | "push-sink";
}

/** Runs `reps` rounds; the order of the targets alternates so neither always goes first. */
async function rounds(entries: Entry[], name: string, once: (e: Entry) => Promise<number>): Promise<Map<Entry, number[]>> {
  const seconds = new Map<Entry, number[]>(entries.map((e) => [e, []]));
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? entries : [...entries].reverse();
    for (const entry of order) {
      if (entry.results.failures[name]) continue;
      await phase(entry.results, name, async () => {
        await flushDirtyPages();
        const s = await once(entry);
        seconds.get(entry)!.push(s);
        log(`${entry.target.name} ${name} run ${rep + 1}/${reps}: ${s.toFixed(2)} s, ${(blobBytes / MiB / s).toFixed(0)} MiB/s`);
      });
    }
  }
  return seconds;
}

async function main(): Promise<Results> {
  const results: Results = {
    startedAt: new Date().toISOString(),
    options: { blobBytes, chunkBytes, reps, rateSeconds, connections, concurrentPushes },
    machine: machine(),
    load: { start: loadavg()[0]! },
    physical: {},
    targets: [],
  };

  if (phases.has("physical")) {
    log("physical limits: SHA-256 of one stream, disk write + fsync");
    // The median of a few tries: this VM's disk and fresh-memory speed vary several-fold between tries.
    const tries = 3;
    const hashTries: HashSpeed[] = [];
    const diskTries: DiskSpeed[] = [];
    const diskDir = await mkdtemp(join(tmpdir(), "berth-bench-disk-"));
    tempDirs.push(diskDir);
    const directTries: number[] = [];
    for (let i = 0; i < tries; i++) {
      hashTries.push(sha256Speed(quick ? 512 * MiB : 2 * GiB));
      const { path: _written, ...speed } = await diskWriteSpeed(diskDir, quick ? 256 * MiB : GiB, `try-${i}`);
      diskTries.push(speed);
      const direct = await directWriteSpeed(diskDir, quick ? 256 * MiB : GiB, `direct-${i}`);
      if (direct) directTries.push(direct.mibPerSecond);
      log(`try ${i + 1}/${tries}: SHA-256 ${hashTries.at(-1)!.mibPerSecond.toFixed(0)} MiB/s, disk + fsync ${speed.mibPerSecond.toFixed(0)} MiB/s, direct + fsync ${direct ? direct.mibPerSecond.toFixed(0) : "refused"} MiB/s`);
    }
    const middle = <T extends { mibPerSecond: number }>(all: T[]): T => [...all].sort((x, y) => x.mibPerSecond - y.mibPerSecond)[Math.floor((all.length - 1) / 2)]!;
    const sha256 = middle(hashTries);
    const directMedian = directTries.length ? median(directTries) : undefined;
    const disk = { ...middle(diskTries), triesMibPerSecond: diskTries.map((d) => d.mibPerSecond), directMibPerSecond: directMedian, directTriesMibPerSecond: directTries.length ? directTries : undefined };
    await rm(diskDir, { recursive: true, force: true });
    // The disk's limit is the faster of the two ways to make a file durable: what the hardware can do.
    const diskLimit = Math.max(disk.mibPerSecond, directMedian ?? 0);
    results.physical = { sha256, disk, limitMibPerSecond: Math.min(sha256.mibPerSecond, diskLimit) };
  }

  const entries: Entry[] = [];
  /** Starts a target; one that does not start is reported as failed and the others still run. */
  const add = async (name: string, kind: Entry["kind"], start: () => Promise<RunningTarget>) => {
    let target: RunningTarget;
    try {
      target = await start();
    } catch (error) {
      results.targets.push({ name, failures: { start: errorText(error) } });
      log(`${name} did not start: ${errorText(error)}`);
      return;
    }
    running.push(target);
    const entry: Entry = { target, kind, results: { name: target.name, failures: {} } };
    entries.push(entry);
    results.targets.push(entry.results);
    log(`${target.name} at ${target.url} (pid ${target.pid})`);
  };
  // The blob phases' servers; the charts phase starts its own.
  const blobRun = blobPhases.some((name) => phases.has(name));
  if (scale) {
    const backends = await startScaleBackends();
    services.push(backends.stop);
    if (only.has("distribution")) await add("distribution S3", "registry", () => startDistributionOnS3(backends, false));
    // With --read-cache, Berth's streamed targets with the read cache on (bench/scale.ts): a
    // rollout's pulls after the first read local disk. Off by default, as in Berth.
    const cacheBytes = args["read-cache"] ? benchCacheBytes(blobBytes) : undefined;
    if (only.has("berth") && cacheBytes !== undefined) log(`Berth's streamed targets run with the read cache on (storage.cache.maxBytes ${cacheBytes / MiB} MiB, a temporary directory each): their first pull after a push reads the store, the later ones the cache`);
    if (only.has("berth")) await add(cacheBytes === undefined ? "Berth S3+PG" : "Berth S3+PG, read cache", "registry", () => startBerthOnS3(backends, false, cacheBytes));
    if (only.has("berth")) await add(cacheBytes === undefined ? "Berth ×2 S3+PG" : "Berth ×2 S3+PG, read cache", "registry", () => startBerthPairOnS3(backends, cacheBytes));
    if (only.has("distribution")) await add("distribution S3, redirect", "registry", () => startDistributionOnS3(backends, true));
    if (only.has("berth")) await add("Berth S3+PG, redirect", "registry", () => startBerthOnS3(backends, true));
  }
  if (blobRun && !scale && only.has("ceiling")) {
    for (const mode of ["drop", "hash", "disk"] as const) {
      await add(sinkNames[mode], mode === "drop" ? "sink" : "push-sink", () => startNullServer(blobBytes, mode));
    }
  }
  if (blobRun && !scale && only.has("distribution")) await add("distribution", "registry", startDistribution);
  if (blobRun && !scale && only.has("berth")) {
    const nodeOptions = args.profile ? `--cpu-prof --cpu-prof-dir=${resolve(args.profile)}` : undefined;
    await add("Berth", "registry", () => startBerthTarget(nodeOptions));
  }
  const registries = entries.filter((e) => e.kind === "registry");
  const servers = entries.filter((e) => e.kind !== "push-sink");

  // Untimed warm-up: connections, JIT, first-use paths.
  const warm = new BlobFactory(Math.min(blobBytes, 64 * MiB));
  for (const e of entries) {
    await phase(e.results, "warmup", async () => {
      const blob = warm.next();
      await pushMonolithic(e.target, bigRepo, blob);
      await pull(e.target, bigRepo, blob.digest);
    });
  }

  const blobs = new BlobFactory(blobBytes);
  const pullable = new Map<Entry, Blob>();
  if (phases.has("push") || phases.has("pull")) {
    log(`monolithic push of ${blobBytes / MiB} MiB`);
    const tails = new Map<Entry, number[]>();
    const cpu = new Map<Entry, { use: CpuUse; bytes: number }[]>();
    const seconds = await rounds(entries, "pushMonolithic", async (e) => {
      const blob = blobs.next();
      let tail = 0;
      const before = cpuSnapshot(e.target.pid);
      const s = await timed(async () => {
        tail = await pushMonolithic(e.target, bigRepo, blob);
      });
      cpu.set(e, [...(cpu.get(e) ?? []), { use: cpuUsed(before, cpuSnapshot(e.target.pid), blob.size), bytes: blob.size }]);
      tails.set(e, [...(tails.get(e) ?? []), tail]);
      pullable.set(e, blob);
      return s;
    });
    for (const [e, runs] of seconds) {
      if (runs.length) e.results.pushMonolithic = { ...throughput(blobBytes, runs), commitSeconds: median(tails.get(e) ?? []), cpu: combineCpu(cpu.get(e) ?? []) };
    }
  }
  if (phases.has("chunked")) {
    log(`chunked push of ${blobBytes / MiB} MiB in ${chunkBytes / MiB} MiB PATCHes`);
    const seconds = await rounds(entries, "pushChunked", (e) => {
      const blob = blobs.next();
      return timed(() => pushChunked(e.target, bigRepo, blob, chunkBytes));
    });
    for (const [e, runs] of seconds) if (runs.length) e.results.pushChunked = throughput(blobBytes, runs);
  }
  if (phases.has("pull")) {
    log(`pull of ${blobBytes / MiB} MiB`);
    const seconds = await rounds(servers.filter((e) => pullable.has(e)), "pull", async (e) => {
      let bytes = 0;
      const s = await timed(async () => {
        bytes = await pull(e.target, bigRepo, pullable.get(e)!.digest);
      });
      if (bytes !== blobBytes) throw new Error(`pulled ${bytes} bytes, expected ${blobBytes}`);
      return s;
    });
    for (const [e, runs] of seconds) if (runs.length) e.results.pull = throughput(blobBytes, runs);
  }

  if (phases.has("rates")) {
    const image = smallImage();
    const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
    for (const e of servers) {
      await phase(e.results, "headBlob", async () => {
        if (e.kind === "registry") {
          await pushMonolithic(e.target, smallRepo, image.layer);
          await pushMonolithic(e.target, smallRepo, image.config);
          await putManifest(e.target, smallRepo, "v1", "application/vnd.oci.image.manifest.v1+json", image.manifest);
        }
        log(`${e.target.name} HEAD blob for ${rateSeconds} s at ${connections} connections`);
        e.results.headBlob = await measureRate(e.target, "HEAD", `/v2/${smallRepo}/blobs/${image.layer.digest}`, {}, connections, rateSeconds);
        log(`${e.target.name} HEAD blob: ${e.results.headBlob.perSecond.toFixed(0)} req/s (non-2xx ${e.results.headBlob.non2xx}, errors ${e.results.headBlob.errors})`);
      });
    }
    for (const e of servers) {
      if (e.results.failures.headBlob && e.kind === "registry") {
        e.results.failures.getManifest = "the small image could not be pushed";
        continue;
      }
      await phase(e.results, "getManifest", async () => {
        log(`${e.target.name} GET manifest for ${rateSeconds} s at ${connections} connections`);
        e.results.getManifest = await measureRate(e.target, "GET", `/v2/${smallRepo}/manifests/v1`, accept, connections, rateSeconds);
        log(`${e.target.name} GET manifest: ${e.results.getManifest.perSecond.toFixed(0)} req/s (non-2xx ${e.results.getManifest.non2xx}, errors ${e.results.getManifest.errors})`);
      });
    }
    for (const e of servers) {
      for (const name of ["headBlob", "getManifest"] as const) {
        const rate = e.results[name];
        if (rate && rate.non2xx + rate.errors > rate.requests / 100) {
          e.results.failures[name] = `${rate.non2xx} non-2xx answers and ${rate.errors} errors for ${rate.requests} successes`;
        }
      }
    }
  }

  if (phases.has("concurrent")) {
    for (const e of registries) {
      await phase(e.results, "concurrentPush", async () => {
        await flushDirtyPages();
        log(`${e.target.name}: ${concurrentPushes} pushes of ${blobBytes / MiB} MiB at once, sampling RSS every 100 ms`);
        const batch = Array.from({ length: concurrentPushes }, () => blobs.next());
        const sampler = new RssSampler(e.target.pid);
        const start = performance.now();
        // allSettled never rejects, so the sampler always stops here.
        const outcomes = await Promise.allSettled(batch.map((blob) => pushMonolithic(e.target, bigRepo, blob)));
        const seconds = (performance.now() - start) / 1000;
        const samples = sampler.stop();
        const failed = outcomes.filter((o) => o.status === "rejected");
        if (failed.length) throw new Error(`${failed.length} of ${concurrentPushes} pushes failed: ${errorText(failed[0]!.reason)}`);
        const rss = summarizeRss(samples);
        e.results.concurrentPush = {
          pushes: concurrentPushes,
          bytesEach: blobBytes,
          seconds,
          mibPerSecond: (concurrentPushes * blobBytes) / MiB / seconds,
          rss,
        };
        log(`${e.target.name}: ${seconds.toFixed(1)} s, RSS peak ${(rss.peakBytes / 1e6).toFixed(0)} MB, ${rss.trend}`);
      });
    }
  }
  // Done with the blob servers: stop them (and free their data) before the charts phase.
  for (const e of entries) {
    try {
      await stop(e.target);
    } catch (error) {
      log(`stopping ${e.target.name} failed: ${errorText(error)}`);
    }
  }

  if (phases.has("charts")) {
    if (!only.has("berth")) {
      log("charts phase skipped: it measures Berth (--only has no berth)");
    } else {
      log(`charts: a classic repository of ${chartVersions} versions`);
      results.charts = await runChartBench({
        versions: chartVersions,
        perChart: 20,
        pushConcurrency: 8,
        connections: chartConnections,
        seconds: rateSeconds,
        latencyReps: quick ? 5 : 15,
        start: async (start) => {
          const target = await start();
          running.push(target);
          return target;
        },
        stop,
        log,
      });
    }
  }
  results.load.end = loadavg()[0]!;
  return results;
}

let exitCode = 0;
try {
  const results = await main();
  await cleanup();
  if (args.save) await writeFile(args.save, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(args.json ? `${JSON.stringify(results, null, 2)}\n` : `${renderText(results)}\n`);
} catch (error) {
  exitCode = 1;
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
process.exit(exitCode);

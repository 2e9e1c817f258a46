// Turns the results into the printed report: one table Berth | distribution | ratio, the
// machine's physical limits, and each of the issue's targets read against the numbers; then, for
// the charts phase, a table Berth | static file | ratio | ChartMuseum and the Helm targets.
// Throughput is MiB/s (2^20 bytes); memory is MB (10^6 bytes), as the targets are written.
import { MiB } from "./blob.ts";
import { cpuBoundMibPerSecond, type CpuUse } from "./cpu.ts";
import type { DiskSpeed, HashSpeed, Machine } from "./physical.ts";
import type { Rate } from "./rates.ts";
import type { RssSummary } from "./rss.ts";

export interface Throughput {
  bytes: number;
  /** Seconds per run, in run order. */
  runs: number[];
  /** From the median run. */
  mibPerSecond: number;
  /** Monolithic pushes: the median wait for the answer after the last byte was sent. */
  commitSeconds?: number;
  /** Monolithic pushes: CPU time per GiB, server and client, over all runs. */
  cpu?: CpuUse;
}

export interface ConcurrentPush {
  pushes: number;
  bytesEach: number;
  seconds: number;
  /** All pushes' bytes over the wall time. */
  mibPerSecond: number;
  rss: RssSummary;
}

export interface TargetResults {
  name: string;
  pushMonolithic?: Throughput;
  pushChunked?: Throughput;
  pull?: Throughput;
  headBlob?: Rate;
  getManifest?: Rate;
  concurrentPush?: ConcurrentPush;
  /** Phase name → why it failed; the other phases still ran. */
  failures: Record<string, string>;
}

/** The chart phase's fill: every version pushed through `PUT _blobs/<file>.tgz`, some at once. */
export interface ChartFill {
  pushes: number;
  seconds: number;
  perSecond: number;
  pushP50Ms: number;
  pushP99Ms: number;
  packageBytesMedian: number;
  rssPeakBytes: number;
}

/** index.yaml as one client sees it: the first GET (for Berth, after the fill: a full render) and then. */
export interface IndexGet {
  status: number;
  bytes: number;
  versions: number;
  coldMs: number;
  coldHeadersMs: number;
  /** The median of a few GETs of an unchanged index, one at a time. */
  steadyMs: number;
}

/** One push timed from its 201 to the first index.yaml that lists it. */
export interface PushVisible {
  pushMs: number;
  /** From the 201 to the last byte of the first index.yaml listing the new version. */
  visibleMs: number;
  /** From the 201 to that response's headers. */
  headersMs: number;
  /** GETs needed (1: the first GET after the 201 listed it). */
  polls: number;
}

export interface ChartServerResults {
  rssIdleBytes?: number;
  fill?: ChartFill;
  rssAfterFillBytes?: number;
  index?: IndexGet;
  indexRate?: Rate;
  indexRss?: RssSummary;
  pushVisible?: { runs: PushVisible[]; medianMs: number; maxMs: number };
}

export interface ChartResults {
  options: { versions: number; charts: number; perChart: number; pushConcurrency: number; connections: number; seconds: number; latencyReps: number };
  /** Why ChartMuseum has no numbers. */
  chartmuseum: string;
  berth: ChartServerResults;
  /** A node:http server holding the same index.yaml bytes in memory. */
  staticFile: ChartServerResults;
  /** index.yaml gzipped once (zlib level 6) in the bench process: what serving it compressed would cost. */
  gzip?: { bytes: number; ms: number };
  failures: Record<string, string>;
}

export interface Results {
  startedAt: string;
  options: { blobBytes: number; chunkBytes: number; reps: number; rateSeconds: number; connections: number; concurrentPushes: number };
  machine: Machine;
  /** 1-minute load average at the start and the end: other work on the machine skews everything. */
  load: { start: number; end?: number };
  physical: { sha256?: HashSpeed; disk?: DiskSpeed; limitMibPerSecond?: number };
  targets: TargetResults[];
  charts?: ChartResults;
}

const MB = 1e6;

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * MiB ? `${bytes / (1024 * MiB)} GiB` : `${bytes / MiB} MiB`;
}

function num(value: number | undefined, digits = 0): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
}

interface Row {
  metric: string;
  pick: (t: TargetResults) => number | undefined;
  unit: string;
  digits?: number;
  phase: string;
  /** Whether Berth/distribution means something here (not for a slope around zero). */
  noRatio?: boolean;
}

function rows(r: Results): Row[] {
  const size = sizeLabel(r.options.blobBytes);
  return [
    { metric: `push ${size} monolithic`, unit: "MiB/s", phase: "pushMonolithic", pick: (t) => t.pushMonolithic?.mibPerSecond },
    { metric: `monolithic push: answer after the last byte, lower is better`, unit: "ms", phase: "pushMonolithic", pick: (t) => ms(t.pushMonolithic?.commitSeconds) },
    { metric: `monolithic push: server CPU per GiB, lower is better`, unit: "CPU-s", digits: 2, phase: "pushMonolithic", pick: (t) => t.pushMonolithic?.cpu?.serverSecondsPerGiB },
    { metric: `monolithic push: the bench client's CPU per GiB`, unit: "CPU-s", digits: 2, noRatio: true, phase: "pushMonolithic", pick: (t) => t.pushMonolithic?.cpu?.clientSecondsPerGiB },
    { metric: `monolithic push: bound by CPU, ${r.machine.cpus} cores / (server + client) per GiB`, unit: "MiB/s", phase: "pushMonolithic", pick: (t) => (t.pushMonolithic?.cpu ? cpuBoundMibPerSecond(t.pushMonolithic.cpu, r.machine.cpus) : undefined) },
    { metric: `push ${size} chunked (${sizeLabel(r.options.chunkBytes)} PATCHes)`, unit: "MiB/s", phase: "pushChunked", pick: (t) => t.pushChunked?.mibPerSecond },
    { metric: `pull ${size}`, unit: "MiB/s", phase: "pull", pick: (t) => t.pull?.mibPerSecond },
    // Berth pushes bypass the page cache, so its first pull of a blob reads the disk; later pulls,
    // and every pull from distribution (which wrote through the page cache), come from memory.
    { metric: `pull ${size}, the first after its push`, unit: "MiB/s", phase: "pull", pick: (t) => firstRun(t.pull) },
    { metric: `HEAD blob, ${r.options.connections} connections`, unit: "req/s", phase: "headBlob", pick: (t) => t.headBlob?.perSecond },
    { metric: `GET manifest, ${r.options.connections} connections`, unit: "req/s", phase: "getManifest", pick: (t) => t.getManifest?.perSecond },
    { metric: `HEAD blob p99 latency, lower is better`, unit: "ms", phase: "headBlob", pick: (t) => t.headBlob?.latencyP99Ms },
    { metric: `GET manifest p99 latency, lower is better`, unit: "ms", phase: "getManifest", pick: (t) => t.getManifest?.latencyP99Ms },
    { metric: `${r.options.concurrentPushes} concurrent pushes of ${size}, total`, unit: "MiB/s", phase: "concurrentPush", pick: (t) => t.concurrentPush?.mibPerSecond },
    { metric: `RSS just before the ${r.options.concurrentPushes} pushes`, unit: "MB", phase: "concurrentPush", pick: (t) => mb(t.concurrentPush?.rss.startBytes) },
    { metric: `RSS peak during the ${r.options.concurrentPushes} pushes, lower is better`, unit: "MB", phase: "concurrentPush", pick: (t) => mb(t.concurrentPush?.rss.peakBytes) },
    { metric: `RSS slope during the ${r.options.concurrentPushes} pushes`, unit: "MiB/s", digits: 2, noRatio: true, phase: "concurrentPush", pick: (t) => t.concurrentPush?.rss.slopeMibPerSecond },
  ];
}

function firstRun(t: Throughput | undefined): number | undefined {
  const seconds = t?.runs[0];
  return seconds === undefined ? undefined : t!.bytes / MiB / seconds;
}

function ms(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}

function mb(bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : bytes / MB;
}

function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

function find(r: Results, name: string): TargetResults | undefined {
  return r.targets.find((t) => t.name === name);
}

export function renderText(r: Results): string {
  const out: string[] = [];
  // The load at the end includes the benchmark itself; only the start says whether others were busy.
  if (r.load.start > 0.5 * r.machine.cpus) {
    out.push(`WARNING: load average ${r.load.start.toFixed(1)} at the start (${r.load.end?.toFixed(1) ?? "?"} at the end, the benchmark included)` +
      ` on ${r.machine.cpus} CPUs: other work shared the machine, so every number below is low and noisy.`, "");
  }
  const blobs = r.targets.length > 0 || r.physical.sha256 !== undefined || r.physical.disk !== undefined;
  if (blobs) out.push(...renderBlobs(r));
  if (r.charts) out.push(...(blobs ? ["", ""] : []), ...renderCharts(r.charts));
  return out.join("\n");
}

/** The blob phases: the Berth | distribution | sinks table, the physical limit, the targets. */
function renderBlobs(r: Results): string[] {
  const berth = find(r, "Berth");
  const dist = find(r, "distribution");
  const sinks = r.targets.filter((t) => t.name !== "Berth" && t.name !== "distribution");
  const out: string[] = [];
  const cell = (t: TargetResults | undefined, row: Row) => {
    if (!t) return "–";
    if (t.failures[row.phase] || t.failures.start) return "failed";
    return num(row.pick(t), row.digits ?? (row.unit === "ms" ? 1 : 0));
  };
  const body = rows(r).map((row) => [
    `${row.metric} (${row.unit})`,
    cell(berth, row),
    cell(dist, row),
    row.noRatio ? "" : ratio(berth && !berth.failures[row.phase] ? row.pick(berth) : undefined, dist ? row.pick(dist) : undefined),
    ...sinks.map((t) => cell(t, row)),
  ]);
  body.push(["RSS trend during the pushes", berth?.concurrentPush?.rss.trend ?? "–", dist?.concurrentPush?.rss.trend ?? "–", "", ...sinks.map(() => "")]);
  out.push(markdownTable(["metric", "Berth", "distribution", "Berth/distribution", ...sinks.map((t) => t.name)], body));

  const p = r.physical;
  out.push("", "Physical limit (one stream, this machine):");
  if (p.sha256) out.push(`  SHA-256 in Node, one thread, ${sizeLabel(p.sha256.bytes)} of 1 MiB buffers: ${num(p.sha256.mibPerSecond)} MiB/s`);
  if (p.disk) {
    out.push(`  disk write ${sizeLabel(p.disk.bytes)} + fsync (${p.disk.filesystemType}, ${r.machine.disk}): ${num(p.disk.mibPerSecond)} MiB/s` +
      ` (page cache only, before fsync: ${num(p.disk.bufferedMibPerSecond)} MiB/s)` +
      (p.disk.triesMibPerSecond ? `; median of tries ${p.disk.triesMibPerSecond.map((v) => num(v)).join(", ")} MiB/s` : ""));
    out.push(p.disk.directMibPerSecond === undefined
      ? "  disk write with O_DIRECT: refused by this filesystem"
      : `  disk write ${sizeLabel(p.disk.bytes)} with O_DIRECT + fsync: ${num(p.disk.directMibPerSecond)} MiB/s; median of tries ${(p.disk.directTriesMibPerSecond ?? []).map((v) => num(v)).join(", ")} MiB/s`);
  }
  if (p.limitMibPerSecond) {
    out.push(`  limit = min(SHA-256, the faster durable disk write): ${num(p.limitMibPerSecond)} MiB/s`);
    for (const t of [berth, dist]) {
      if (!t) continue;
      const parts = [
        t.pushMonolithic && `monolithic ${num((100 * t.pushMonolithic.mibPerSecond) / p.limitMibPerSecond)} %`,
        t.pushChunked && `chunked ${num((100 * t.pushChunked.mibPerSecond) / p.limitMibPerSecond)} %`,
      ].filter(Boolean);
      if (parts.length) out.push(`  ${t.name} push as % of the limit: ${parts.join(", ")}`);
    }
  }

  const cpu = berth?.pushMonolithic?.cpu;
  const drop = r.targets.find((t) => t.name === "node sink: drop")?.pushMonolithic?.cpu;
  if (cpu || drop) out.push("", `CPU per GiB of the monolithic pushes (${r.machine.cpus} cores for the server and the client):`);
  if (cpu) {
    const threads = Object.entries(cpu.threadSecondsPerGiB).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]);
    const bound = cpuBoundMibPerSecond(cpu, r.machine.cpus);
    out.push(`  Berth ${num(cpu.serverSecondsPerGiB, 2)} s: ${threads.map(([name, v]) => `${name} ${num(v, 2)}`).join(", ")}; the bench client ${num(cpu.clientSecondsPerGiB, 2)} s`,
      `  with every core busy a push into Berth could reach ${num(bound)} MiB/s` + (p.limitMibPerSecond ? ` (${num((100 * bound) / p.limitMibPerSecond)} % of the physical limit)` : ""));
  }
  // The floor under any Node registry: node:http receiving the bytes (the drop sink, nothing else)
  // plus SHA-256 at the physical speed, plus the same client. No registry code can go below it.
  if (drop && p.sha256) {
    const floor: CpuUse = { ...drop, serverSecondsPerGiB: drop.serverSecondsPerGiB + 1024 / p.sha256.mibPerSecond };
    const bound = cpuBoundMibPerSecond(floor, r.machine.cpus);
    out.push(`  a Node server doing only node:http's receive (the drop sink: ${num(drop.serverSecondsPerGiB, 2)} s) and SHA-256 (${num(1024 / p.sha256.mibPerSecond, 2)} s),` +
      ` with the same client (${num(drop.clientSecondsPerGiB, 2)} s), could reach ${num(bound)} MiB/s` +
      (p.limitMibPerSecond ? ` (${num((100 * bound) / p.limitMibPerSecond)} % of the physical limit)` : ""));
  }

  out.push("", "Targets (from the issue; reported, not asserted):");
  for (const line of readTargets(r)) out.push(`  ${line}`);

  const failures = r.targets.flatMap((t) => Object.entries(t.failures).map(([phase, why]) => `  ${t.name} ${phase}: ${why}`));
  if (failures.length) out.push("", "Failures:", ...failures);
  return out;
}

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? "not measured" : ok ? "met" : "NOT met";
}

export function readTargets(r: Results): string[] {
  const berth = find(r, "Berth");
  const dist = find(r, "distribution");
  const lines: string[] = [];
  const cmp = (a: number | undefined, b: number | undefined, factor: number) =>
    a === undefined || b === undefined ? undefined : a >= factor * b;
  const bm = berth?.pushMonolithic?.mibPerSecond;
  const bc = berth?.pushChunked?.mibPerSecond;
  const dm = dist?.pushMonolithic?.mibPerSecond;
  const dc = dist?.pushChunked?.mibPerSecond;
  lines.push(`push >= 2x distribution: monolithic ${ratio(bm, dm)} ${verdict(cmp(bm, dm, 2))}; chunked ${ratio(bc, dc)} ${verdict(cmp(bc, dc, 2))}`);
  const limit = r.physical.limitMibPerSecond;
  const pct = (v: number | undefined) => (v === undefined || !limit ? "–" : `${num((100 * v) / limit)} %`);
  lines.push(`push >= 80 % of the physical limit: monolithic ${pct(bm)} ${verdict(limit ? cmp(bm, limit, 0.8) : undefined)};` +
    ` chunked ${pct(bc)} ${verdict(limit ? cmp(bc, limit, 0.8) : undefined)}`);
  const bp = berth?.pull?.mibPerSecond;
  const dp = dist?.pull?.mibPerSecond;
  const bf = firstRun(berth?.pull);
  const df = firstRun(dist?.pull);
  lines.push(`pull >= 1x distribution: ${ratio(bp, dp)} ${verdict(cmp(bp, dp, 1))} (median of the runs; the first pull after the push: ${ratio(bf, df)} ${verdict(cmp(bf, df, 1))})`);
  const bh = berth?.headBlob?.perSecond;
  const dh = dist?.headBlob?.perSecond;
  const bg = berth?.getManifest?.perSecond;
  const dg = dist?.getManifest?.perSecond;
  lines.push(`small ops >= 1x distribution: HEAD blob ${ratio(bh, dh)} ${verdict(cmp(bh, dh, 1))}; GET manifest ${ratio(bg, dg)} ${verdict(cmp(bg, dg, 1))}`);
  const rss = berth?.concurrentPush?.rss;
  lines.push(`RSS < 200 MB during ${r.options.concurrentPushes} pushes: peak ${num(mb(rss?.peakBytes))} MB ${verdict(rss ? rss.peakBytes < 200 * MB : undefined)};` +
    ` flat: ${rss ? `${rss.trend} (first third ${num(mb(rss.firstThirdBytes))} MB, last third ${num(mb(rss.lastThirdBytes))} MB)` : "not measured"}` +
    ` ${verdict(rss ? rss.trend !== "growing" : undefined)}`);
  return lines;
}

// ---- the charts phase ----

interface ChartRow {
  metric: string;
  unit: string;
  digits?: number;
  /** The failure names that make this row's cells "failed". */
  steps: string[];
  pick: (t: ChartServerResults) => number | undefined;
  /** Whether the static file gets a number in this row (it takes no pushes). */
  reference?: boolean;
}

function chartRows(c: ChartResults): ChartRow[] {
  const o = c.options;
  const reps = c.berth.pushVisible?.runs.length ?? o.latencyReps;
  const rate = ["berthIndexRate", "staticFileIndexRate"];
  return [
    { metric: `fill: ${o.versions} versions (${o.charts} charts × ${o.perChart}) by PUT _blobs, ${o.pushConcurrency} at once`, unit: "pushes/s", steps: ["fill"], pick: (t) => t.fill?.perSecond },
    { metric: "fill: one push, median", unit: "ms", steps: ["fill"], pick: (t) => t.fill?.pushP50Ms },
    { metric: "fill: one push, p99", unit: "ms", steps: ["fill"], pick: (t) => t.fill?.pushP99Ms },
    { metric: "index.yaml size", unit: "KB", steps: ["index"], reference: true, pick: (t) => (t.index ? t.index.bytes / 1000 : undefined) },
    { metric: "first GET of index.yaml after the fill (Berth: full render), one client", unit: "ms", steps: ["index"], reference: true, pick: (t) => t.index?.coldMs },
    { metric: "GET of the unchanged index.yaml, one client, median of 5", unit: "ms", steps: ["index"], reference: true, pick: (t) => t.index?.steadyMs },
    { metric: `GET index.yaml, ${o.connections} connections, ${o.seconds} s`, unit: "req/s", steps: rate, reference: true, pick: (t) => t.indexRate?.perSecond },
    { metric: `GET index.yaml, ${o.connections} connections: body bytes`, unit: "MiB/s", steps: rate, reference: true, pick: (t) => (t.indexRate && t.index ? (t.indexRate.perSecond * t.index.bytes) / MiB : undefined) },
    { metric: `GET index.yaml p50 latency, lower is better`, unit: "ms", steps: rate, reference: true, pick: (t) => t.indexRate?.latencyP50Ms },
    { metric: `GET index.yaml p99 latency, lower is better`, unit: "ms", steps: rate, reference: true, pick: (t) => t.indexRate?.latencyP99Ms },
    { metric: `push → index.yaml lists it (201 → last byte), median of ${reps}`, unit: "ms", steps: ["pushVisible"], pick: (t) => t.pushVisible?.medianMs },
    { metric: `push → index.yaml lists it (201 → last byte), max of ${reps}`, unit: "ms", steps: ["pushVisible"], pick: (t) => t.pushVisible?.maxMs },
    { metric: `push → headers of that index.yaml, median of ${reps}`, unit: "ms", steps: ["pushVisible"], pick: (t) => percentileOf(t.pushVisible?.runs.map((v) => v.headersMs), 50) },
    { metric: `those ${reps} pushes alone, one at a time: PUT → 201, median`, unit: "ms", steps: ["pushVisible"], pick: (t) => percentileOf(t.pushVisible?.runs.map((v) => v.pushMs), 50) },
    { metric: `those ${reps} pushes alone, one at a time: PUT → 201, max`, unit: "ms", steps: ["pushVisible"], pick: (t) => t.pushVisible && Math.max(...t.pushVisible.runs.map((v) => v.pushMs)) },
    { metric: "RSS idle, before the fill", unit: "MB", steps: [], reference: true, pick: (t) => mb(t.rssIdleBytes) },
    { metric: "RSS peak during the fill", unit: "MB", steps: ["fill"], pick: (t) => mb(t.fill?.rssPeakBytes) },
    { metric: "RSS after the fill", unit: "MB", steps: ["fill"], pick: (t) => mb(t.rssAfterFillBytes) },
    { metric: `RSS peak serving index.yaml at ${o.connections} connections, lower is better`, unit: "MB", steps: rate, reference: true, pick: (t) => mb(t.indexRss?.peakBytes) },
  ];
}

function percentileOf(values: number[] | undefined, p: number): number | undefined {
  if (!values || values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function renderCharts(c: ChartResults): string[] {
  const out: string[] = [];
  const cmShort = c.chartmuseum.split(":")[0]!;
  const cell = (t: ChartServerResults, row: ChartRow, steps: string[]) => {
    if (steps.some((s) => c.failures[s])) return "failed";
    return num(row.pick(t), row.digits ?? (row.unit === "ms" ? 1 : 0));
  };
  const body = chartRows(c).map((row) => {
    const berthSteps = row.steps.filter((s) => !s.startsWith("staticFile"));
    const staticSteps = row.steps.filter((s) => !s.startsWith("berth")).concat(row.reference && row.steps.length ? ["static"] : []);
    const b = cell(c.berth, row, berthSteps);
    const s = row.reference ? cell(c.staticFile, row, staticSteps) : "–";
    const bothMeasured = row.reference && b !== "failed" && s !== "failed";
    return [
      `${row.metric} (${row.unit})`,
      b,
      s,
      bothMeasured ? ratio(row.pick(c.berth), row.pick(c.staticFile)) : "",
      cmShort,
    ];
  });
  out.push(markdownTable(["metric", "Berth", "static file (node:http, same bytes)", "Berth/static file", "ChartMuseum"], body));

  const o = c.options;
  out.push("", "Notes:");
  out.push(`  ChartMuseum: ${c.chartmuseum}.`);
  out.push(`  The static file is a plain node:http server holding Berth's index.yaml (after the fill) in memory: no auth, no routing; the ceiling for serving that document with this client.`);
  if (c.berth.fill) out.push(`  Packages: ${o.versions} generated charts (Chart.yaml with description, keywords, maintainers, home, sources; values.yaml, two templates), median ${num(c.berth.fill.packageBytesMedian)} bytes each.`);
  if (c.berth.index) {
    out.push(`  index.yaml: ${c.berth.index.versions} versions (the fill plus 3 warm-up pushes), ${num(c.berth.index.bytes / 1000)} KB, answered 200; the first GET after the fill had its headers after ${num(c.berth.index.coldHeadersMs, 1)} ms.`);
  }
  if (c.gzip && c.berth.index) {
    out.push(`  gzip of that index.yaml (zlib level 6, once, in the bench process): ${num(c.gzip.bytes / 1000)} KB (${num((100 * c.gzip.bytes) / c.berth.index.bytes, 1)} %), ${num(c.gzip.ms, 1)} ms. Berth serves it uncompressed, as helm wants it (helm's transport sets DisableCompression): only other clients would gain.`);
  }
  const runs = c.berth.pushVisible?.runs;
  if (runs?.length) {
    out.push(`  push → visible, each run (ms, 201 → last byte of the first index.yaml listing it; GETs needed): ${runs.map((v) => `${num(v.visibleMs, 1)} (${v.polls})`).join(", ")}.`);
    out.push(`  those pushes, PUT → 201 (ms): ${runs.map((v) => num(v.pushMs, 0)).join(", ")}.`);
  }

  out.push("", "Targets (from the issue; reported, not asserted):");
  const br = c.berth.indexRate?.perSecond;
  const sr = c.staticFile.indexRate?.perSecond;
  out.push(`  index.yaml rate >= 10x ChartMuseum's: not measurable (ChartMuseum ${cmShort}). Berth ${num(br)} req/s at ${o.connections} connections, ` +
    `${br !== undefined && sr ? `${num((100 * br) / sr)} % of the static file's ${num(sr)} req/s` : "no static-file rate to compare"}.`);
  const pv = c.berth.pushVisible;
  out.push(`  index current within 100 ms of a push: ${pv ? `median ${num(pv.medianMs, 1)} ms, max ${num(pv.maxMs, 1)} ms (every push of ${pv.runs.length}): ${verdict(pv.maxMs <= 100)}` +
    (pv.medianMs <= 100 && pv.maxMs > 100 ? " (the median is within it)" : "") : "not measured"}.`);
  const rss = c.berth.indexRss?.peakBytes;
  out.push(`  RSS below ChartMuseum's: not measurable (ChartMuseum ${cmShort}). Berth ${num(mb(c.berth.rssAfterFillBytes))} MB after the fill, peak ${num(mb(rss))} MB serving the index` +
    `${c.staticFile.indexRss ? ` (the static file: ${num(mb(c.staticFile.indexRss.peakBytes))} MB)` : ""}.`);

  const failures = Object.entries(c.failures).map(([step, why]) => `  charts ${step}: ${why}`);
  if (failures.length) out.push("", "Failures:", ...failures);
  return out;
}

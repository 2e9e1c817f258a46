// Turns the results into the printed report: one table Berth | distribution | ratio, the
// machine's physical limits, and each of the issue's targets read against the numbers.
// Throughput is MiB/s (2^20 bytes); memory is MB (10^6 bytes), as the targets are written.
import { MiB } from "./blob.ts";
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

export interface Results {
  startedAt: string;
  options: { blobBytes: number; chunkBytes: number; reps: number; rateSeconds: number; connections: number; concurrentPushes: number };
  machine: Machine;
  /** 1-minute load average at the start and the end: other work on the machine skews everything. */
  load: { start: number; end?: number };
  physical: { sha256?: HashSpeed; disk?: DiskSpeed; limitMibPerSecond?: number };
  targets: TargetResults[];
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
    { metric: `push ${size} chunked (${sizeLabel(r.options.chunkBytes)} PATCHes)`, unit: "MiB/s", phase: "pushChunked", pick: (t) => t.pushChunked?.mibPerSecond },
    { metric: `pull ${size}`, unit: "MiB/s", phase: "pull", pick: (t) => t.pull?.mibPerSecond },
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
  const berth = find(r, "Berth");
  const dist = find(r, "distribution");
  const sinks = r.targets.filter((t) => t.name !== "Berth" && t.name !== "distribution");
  const out: string[] = [];
  // The load at the end includes the benchmark itself; only the start says whether others were busy.
  if (r.load.start > 0.5 * r.machine.cpus) {
    out.push(`WARNING: load average ${r.load.start.toFixed(1)} at the start (${r.load.end?.toFixed(1) ?? "?"} at the end, the benchmark included)` +
      ` on ${r.machine.cpus} CPUs: other work shared the machine, so every number below is low and noisy.`, "");
  }
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
  }
  if (p.limitMibPerSecond) {
    out.push(`  limit = min(SHA-256, disk): ${num(p.limitMibPerSecond)} MiB/s`);
    for (const t of [berth, dist]) {
      if (!t) continue;
      const parts = [
        t.pushMonolithic && `monolithic ${num((100 * t.pushMonolithic.mibPerSecond) / p.limitMibPerSecond)} %`,
        t.pushChunked && `chunked ${num((100 * t.pushChunked.mibPerSecond) / p.limitMibPerSecond)} %`,
      ].filter(Boolean);
      if (parts.length) out.push(`  ${t.name} push as % of the limit: ${parts.join(", ")}`);
    }
  }

  out.push("", "Targets (from the issue; reported, not asserted):");
  for (const line of readTargets(r)) out.push(`  ${line}`);

  const failures = r.targets.flatMap((t) => Object.entries(t.failures).map(([phase, why]) => `  ${t.name} ${phase}: ${why}`));
  if (failures.length) out.push("", "Failures:", ...failures);
  return out.join("\n");
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
  lines.push(`pull >= 1x distribution: ${ratio(bp, dp)} ${verdict(cmp(bp, dp, 1))}`);
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

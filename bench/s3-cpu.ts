// The server's CPU per GiB on S3, against distribution on the same gateway: a monolithic push, a
// chunked push and a streamed pull of one blob per round, each target in turn (the order rotates
// per round), the server's CPU read from /proc/<pid>/stat (all its threads) before and after each
// transfer. CPU-seconds per GiB hardly depend on the machine's load, unlike MiB/s
// (docs/performance.md, "The S3 driver's CPU"). Metadata is SQLite: only the blob path is measured.
//
//   node bench/s3-cpu.ts [--size-mib 256] [--reps 5] [--chunk-mib 16] [--only distribution,berth]
//                        [--variant NAME=ENV=VALUE,...]   (another Berth with extra environment, for A/B)
//                        [--phases push,chunked,idle,pull]  (idle: the server's CPU-seconds in 5 s without requests)
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { BlobFactory, MiB } from "./blob.ts";
import { closeConnections, pull, pushChunked, pushMonolithic, type Target } from "./registry-client.ts";
import { startBerth } from "../test/support/berth.ts";
import { startVersitygw } from "../test/support/object-stores.ts";
import { startDistributionOnS3 } from "./scale.ts";

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "256" },
    reps: { type: "string", default: "5" },
    "chunk-mib": { type: "string", default: "16" },
    only: { type: "string", default: "distribution,berth" },
    variant: { type: "string", multiple: true, default: [] },
    phases: { type: "string", default: "push,chunked,pull" },
  },
});
const size = Number(values["size-mib"]) * MiB;
const reps = Number(values.reps);
const chunk = Number(values["chunk-mib"]) * MiB;
const phases = values.phases!.split(",");

/** utime + stime of the whole process (every thread, ended ones included), in seconds. */
function cpuSeconds(pid: number): number {
  const line = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

const s3 = await startVersitygw();
const targets: (Target & { dispose(): Promise<void> })[] = [];
try {
  const berthEnv = async (extra: Record<string, string>) => ({
    BERTH_LOG_LEVEL: "warn",
    BERTH_STORAGE_DRIVER: "s3",
    BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_S3_REGION: s3.region,
    BERTH_STORAGE_S3_BUCKET: await s3.bucket(),
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: "true",
    BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    ...extra,
  });
  const only = values.only!.split(",");
  if (only.includes("distribution")) {
    const d = await startDistributionOnS3({ s3 }, false);
    targets.push({ name: "distribution", url: d.url, headers: d.headers, pid: d.pid, dispose: d.dispose });
  }
  const variants: [string, Record<string, string>][] = only.includes("berth") ? [["berth", {}]] : [];
  const cut = (text: string): [string, string] => [text.slice(0, text.indexOf("=")), text.slice(text.indexOf("=") + 1)];
  for (const spec of values.variant!) {
    const [label, rest] = cut(spec);
    variants.push([label, Object.fromEntries(rest.split(",").map(cut))]);
  }
  for (const [name, extra] of variants) {
    const b = await startBerth({ env: await berthEnv(extra) });
    targets.push({ name, url: b.url, headers: { authorization: b.basicAuth }, pid: b.process.pid!, dispose: () => b.dispose() });
  }
  const blobs = new BlobFactory(size);
  type Row = { mibs: number[]; cpu: number[] };
  const results = new Map<string, Row>();
  const record = (key: string, seconds: number, cpu: number) => {
    const row = results.get(key) ?? { mibs: [], cpu: [] };
    row.mibs.push(size / MiB / seconds);
    row.cpu.push(cpu / (size / 2 ** 30));
    results.set(key, row);
  };
  const measure = async (target: Target, what: string, work: () => Promise<unknown>) => {
    const cpu0 = cpuSeconds(target.pid);
    const t0 = performance.now();
    await work();
    record(`${what} ${target.name}`, (performance.now() - t0) / 1000, cpuSeconds(target.pid) - cpu0);
  };
  const loads = [load()];
  for (let rep = 0; rep < reps; rep++) {
    const order = targets.map((_, i) => targets[(i + rep) % targets.length]!);
    for (const target of order) {
      const repo = `bench/s3cpu${rep}`;
      const blob = blobs.next();
      if (phases.includes("push")) await measure(target, "push", () => pushMonolithic(target, repo, blob));
      if (phases.includes("chunked")) await measure(target, `chunked(${chunk / MiB} MiB)`, () => pushChunked(target, repo, blobs.next(), chunk));
      if (phases.includes("idle")) {
        // Nothing sent for 5 s: the CPU the server still spends after the transfers above (reported as if 1 GiB moved).
        const cpu0 = cpuSeconds(target.pid);
        await new Promise((r) => setTimeout(r, 5000));
        const row = results.get(`idle 5 s ${target.name}`) ?? { mibs: [], cpu: [] };
        row.mibs.push(0);
        row.cpu.push(cpuSeconds(target.pid) - cpu0);
        results.set(`idle 5 s ${target.name}`, row);
      }
      if (phases.includes("pull")) {
        if (!phases.includes("push")) await pushMonolithic(target, repo, blob);
        await measure(target, "pull", () => pull(target, repo, blob.digest));
      }
    }
    loads.push(load());
    process.stderr.write(`round ${rep + 1}/${reps} done, load ${load()}\n`);
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`${size / MiB} MiB blobs, ${reps} rounds, load average at the rounds' ends: ${loads.join(" | ")}`);
  console.log("what                               MiB/s (median)   server CPU-s/GiB (median)   all CPU-s/GiB");
  for (const [key, row] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${key.padEnd(34)} ${median(row.mibs).toFixed(0).padStart(8)}   ${median(row.cpu).toFixed(2).padStart(18)}   ${row.cpu.map((c) => c.toFixed(2)).join(" ")}`);
  }
} finally {
  closeConnections();
  for (const t of targets) await t.dispose().catch(() => undefined);
  await s3.stop();
}

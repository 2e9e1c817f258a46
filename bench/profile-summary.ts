// Reads a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile DIR`) and prints
// where the time went: self time by area (Berth's src/, each package, Node internals, GC, idle),
// the top functions by self time, and Berth's own functions by inclusive time.
// Usage: node bench/profile-summary.ts <file.cpuprofile> [top N]
import { readFileSync } from "node:fs";

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node bench/profile-summary.ts <file.cpuprofile> [top N]\n");
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  // timeDeltas[i] is the time before sample i; the next delta is the time this sample stood for.
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
}
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

function area(frame: CallFrame): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  const src = /\/((?:src|dist)\/.*)$/.exec(url);
  if (src) return src[1]!;
  return url;
}

function label(frame: CallFrame): string {
  const where = frame.url ? `${frame.url.replace(/^file:\/\/.*?\/(src|dist|node_modules)\//, "$1/")}:${frame.lineNumber + 1}` : "";
  return `${frame.functionName || "(anonymous)"} ${where}`.trim();
}

function pct(us: number): string {
  return `${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms`;
}

function printTop(title: string, totals: Map<string, number>, n: number): void {
  process.stdout.write(`\n${title}\n`);
  for (const [name, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`  ${pct(us)}  ${name}\n`);
}

const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)!.callFrame;
  areas.set(area(frame), (areas.get(area(frame)) ?? 0) + us);
  functions.set(label(frame), (functions.get(label(frame)) ?? 0) + us);
}

// Inclusive time of Berth's own functions: each sample counts once for every distinct src/
// function on its stack.
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)!.callFrame;
    if (!/\/(src|dist)\//.test(frame.url) || /node_modules/.test(frame.url)) continue;
    const name = label(frame);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
}

process.stdout.write(`${file}: ${(totalUs / 1e6).toFixed(1)} s sampled\n`);
printTop("Self time by area", areas, top);
printTop("Top functions by self time", functions, top);
printTop("Berth's functions by inclusive time", inclusive, top);

// Per-push cost as one repository grows: `node bench/push-growth.ts [--pushes 4000] [--window 500] [--data DIR] [--prefix t] [--profile DIR]`
// One Berth (filesystem + SQLite, as bench/webhooks.ts), 4 clients pushing images into
// `bench/hooks` (a 4 KiB layer, a config, a manifest with a tag of its own: `<prefix>-<n>`); for
// each window of pushes, the server's CPU per push (every thread, /proc: load disturbs it far less
// than the rate, which is printed too, with the load average). A repository summary counted at
// every push made this grow from 9 to 21 ms by 4,000 tags (docs/performance.md, "Per-push cost as
// a repository grows"). --data keeps the directory, so a later run (another --prefix) continues
// the same repository, e.g. under --profile (the server's V8 CPU profile, for
// bench/profile-summary.ts) to see where a large repository's pushes go.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startBerth } from "../test/support/berth.ts";
import { cpuSnapshot, type CpuSnapshot } from "./cpu.ts";
import { smallImage } from "./blob.ts";
import { closeConnections, pushMonolithic, putManifest, type Target } from "./registry-client.ts";

const { values: args } = parseArgs({
  options: {
    pushes: { type: "string", default: "4000" },
    window: { type: "string", default: "500" },
    data: { type: "string" },
    prefix: { type: "string", default: "t" },
    profile: { type: "string" },
  },
});
const PUSHES = Number(args.pushes);
const WINDOW = Number(args.window);
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
const serverSeconds = (before: CpuSnapshot, after: CpuSnapshot) => Object.entries(after.threads).reduce((sum, [name, s]) => sum + Math.max(0, s - (before.threads[name] ?? 0)), 0);

const env: Record<string, string> = { BERTH_LOG_LEVEL: "warn", ...(args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${args.profile}` } : {}) };
const berth = await startBerth({ env, ...(args.data ? { dataDir: args.data } : {}) });
const target: Target = { name: "Berth", url: berth.url, headers: { authorization: berth.basicAuth }, pid: berth.process.pid! };
console.log(`push growth: ${PUSHES} image pushes into bench/hooks, CPU per ${WINDOW}. Load at start: ${load()}`);
let next = 0;
try {
  for (let from = 0; from < PUSHES; from += WINDOW) {
    const end = Math.min(PUSHES, from + WINDOW);
    const cpu0 = cpuSnapshot(target.pid!);
    const started = performance.now();
    const client = async () => {
      for (let i = next++; i < end; i = next++) {
        const image = smallImage();
        for (const blob of [image.layer, image.config]) await pushMonolithic(target, "bench/hooks", blob);
        await putManifest(target, "bench/hooks", `${args.prefix}-${i}`, MANIFEST, image.manifest);
      }
    };
    await Promise.all([client(), client(), client(), client()]);
    next = end;
    const cpu1 = cpuSnapshot(target.pid!);
    const n = end - from;
    const byThread = Object.entries(cpu1.threads).map(([name, s]) => `${name} ${(((s - (cpu0.threads[name] ?? 0)) / n) * 1000).toFixed(2)}`);
    console.log(`pushes ${from}-${end}: server CPU ${((serverSeconds(cpu0, cpu1) / n) * 1000).toFixed(2)} ms per push (${(n / ((performance.now() - started) / 1000)).toFixed(0)} pushes/s; ms by thread: ${byThread.join(", ")}) (load ${load()})`);
  }
} finally {
  closeConnections();
  await berth.dispose();
}

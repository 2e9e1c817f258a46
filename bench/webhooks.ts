// Webhooks' cost and drain: `node bench/webhooks.ts [--pushes 200] [--blob-mib 256] [--events 10000] [--rounds 3 (0: the drain alone)] [--no-drain] [--modes none,five] [--no-rates] [--profile DIR]`
// (--profile: the server writes a V8 CPU profile there when it stops; read it with bench/profile-summary.ts;
// `--modes five --no-rates --no-drain` profiles the pushes beside five webhooks and nothing else).
//
// Issue 17's benchmark, against one Berth (filesystem + SQLite, the embedded default):
// 1. Cost. Alternating rounds with no webhook and with five (four receivers that answer at once,
//    one that never answers, so its deliveries wait out webhooks.timeout): image pushes a second
//    (a 4 KiB layer, a config, a manifest with its own tag; 4 clients), one large blob's push rate
//    (MiB/s), and GET manifest requests a second (autocannon, 32 connections). Medians, and each
//    as a ratio of "five" to "none": the target is within 5 % (ratio ≥ 0.95).
// 2. Drain. One webhook whose receiver is down while `--events` tags are pushed (each a push
//    event); then the receiver comes back and the bench times the first delivery after its return
//    (the retry the backoff had scheduled: at most webhooks.backoffCap away) and the drain of every
//    event from there. The target is every event delivered within a minute of the return.
// 3. CPU, which load disturbs far less than rates: the server's CPU-seconds (/proc/<pid>/task/*/stat,
//    every thread) per image push, from the first push until the four answering receivers have every
//    delivery of the round (with no webhook: until the last push), "none" against "five"; the
//    difference over the deliveries made is the delivery CPU per delivery, and the drain's CPU over
//    its deliveries measures the same alone.
// The machine's load average is printed: numbers from a loaded machine are not comparable.
import { createServer, type Server } from "node:http";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startBerth } from "../test/support/berth.ts";
import { cpuSnapshot, mainThreadSeconds, type CpuSnapshot } from "./cpu.ts";
import { BlobFactory, MiB, smallImage } from "./blob.ts";
import { measureRate } from "./rates.ts";
import { closeConnections, pushMonolithic, putManifest, send, type Target } from "./registry-client.ts";

const { values: args } = parseArgs({
  options: {
    pushes: { type: "string", default: "200" },
    "blob-mib": { type: "string", default: "256" },
    events: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
    "no-drain": { type: "boolean", default: false },
    modes: { type: "string", default: "none,five" },
    "no-rates": { type: "boolean", default: false },
    profile: { type: "string" },
  },
});
const PUSHES = Number(args.pushes);
const BLOB_MIB = Number(args["blob-mib"]);
const EVENTS = Number(args.events);
const ROUNDS = Number(args.rounds);
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MODES = args.modes.split(",").filter((m): m is "none" | "five" => m === "none" || m === "five");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
/** The server's CPU-seconds (all its threads) between two snapshots. */
const serverSeconds = (before: CpuSnapshot, after: CpuSnapshot) => Object.entries(after.threads).reduce((sum, [name, s]) => sum + Math.max(0, s - (before.threads[name] ?? 0)), 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A receiver counting what it gets; `hang` never answers (the slow webhook). */
function receiver(hang = false): Promise<{ server: Server; port: number; received: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      count++;
      if (!hang) res.writeHead(200).end();
    });
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({ server, port: (server.address() as { port: number }).port, received: () => count })));
}

async function api(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? [] : [Buffer.from(JSON.stringify(body))];
  const reply = await send(target, method, path, body === undefined ? {} : { headers: { "content-type": "application/json" }, body: payload, length: payload[0]!.length });
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${reply.body.toString()}`);
  return reply.body.length ? JSON.parse(reply.body.toString()) : null;
}

type Measure = "pushes" | "blob" | "gets" | "cpu" | "cpuPushing" | "cpuMain" | "cpuMainPushing";

async function pushImages(target: Target, count: number, round: string): Promise<number> {
  const started = performance.now();
  let next = 0;
  const client = async () => {
    for (let i = next++; i < count; i = next++) {
      const image = smallImage();
      for (const blob of [image.layer, image.config]) await pushMonolithic(target, "bench/hooks", blob);
      await putManifest(target, "bench/hooks", `${round}-${i}`, MANIFEST, image.manifest);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  return count / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  console.log(`webhooks bench: ${PUSHES} image pushes, a ${BLOB_MIB} MiB blob, GET manifest for 3 s, ${ROUNDS} rounds each way; drain of ${EVENTS} events. Load at start: ${load()}`);
  const profile: Record<string, string> = args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${args.profile}` } : {};
  const berth = await startBerth({ env: { BERTH_LOG_LEVEL: "warn", BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", ...profile } });
  const target: Target = { name: "Berth", url: berth.url, headers: { authorization: berth.basicAuth }, pid: berth.process.pid! };
  const fast = await receiver();
  const slow = await receiver(true);
  try {
    const blobs = new BlobFactory(BLOB_MIB * MiB);
    const image = smallImage();
    for (const blob of [image.layer, image.config]) await pushMonolithic(target, "bench/hooks", blob);
    await putManifest(target, "bench/hooks", "probe", MANIFEST, image.manifest);

    const results: Record<"none" | "five", { pushes: number[]; blob: number[]; gets: number[]; cpu: number[]; cpuPushing: number[]; cpuMain: number[]; cpuMainPushing: number[] }> = {
      none: { pushes: [], blob: [], gets: [], cpu: [], cpuPushing: [], cpuMain: [], cpuMainPushing: [] },
      five: { pushes: [], blob: [], gets: [], cpu: [], cpuPushing: [], cpuMain: [], cpuMainPushing: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of (round % 2 === 0 ? ["none", "five"] : ["five", "none"]).filter((m): m is "none" | "five" => MODES.includes(m as "none"))) {
        if (mode === "five") {
          for (let i = 0; i < 4; i++) await api(target, "POST", "/api/v1/webhooks", { name: `fast${i}`, url: `http://127.0.0.1:${fast.port}/h${i}`, actions: ["push", "delete"] });
          await api(target, "POST", "/api/v1/webhooks", { name: "slow", url: `http://127.0.0.1:${slow.port}/slow`, actions: ["push", "delete"] });
        }
        const r = results[mode];
        const owed = fast.received() + (mode === "five" ? 4 * PUSHES : 0);
        const cpu0 = cpuSnapshot(target.pid!);
        const main0 = mainThreadSeconds(target.pid!);
        r.pushes.push(await pushImages(target, PUSHES, `${mode}${round}`));
        const cpu1 = cpuSnapshot(target.pid!);
        const main1 = mainThreadSeconds(target.pid!);
        // The round's deliveries to the answering receivers are part of its cost: waited for (at most a minute).
        for (const until = performance.now() + 60_000; fast.received() < owed && performance.now() < until; ) await sleep(20);
        if (fast.received() < owed) console.log(`round ${round} ${mode}: only ${fast.received() - owed + 4 * PUSHES} of ${4 * PUSHES} deliveries within a minute`);
        const cpu2 = cpuSnapshot(target.pid!);
        const main2 = mainThreadSeconds(target.pid!);
        r.cpuMain.push(((main2 - main0) / PUSHES) * 1000);
        r.cpuMainPushing.push(((main1 - main0) / PUSHES) * 1000);
        r.cpu.push((serverSeconds(cpu0, cpu2) / PUSHES) * 1000);
        const byThread = Object.entries(cpu2.threads).map(([name, s]) => `${name} ${(((s - (cpu0.threads[name] ?? 0)) / PUSHES) * 1000).toFixed(2)}`);
        r.cpuPushing.push((serverSeconds(cpu0, cpu1) / PUSHES) * 1000);
        if (!args["no-rates"]) {
          const blob = blobs.next();
          const t0 = performance.now();
          await pushMonolithic(target, "bench/hooks", blob);
          r.blob.push(BLOB_MIB / ((performance.now() - t0) / 1000));
          r.gets.push((await measureRate(target, "GET", "/v2/bench/hooks/manifests/probe", { accept: MANIFEST }, 32, 3)).perSecond);
        } else {
          r.blob.push(NaN);
          r.gets.push(NaN);
        }
        console.log(`round ${round} ${mode}: ${r.pushes.at(-1)!.toFixed(1)} pushes/s, blob ${r.blob.at(-1)!.toFixed(0)} MiB/s, GET manifest ${r.gets.at(-1)!.toFixed(0)}/s, server CPU ${r.cpu.at(-1)!.toFixed(2)} s per 1,000 pushes (${r.cpuPushing.at(-1)!.toFixed(2)} while pushing; main thread ${r.cpuMain.at(-1)!.toFixed(2)}, ${r.cpuMainPushing.at(-1)!.toFixed(2)} while pushing; ms per push by thread: ${byThread.join(", ")}) (load ${load()})`);
        if (mode === "five") for (const name of ["fast0", "fast1", "fast2", "fast3", "slow"]) await api(target, "DELETE", `/api/v1/webhooks/${name}`);
      }
    }
    // --rounds 0: the drain alone.
    if (ROUNDS > 0 && MODES.length === 2) {
      // Both: the ratio of medians, and the median of each round's own ratio (its "none" and "five"
      // run back to back, in alternating order). The second is the reading when the rates drift
      // over the run (a repository that grows, the machine's load): a drift shared by both modes
      // cancels within a round and does not within the medians.
      const ratio = (key: Measure) => `${(median(results.five[key]) / median(results.none[key])).toFixed(3)} | ${median(results.five[key].map((v, i) => v / results.none[key][i]!)).toFixed(3)}`;
      console.log("\n| measure | no webhook (median) | five webhooks, one never answering (median) | ratio of medians | median of the rounds' ratios |\n|---|---|---|---|---|");
      console.log(`| image pushes a second (4 clients) | ${median(results.none.pushes).toFixed(1)} | ${median(results.five.pushes).toFixed(1)} | ${ratio("pushes")} |`);
      console.log(`| ${BLOB_MIB} MiB blob push, MiB/s | ${median(results.none.blob).toFixed(0)} | ${median(results.five.blob).toFixed(0)} | ${ratio("blob")} |`);
      console.log(`| GET manifest a second (32 connections) | ${median(results.none.gets).toFixed(0)} | ${median(results.five.gets).toFixed(0)} | ${ratio("gets")} |`);
      console.log(`| server CPU per push, ms (until the round's deliveries are made) | ${median(results.none.cpu).toFixed(2)} | ${median(results.five.cpu).toFixed(2)} | ${ratio("cpu")} |`);
      console.log(`| server CPU per push, ms (while pushing) | ${median(results.none.cpuPushing).toFixed(2)} | ${median(results.five.cpuPushing).toFixed(2)} | ${ratio("cpuPushing")} |`);
      console.log(`| server main thread CPU per push, ms (until the round's deliveries are made) | ${median(results.none.cpuMain).toFixed(2)} | ${median(results.five.cpuMain).toFixed(2)} | ${ratio("cpuMain")} |`);
      console.log(`| server main thread CPU per push, ms (while pushing) | ${median(results.none.cpuMainPushing).toFixed(2)} | ${median(results.five.cpuMainPushing).toFixed(2)} | ${ratio("cpuMainPushing")} |`);
      console.log(`delivery CPU per delivery (five − none, over the 4 answering receivers' ${4 * PUSHES} a round): ${((median(results.five.cpu) - median(results.none.cpu)) / 4).toFixed(3)} ms`);
    }

    if (args["no-drain"]) return;
    // -- the drain: a receiver down while EVENTS pushes happen, then back on the same port
    const down = await receiver();
    const port = down.port;
    await new Promise<void>((r) => down.server.close(() => r()));
    await api(target, "POST", "/api/v1/webhooks", { name: "drain", url: `http://127.0.0.1:${port}/drain`, actions: ["push"] });
    const queued = performance.now();
    let next = 0;
    const tagger = async () => {
      for (let i = next++; i < EVENTS; i = next++) await putManifest(target, "bench/drain", `e${i}`, MANIFEST, image.manifest);
    };
    for (const blob of [image.layer, image.config]) await pushMonolithic(target, "bench/drain", blob);
    await Promise.all([tagger(), tagger(), tagger(), tagger()]);
    console.log(`\n${EVENTS} push events queued in ${((performance.now() - queued) / 1000).toFixed(1)} s while the receiver was down (load ${load()})`);
    let count = 0;
    let first = 0;
    // From the first delivery: the wait before it (the backoff's) is idle ticks, not deliveries.
    let drainCpu = cpuSnapshot(target.pid!);
    const back = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (count++ === 0) {
          first = performance.now();
          drainCpu = cpuSnapshot(target.pid!);
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => back.listen(port, "127.0.0.1", () => r()));
    const returned = performance.now();
    const deadline = returned + 10 * 60_000;
    while (count < EVENTS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const done = performance.now();
    const drainSeconds = serverSeconds(drainCpu, cpuSnapshot(target.pid!));
    await new Promise<void>((r) => back.close(() => r()));
    const s = (ms: number) => (ms / 1000).toFixed(1);
    console.log(`| drain | ${count} of ${EVENTS} delivered | first ${s(first - returned)} s after the receiver's return (the retry the backoff had due) | all ${s(done - first)} s after that, ${s(done - returned)} s after the return | ${(count / ((done - first) / 1000)).toFixed(0)} deliveries/s | server CPU from the first delivery ${drainSeconds.toFixed(1)} s, ${((drainSeconds / Math.max(1, count)) * 1000).toFixed(3)} ms per delivery |`);
    console.log(`Load at the end: ${load()}`);
  } finally {
    closeConnections();
    fast.server.close();
    slow.server.closeAllConnections();
    slow.server.close();
    await berth.dispose();
  }
}

await main();

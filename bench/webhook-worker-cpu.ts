// The delivery worker alone, in this process: CPU per delivery, the receivers in a child process so
// their CPU is not counted. Five webhooks (four answering at once, one never answering) as in
// bench/webhooks.ts; events appended `--burst` at a time, the worker ticked after each burst as
// `berth serve` ticks it, until every answering delivery is made.
// The main thread's share is printed apart: it is the event loop that serves pushes in `berth serve`.
// `node bench/webhook-worker-cpu.ts [--events 2000] [--burst 12] [--interval-ms 250] [--batch-delay S (default: the config's)]`
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildApp } from "../src/app.ts";
import { SHUTDOWN_GRACE_MS } from "../src/http/server.ts";
import { mainThreadSeconds } from "./cpu.ts";
import { loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/observability/logger.ts";

const { values: args } = parseArgs({ options: { events: { type: "string", default: "2000" }, burst: { type: "string", default: "12" }, "interval-ms": { type: "string", default: "250" }, "batch-delay": { type: "string" } } });
const EVENTS = Number(args.events);
const BURST = Number(args.burst);
const INTERVAL = Number(args["interval-ms"]);

const child = fork(new URL("./webhook-receivers.mjs", import.meta.url).pathname);
const ask = () => new Promise<{ count: number }>((ok) => { child.once("message", ok as never); child.send("count"); });
const ports = await new Promise<{ fast: number; slow: number }>((ok) => child.once("message", ok as never));
const dataDir = await mkdtemp(join(tmpdir(), "berth-hookcpu-"));
const config = loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": "pw-pw-pw-pw", "webhooks.allowedHosts": ["127.0.0.1"], "webhooks.allowPrivateAddresses": true, ...(args["batch-delay"] === undefined ? {} : { "webhooks.batchDelay": Number(args["batch-delay"]) }) } });
const berth = await buildApp(config, createLogger("silent"));
const meta = berth.stores.metadata;
const now = new Date(Date.now() - 1000);
for (let i = 0; i < 5; i++) {
  const url = i < 4 ? `http://127.0.0.1:${ports.fast}/h${i}` : `http://127.0.0.1:${ports.slow}/slow`;
  await meta.webhooks.create({ name: `h${i}`, url, actions: ["push", "delete"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s".repeat(32), createdAt: now, updatedAt: now });
}
const append = async (n: number, from: number) => {
  await meta.transaction(async (tx) => {
    for (let i = 0; i < n; i++) await tx.changes.append({ kind: "manifest.pushed", repository: "bench/hooks", digest: `sha256:${(from + i).toString(16).padStart(64, "0")}`, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1234, tag: `t${from + i}` });
  });
};
// The log's consumer starts at the log's end: made before the first event.
await berth.webhooks.tick();
// The appends' own CPU, measured apart and subtracted.
let appendUs = 0;
const start = process.cpuUsage();
const mainStart = mainThreadSeconds(process.pid);
const wall = performance.now();
for (let sent = 0; sent < EVENTS; sent += BURST) {
  const t = process.cpuUsage();
  await append(Math.min(BURST, EVENTS - sent), sent);
  const d = process.cpuUsage(t);
  appendUs += d.user + d.system;
  await berth.webhooks.tick();
  await new Promise((r) => setTimeout(r, INTERVAL));
}
const settled = async () => (await ask()).count >= 4 * EVENTS;
for (let until = performance.now() + 60_000; !(await settled()) && performance.now() < until; ) {
  await berth.webhooks.tick();
  await new Promise((r) => setTimeout(r, INTERVAL));
}
const used = process.cpuUsage(start);
const mainUs = (mainThreadSeconds(process.pid) - mainStart) * 1e6 - appendUs;
const got = (await ask()).count;
const us = used.user + used.system - appendUs;
console.log(`${got} of ${4 * EVENTS} delivered in ${((performance.now() - wall) / 1000).toFixed(1)} s; worker CPU ${(us / 1e6).toFixed(2)} s: ${(us / 1000 / EVENTS).toFixed(3)} ms per event (5 webhooks), ${(us / 1000 / got).toFixed(3)} ms per answered delivery; main thread ${(mainUs / 1e6).toFixed(2)} s: ${(mainUs / 1000 / EVENTS).toFixed(3)} ms per event; appends ${(appendUs / 1000 / EVENTS).toFixed(3)} ms per event; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
if (got < 4 * EVENTS) for (let i = 0; i < 4; i++) console.log(`h${i}`, (await meta.webhooks.deliveries(`h${i}`, 100000)).filter((d) => d.status !== "delivered").map((d) => `${d.id}/${d.eventId} ${d.status} ${d.attempts} ${d.error ?? ""}`).slice(0, 12).join("; "));
await berth.webhooks.stop(SHUTDOWN_GRACE_MS);
await berth.close();
child.kill();
await rm(dataDir, { recursive: true, force: true });

// The server's CPU seconds per GiB for a monolithic push, chunked pushes in 16 MiB and 1 MiB
// PATCHes, and a pull, of 256 MiB blobs through one Berth: on a loaded machine the CPU a transfer
// costs swings far less than its throughput, so before/after checks of the blob path read this
// (docs/performance.md). `node bench/cpu-focus.ts [reps]` prints one JSON line of per-run values.
import { BlobFactory, MiB } from "./blob.ts";
import { cpuSnapshot, cpuUsed } from "./cpu.ts";
import { closeConnections, pull, pushChunked, pushMonolithic } from "./registry-client.ts";
import { startBerthTarget } from "./servers.ts";

const size = 256 * MiB;
const reps = Number(process.argv[2] ?? 3);
const target = await startBerthTarget();
const factory = new BlobFactory(size);
const runs: Record<string, { cpuSecondsPerGiB: number; mibPerSecond: number }[]> = {};

/** Runs `transfer` once and records the server's CPU and the throughput under `name`. */
async function measure(name: string, transfer: () => Promise<unknown>): Promise<void> {
  const before = cpuSnapshot(target.pid);
  const start = performance.now();
  await transfer();
  const seconds = (performance.now() - start) / 1000;
  (runs[name] ??= []).push({ cpuSecondsPerGiB: cpuUsed(before, cpuSnapshot(target.pid), size).serverSecondsPerGiB, mibPerSecond: size / MiB / seconds });
}

try {
  await pushMonolithic(target, "warm/up", factory.next());
  for (let i = 0; i < reps; i++) {
    await measure("pushMonolithic", () => pushMonolithic(target, "bench/mono", factory.next()));
    await measure("pushChunked16MiB", () => pushChunked(target, "bench/chunked", factory.next(), 16 * MiB));
    await measure("pushChunked1MiB", () => pushChunked(target, "bench/chunked", factory.next(), MiB));
    const blob = factory.next();
    await pushMonolithic(target, "bench/pull", blob);
    await measure("pull", () => pull(target, "bench/pull", blob.digest));
  }
} finally {
  closeConnections();
  await target.dispose();
}
process.stdout.write(JSON.stringify(runs) + "\n");

// CPU time spent on a transfer: the server's, thread by thread (/proc/<pid>/task/*/stat), and the
// benchmark client's own. On a machine with few cores the client, the server's receiving thread,
// its hashing and its writes all share them, so a push can be bound by CPU before the disk or
// SHA-256 alone would bind it: (server + client) CPU-seconds per GiB against the cores says how
// fast the push could go with every core busy, the bound that matters for the 80 % target.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface CpuSnapshot {
  /** Thread name (comm) → CPU seconds (user + system) of the threads alive now. */
  threads: Record<string, number>;
  clientSeconds: number;
}

export interface CpuUse {
  /** Per GiB transferred. */
  serverSecondsPerGiB: number;
  clientSecondsPerGiB: number;
  /** Server threads by name (Node: MainThread, WorkerThread, libuv-worker, V8Worker; Go: one name). */
  threadSecondsPerGiB: Record<string, number>;
}

let ticksPerSecond: number | null = null;

/** The kernel's clock ticks per second for /proc times (USER_HZ; 100 on Linux unless told otherwise). */
function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of one /proc stat line, in ticks. The name (comm) may hold spaces and parentheses. */
function parseStat(line: string): { name: string; ticks: number } {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  const fields = line.slice(close + 2).split(" ");
  // After the name: state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12.
  return { name: line.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** CPU-seconds of a process's main thread alone (its task id is the pid): the event loop that serves requests. */
export function mainThreadSeconds(pid: number): number {
  try {
    return parseStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8")).ticks / clockTicks();
  } catch {
    return 0;
  }
}

export function cpuSnapshot(pid: number): CpuSnapshot {
  const ticks = clockTicks();
  const threads: Record<string, number> = {};
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    // no /proc (not Linux) or the process is gone: server times stay empty
  }
  for (const task of tasks) {
    try {
      const { name, ticks: used } = parseStat(readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8"));
      threads[name] = (threads[name] ?? 0) + used / ticks;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  const own = process.cpuUsage();
  return { threads, clientSeconds: (own.user + own.system) / 1e6 };
}

/**
 * What was used between two snapshots, per GiB of `bytes`. A thread that ended in between takes its
 * time with it (its name's total can only undercount), so names are compared, not thread ids.
 */
export function cpuUsed(before: CpuSnapshot, after: CpuSnapshot, bytes: number): CpuUse {
  const gib = bytes / 2 ** 30;
  const threadSecondsPerGiB: Record<string, number> = {};
  let server = 0;
  for (const [name, seconds] of Object.entries(after.threads)) {
    const used = Math.max(0, seconds - (before.threads[name] ?? 0));
    threadSecondsPerGiB[name] = used / gib;
    server += used;
  }
  return { serverSecondsPerGiB: server / gib, clientSecondsPerGiB: (after.clientSeconds - before.clientSeconds) / gib, threadSecondsPerGiB };
}

/** Adds up several transfers' use, weighting each by its bytes. */
export function combineCpu(uses: { use: CpuUse; bytes: number }[]): CpuUse | undefined {
  const total = uses.reduce((sum, u) => sum + u.bytes, 0);
  if (total === 0) return undefined;
  const weighted = (pick: (u: CpuUse) => number) => uses.reduce((sum, u) => sum + pick(u.use) * u.bytes, 0) / total;
  const names = new Set(uses.flatMap((u) => Object.keys(u.use.threadSecondsPerGiB)));
  return {
    serverSecondsPerGiB: weighted((u) => u.serverSecondsPerGiB),
    clientSecondsPerGiB: weighted((u) => u.clientSecondsPerGiB),
    threadSecondsPerGiB: Object.fromEntries([...names].map((name) => [name, weighted((u) => u.threadSecondsPerGiB[name] ?? 0)])),
  };
}

/** How fast a transfer could go with every core busy: cores / (server + client) CPU-seconds per GiB, in MiB/s. */
export function cpuBoundMibPerSecond(use: CpuUse, cores: number): number {
  const perGiB = use.serverSecondsPerGiB + use.clientSecondsPerGiB;
  return perGiB > 0 ? (cores / perGiB) * 1024 : Number.POSITIVE_INFINITY;
}

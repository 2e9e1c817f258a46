// The `berth` maintenance commands (fsck, gc) as child processes a test can kill -9 at any
// moment, and the fsck check every crash test ends with. RunningBerth.cli() waits for the exit;
// these hand back the process first.
import { spawn, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { berthBin, type RunningBerth } from "./berth.ts";

export interface CliExit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }
export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the process has exited, however it ended. */
  exited: Promise<CliExit>;
  /** SIGKILL (a crash); resolves with the exit. */
  kill(): Promise<CliExit>;
}

/** The environment startBerth gives the server, so the CLI reads the same configuration. */
export function berthEnv(berth: RunningBerth, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, BERTH_ADMIN_PASSWORD: berth.password, BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? "warn", ...extra };
}

/** Spawns `berth <args> --data <dataDir>` without waiting for it. */
export function spawnBerthCli(berth: RunningBerth, args: string[], env: Record<string, string> = {}): CliProcess {
  const started = performance.now();
  const child = spawn(process.execPath, [berthBin, ...args, "--data", berth.dataDir], { env: berthEnv(berth, env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<CliExit>((ok, fail) => {
    child.once("error", fail);
    child.once("close", (code, signal) => ok({ code, signal, stdout, stderr, ms: performance.now() - started }));
  });
  return {
    child,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      return exited;
    },
  };
}

/** Runs `berth fsck` and fails the test with its whole output unless it exits 0. */
export async function assertFsckClean(berth: RunningBerth, context = ""): Promise<void> {
  const fsck = await berth.cli(["fsck"]);
  assert.equal(fsck.code, 0, `berth fsck exited ${fsck.code}${context ? ` (${context})` : ""}\nstdout:\n${fsck.stdout}\nstderr:\n${fsck.stderr}`);
}

/** Runs `berth gc --grace-period 0` to completion and fails the test unless it exits 0. */
export async function runGc(berth: RunningBerth, extra: string[] = []): Promise<{ stdout: string; stderr: string }> {
  const gc = await berth.cli(["gc", "--grace-period", "0", ...extra]);
  assert.equal(gc.code, 0, `berth gc exited ${gc.code}\nstdout:\n${gc.stdout}\nstderr:\n${gc.stderr}`);
  return gc;
}

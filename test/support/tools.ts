// Finds the real clients that scripts/install-tools.sh installed. Without CI a missing
// tool skips the test with a message; with CI=true it fails the run.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { repoRoot } from "./berth.ts";

export const toolsBin = join(repoRoot, ".tools/bin");

/** Absolute path of a tool, or null when it is not installed. */
export function findTool(name: string): string | null {
  const local = join(toolsBin, name);
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The tool's path; skips the test (or fails it under CI=true) when it is missing. */
export function requireTool(t: TestContext, name: string): string | null {
  const path = findTool(name);
  if (path) return path;
  const message = `${name} is not installed: run scripts/install-tools.sh`;
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return null;
}

export interface RunResult { code: number; stdout: string; stderr: string }

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<RunResult> {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, { env: { ...process.env, ...options.env }, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // A process that exits without reading its stdin (gpg, helm) must not fail the run with EPIPE.
    child.stdin.on("error", () => undefined);
    child.on("error", fail);
    // "close", not "exit": the output pipes may still hold data when the process exits.
    child.on("close", (code) => ok({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** Runs and throws with the whole output when the exit code is not 0. */
export async function runOk(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return result;
}

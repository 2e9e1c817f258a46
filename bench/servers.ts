// The servers the benchmark drives: Berth (through the test harness), CNCF distribution v3 as the
// reference, a null server that discards what it is sent, to show the client's own ceiling, and a
// static server holding one index.yaml, the ceiling for serving a chart index.
// Each comes back as a Target with dispose(); every dispose is safe to call twice.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, repoRoot, startBerth } from "../test/support/berth.ts";
import type { Target } from "./registry-client.ts";

export interface RunningTarget extends Target {
  /** The directory dispose() removes, for the last-resort cleanup when the process dies. */
  tempDir: string | null;
  dispose(): Promise<void>;
}

export const distributionBin = join(repoRoot, ".tools/bin/registry");

/** Berth on a free port with a fresh data directory. `nodeOptions` is for profiling (--cpu-prof). */
export async function startBerthTarget(nodeOptions?: string): Promise<RunningTarget> {
  const env: Record<string, string> = { BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? "warn" };
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const berth = await startBerth({ env });
  const pid = berth.process.pid;
  if (pid === undefined) throw new Error("berth has no pid");
  return {
    name: "Berth",
    url: berth.url,
    headers: { authorization: berth.basicAuth },
    pid,
    tempDir: berth.dataDir,
    dispose: () => berth.dispose(),
  };
}

/** Waits for `check` to succeed, at most `ms`; throws with the child's output otherwise. */
async function waitReady(child: ChildProcess, check: () => Promise<boolean>, ms: number, output: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}:\n${output()}`);
    try {
      if (await check()) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`process not ready within ${ms} ms:\n${output()}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

/** distribution v3 with filesystem storage in a temp directory beside Berth's (same disk). */
export async function startDistribution(): Promise<RunningTarget> {
  if (!existsSync(distributionBin)) throw new Error(`${distributionBin} is missing: run scripts/install-tools.sh`);
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-distribution-"));
  const port = await freePort();
  // JSON is YAML. Log level error, no access log, no upload purging running in the background.
  const config = {
    version: "0.1",
    log: { level: "error", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, "data") },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: "berth-bench", headers: { "X-Content-Type-Options": ["nosniff"] } },
  };
  const configPath = join(dir, "config.yml");
  await writeFile(configPath, JSON.stringify(config, null, 2));
  let output = "";
  const child = spawn(distributionBin, ["serve", configPath], {
    // No telemetry exporter: the only traffic is the benchmark's, on 127.0.0.1.
    env: { ...process.env, OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "none" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const stop = stopper(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(child, async () => (await fetch(`${url}/v2/`)).status === 200, 20_000, () => output);
  } catch (error) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    name: "distribution",
    url,
    headers: {},
    pid: child.pid!,
    tempDir: dir,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type SinkMode = "drop" | "hash" | "disk";
export const sinkNames: Record<SinkMode, string> = {
  drop: "node sink: drop",
  hash: "node sink: SHA-256",
  disk: "node sink: SHA-256+file+fsync",
};

/** A bench/null-server.ts child: what plain Node does with the same bytes (see that file). */
export async function startNullServer(blobSize: number, mode: SinkMode): Promise<RunningTarget> {
  const dir = mode === "disk" ? await mkdtemp(join(tmpdir(), "berth-bench-sink-")) : null;
  return startScriptServer(sinkNames[mode], "null-server.ts", [String(blobSize), mode, ...(dir ? [dir] : [])], dir);
}

export const staticIndexName = "static file";

/**
 * A bench/static-index-server.ts child holding `body` (an index.yaml) in memory. The bytes go to the
 * child through a file in a temp directory, which dispose() removes.
 */
export async function startStaticIndexServer(body: Buffer): Promise<RunningTarget> {
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-static-"));
  const file = join(dir, "index.yaml");
  try {
    await writeFile(file, body);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return startScriptServer(staticIndexName, "static-index-server.ts", [file], dir);
}

/**
 * Runs one of the bench's own node:http servers (a script beside this file that prints "listening
 * <port>") as a child. `dir`, when given, is removed when it stops, or when it does not start.
 */
async function startScriptServer(name: string, script: string, args: string[], dir: string | null): Promise<RunningTarget> {
  // stdin stays open so the server sees its end when the benchmark dies.
  const child = spawn(process.execPath, [join(import.meta.dirname, script), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const stopped = stopper(child);
  const stop = async () => {
    await stopped();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  const ready = new Promise<number>((ok, fail) => {
    let text = "";
    const timer = setTimeout(() => fail(new Error(`${script} did not start`)), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const match = /listening (\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        ok(Number(match[1]));
      }
    });
    child.once("exit", (code) => fail(new Error(`${script} exited with ${code}`)));
  });
  let port: number;
  try {
    port = await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, url: `http://127.0.0.1:${port}`, headers: {}, pid: child.pid!, tempDir: dir, dispose: stop };
}

// Starts a real `berth serve` process on a free port with its own data directory, for
// end-to-end tests and benchmarks. No mocks: the process is the one `npm start` runs.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const berthBin = join(repoRoot, "bin/berth.mjs");
/** The launcher users run (`npm start`, the `berth` bin): Node with Berth's memory settings. */
export const berthLauncher = join(repoRoot, "bin/berth");

export interface RunningBerth {
  /** host:port, as clients name the registry */
  host: string;
  url: string;
  port: number;
  dataDir: string;
  username: string;
  password: string;
  process: ChildProcess;
  /** Output the process printed so far (stdout + stderr). */
  output(): string;
  /** Graceful stop (SIGTERM) and wait for exit. */
  stop(): Promise<void>;
  /** kill -9, as a crash. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  restart(): Promise<void>;
  /** Stops the server and removes the data directory. */
  dispose(): Promise<void>;
  /** Runs a `berth` CLI command (gc, fsck, ...) against this data directory. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Authorization header value for the admin user. */
  basicAuth: string;
}

export interface StartOptions {
  env?: Record<string, string>;
  args?: string[];
  dataDir?: string;
  password?: string;
  /** A command the server runs under, e.g. `unshare --pid --fork …` (as in a container of its own). */
  launcher?: string[];
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

export async function startBerth(options: StartOptions = {}): Promise<RunningBerth> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "berth-test-")));
  const port = await freePort();
  const password = options.password ?? "test-admin-password";
  const env = {
    ...process.env,
    BERTH_ADMIN_PASSWORD: password,
    BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? "warn",
    ...options.env,
  };
  let output = "";
  let child: ChildProcess;

  async function launch(): Promise<void> {
    const serve = [berthLauncher, "serve", "--host", "127.0.0.1", "--port", String(port), "--data", dataDir, ...(options.args ?? [])];
    const [command, ...args] = [...(options.launcher ?? []), ...serve];
    child = spawn(command!, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    // A quiet machine starts Berth in 1-2 s; one loaded by other work (CI beside helpers) was seen past 20 s.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`berth exited with ${child.exitCode}:\n${output}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitExit("SIGKILL");
    throw new Error(`berth did not become healthy within 60 s:\n${output}`);
  }

  async function waitExit(signal: NodeJS.Signals): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    await exited;
  }

  try {
    await launch();
  } catch (err) {
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const running: RunningBerth = {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    username: "admin",
    password,
    get process() {
      return child;
    },
    basicAuth: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`,
    output: () => output,
    stop: () => waitExit("SIGTERM"),
    kill: () => waitExit("SIGKILL"),
    restart: async () => {
      await waitExit("SIGTERM");
      await launch();
    },
    dispose: async () => {
      await waitExit("SIGTERM");
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
    cli: (args) => runBerthCli([...args, "--data", dataDir], env),
  };
  return running;
}

/** `berth <args>` to completion; `cwd`: where it runs (the default data directory is ./data). */
export function runBerthCli(args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [berthBin, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // "close", not "exit": the output pipes may still hold data when the process exits.
    child.on("close", (code) => ok({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Two `berth serve` processes on one fresh data directory (two instances over one store), both
 * stopped and the directory removed after the test. `kill`: stop with SIGKILL, for servers whose
 * launcher ignores SIGTERM (unshare's parent hands its child a SIGTERM when killed).
 */
export async function startTwoBerths(t: { after(fn: () => Promise<void>): void }, options: Omit<StartOptions, "dataDir"> & { kill?: boolean } = {}): Promise<[RunningBerth, RunningBerth]> {
  const dataDir = await mkdtemp(join(tmpdir(), "berth-two-"));
  const servers: RunningBerth[] = [];
  t.after(async () => {
    await Promise.all(servers.map((s) => (options.kill ? s.kill() : s.stop())));
    await rm(dataDir, { recursive: true, force: true });
  });
  servers.push(await startBerth({ ...options, dataDir }));
  servers.push(await startBerth({ ...options, dataDir }));
  return servers as [RunningBerth, RunningBerth];
}

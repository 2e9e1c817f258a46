// The registry an end-to-end file drives: Berth, or with E2E_TARGET=distribution the CNCF
// reference registry (.tools/bin/registry, distribution v3). The second exists to check the
// tests themselves: a scenario that fails on Berth but passes on the reference points at
// Berth, one that fails on both points at the test. distribution has no referrers API and
// no sha512, so those checks are expected to fail there.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startBerth, startTwoBerths } from "./berth.ts";
import { startObjectStore } from "./object-stores.ts";
import { startPostgres } from "./postgres.ts";
import { startRoundRobin } from "./round-robin.ts";
import { findTool } from "./tools.ts";

export interface RegistryTarget {
  kind: "berth" | "berth-pair" | "distribution";
  /** host:port, as clients name the registry */
  host: string;
  url: string;
  username: string;
  password: string;
  /** Authorization header value for the admin user. */
  basicAuth: string;
  /** Whether GET /v2/<name>/referrers/<digest> is served (Berth: yes; distribution v3: no). */
  referrersApi: boolean;
  /** What the server printed so far, for failure messages. */
  output(): string;
  dispose(): Promise<void>;
}

/** `berthEnv`: extra settings for Berth (BERTH_* variables); the reference registry ignores them. */
export async function startTarget(berthEnv: Record<string, string> = {}): Promise<RegistryTarget> {
  const kind = process.env.E2E_TARGET ?? "berth";
  if (kind === "distribution") return startDistribution();
  if (kind !== "berth") throw new Error(`E2E_TARGET=${kind}: expected berth or distribution`);
  const berth = await startBerth({ env: berthEnv });
  return {
    kind: "berth",
    host: berth.host,
    url: berth.url,
    username: berth.username,
    password: berth.password,
    basicAuth: berth.basicAuth,
    referrersApi: true,
    output: berth.output,
    dispose: berth.dispose,
  };
}

/**
 * Two Berth instances on one store behind a round-robin balancer: every request, an upload's
 * PATCHes included, goes to the other instance than the one before.
 */
export async function startBerthPair(berthEnv: Record<string, string> = {}): Promise<RegistryTarget> {
  const disposers: (() => Promise<void>)[] = [];
  const [one, two] = await startTwoBerths({ after: (fn) => void disposers.push(fn) }, { env: berthEnv });
  const balancer = await startRoundRobin([one.url, two.url]);
  return {
    kind: "berth-pair",
    host: balancer.host,
    url: balancer.url,
    username: one.username,
    password: one.password,
    basicAuth: one.basicAuth,
    referrersApi: true,
    output: () => `--- instance 1\n${one.output()}\n--- instance 2\n${two.output()}`,
    dispose: async () => {
      await balancer.close();
      for (const dispose of disposers) await dispose();
    },
  };
}

/** startBerthPair on a fresh S3 bucket (versitygw) or Azure container (Azurite) and a fresh PostgreSQL database. */
export async function startObjectStorePair(kind: "s3" | "azure", berthEnv: Record<string, string> = {}): Promise<RegistryTarget> {
  const cluster = await startPostgres();
  let objects: Awaited<ReturnType<typeof startObjectStore>> | null = null;
  try {
    objects = await startObjectStore(kind);
    const pair = await startBerthPair({ ...berthEnv, ...objects.env, BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: await cluster.database() });
    const started = objects;
    return { ...pair, dispose: async () => { await pair.dispose(); await started.stop(); cluster.stop(); } };
  } catch (err) {
    await objects?.stop();
    cluster.stop();
    throw err;
  }
}

const password = "test-admin-password";
// bcrypt (cost 4, the minimum) of `password`: distribution's htpasswd takes bcrypt only, and
// checks it on every request, so the default cost 10+ turns a conformance run into minutes.
const htpasswd = "admin:$2b$04$PT.VporQX7CHeRqGVhWyyO217cO08Al7DQoXbWj3GmFB2BaZoMBam\n";

async function startDistribution(): Promise<RegistryTarget> {
  const binary = findTool("registry");
  if (!binary) throw new Error("E2E_TARGET=distribution needs .tools/bin/registry: run scripts/install-tools.sh");
  const dir = await mkdtemp(join(tmpdir(), "berth-e2e-distribution-"));
  const port = await freePort();
  await writeFile(join(dir, "htpasswd"), htpasswd);
  await writeFile(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: {level: warn}",
      `storage: {filesystem: {rootdirectory: ${join(dir, "data")}}, delete: {enabled: true}}`,
      `http: {addr: 127.0.0.1:${port}, secret: e2e-fixed-secret}`,
      `auth: {htpasswd: {realm: berth-e2e, path: ${join(dir, "htpasswd")}}}`,
      "",
    ].join("\n"),
  );
  let output = "";
  const child: ChildProcess = spawn(binary, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`registry exited with ${child.exitCode}:\n${output}`);
    // 401 is the healthy answer: the server is up and asks for credentials.
    const status = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
    if (status === 401 || status === 200) break;
    if (Date.now() > deadline) throw new Error(`registry did not answer within 20 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    kind: "distribution",
    host: `127.0.0.1:${port}`,
    url,
    username: "admin",
    password,
    basicAuth: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`,
    referrersApi: false,
    output: () => output,
    dispose: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The `scale` phase's servers: one S3 gateway (versitygw, as in the tests) and one PostgreSQL 15
// cluster, shared by every target of the run, each target on a bucket (and database) of its own:
// CNCF distribution with its S3 driver, Berth on S3 + PostgreSQL, and two Berth instances over one
// bucket and database behind a round-robin balancer. With `redirect`, blob GETs answer with a
// presigned URL (distribution's default on S3; Berth's storage.s3.redirect).
// All of them share this machine's cores with the gateway and the database: the numbers compare
// the registries on the same store, not the store's own limits.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startBerth, type RunningBerth } from "../test/support/berth.ts";
import { startVersitygw, type RunningS3 } from "../test/support/object-stores.ts";
import { startPostgres, type PostgresCluster } from "../test/support/postgres.ts";
import { startRoundRobin } from "../test/support/round-robin.ts";
import { distributionBin, type RunningTarget } from "./servers.ts";

export interface ScaleBackends {
  s3: RunningS3;
  postgres: PostgresCluster;
  stop(): Promise<void>;
}

export async function startScaleBackends(): Promise<ScaleBackends> {
  const s3 = await startVersitygw();
  let postgres: PostgresCluster;
  try {
    postgres = await startPostgres();
  } catch (error) {
    await s3.stop();
    throw error;
  }
  return {
    s3,
    postgres,
    stop: async () => {
      postgres.stop();
      await s3.stop();
    },
  };
}

async function berthEnv(backends: ScaleBackends, redirect: boolean, database?: string): Promise<Record<string, string>> {
  const { s3 } = backends;
  return {
    BERTH_LOG_LEVEL: "warn",
    BERTH_STORAGE_DRIVER: "s3",
    BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_S3_REGION: s3.region,
    BERTH_STORAGE_S3_BUCKET: await s3.bucket(),
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: "true",
    BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    BERTH_STORAGE_S3_REDIRECT: String(redirect),
    BERTH_METADATA_DRIVER: "postgres",
    BERTH_METADATA_POSTGRES_URL: database ?? (await backends.postgres.database()),
  };
}

function target(name: string, berth: RunningBerth, dispose: () => Promise<void>, url = berth.url): RunningTarget {
  return { name, url, headers: { authorization: berth.basicAuth }, pid: berth.process.pid!, tempDir: berth.dataDir, dispose };
}

/** Berth on its own bucket and database. */
export async function startBerthOnS3(backends: ScaleBackends, redirect: boolean): Promise<RunningTarget> {
  const berth = await startBerth({ env: await berthEnv(backends, redirect) });
  return target(redirect ? "Berth S3+PG, redirect" : "Berth S3+PG", berth, () => berth.dispose());
}

/** Two Berth instances over one bucket and one database, behind a round-robin balancer (pid: the first's). */
export async function startBerthPairOnS3(backends: ScaleBackends): Promise<RunningTarget> {
  const env = await berthEnv(backends, false);
  const one = await startBerth({ env });
  const two = await startBerth({ env, password: one.password });
  const balancer = await startRoundRobin([one.url, two.url]);
  return target("Berth ×2 S3+PG", one, async () => {
    await balancer.close();
    await Promise.all([one.dispose(), two.dispose()]);
  }, balancer.url);
}

/** distribution v3 with its S3 driver on its own bucket of the same gateway. */
export async function startDistributionOnS3(backends: Pick<ScaleBackends, "s3">, redirect: boolean): Promise<RunningTarget> {
  const { s3 } = backends;
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-distribution-s3-"));
  const port = await freePort();
  const config = {
    version: "0.1",
    log: { level: "error", accesslog: { disabled: true } },
    storage: {
      s3: {
        accesskey: s3.accessKeyId,
        secretkey: s3.secretAccessKey,
        region: s3.region,
        regionendpoint: s3.endpoint,
        forcepathstyle: true,
        bucket: await s3.bucket(),
        secure: false,
        v4auth: true,
        rootdirectory: "/",
      },
      delete: { enabled: true },
      redirect: { disable: !redirect },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: "berth-bench" },
  };
  const configPath = join(dir, "config.yml");
  await writeFile(configPath, JSON.stringify(config, null, 2));
  let output = "";
  const child = spawn(distributionBin, ["serve", configPath], { env: { ...process.env, OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "none" }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`distribution on S3 did not start:\n${output}`);
    }
    if ((await fetch(`${url}/v2/`).then((r) => r.status, () => 0)) === 200) break;
  }
  return { name: redirect ? "distribution S3, redirect" : "distribution S3", url, headers: {}, pid: child.pid!, tempDir: dir, dispose: stop };
}

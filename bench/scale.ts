// The `scale` phase's servers: one S3 gateway (versitygw, as in the tests) and one PostgreSQL 15
// cluster, shared by every target of the run, each target on a bucket (and database) of its own:
// CNCF distribution with its S3 driver, Berth on S3 + PostgreSQL, and two Berth instances over one
// bucket and database behind a round-robin balancer. With `redirect`, blob GETs answer with a
// presigned URL (distribution's default on S3; Berth's storage.s3.redirect). With
// --read-cache, Berth's streamed targets run with the read cache on (storage.cache.dir, a
// temporary directory per instance, far larger than the blobs): the first pull after a push reads
// the store and fills it, the later ones read the local file; the report's "the first after its
// push" row keeps the cold pull apart.
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

/** A read cache directory of its own (storage.cache.*) holding `maxBytes`; removed by `dispose`. */
async function readCache(maxBytes: number): Promise<{ env: Record<string, string>; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-read-cache-"));
  return {
    env: { BERTH_STORAGE_CACHE_DIR: dir, BERTH_STORAGE_CACHE_MAX_BYTES: String(maxBytes) },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What a read cache of the bench holds at most: every blob a run pulls, many times over. */
export function benchCacheBytes(blobBytes: number): number {
  return Math.max(16 * blobBytes, 4 * 1024 * 1024 * 1024);
}

/**
 * Berth on its own bucket and database; `cacheBytes`: with a read cache that large (streamed
 * reads only: a redirect never reads through Berth).
 */
export async function startBerthOnS3(backends: ScaleBackends, redirect: boolean, cacheBytes?: number): Promise<RunningTarget> {
  const cache = cacheBytes === undefined ? null : await readCache(cacheBytes);
  const berth = await startBerth({ env: { ...(await berthEnv(backends, redirect)), ...cache?.env } });
  const name = redirect ? "Berth S3+PG, redirect" : cache ? "Berth S3+PG, read cache" : "Berth S3+PG";
  return target(name, berth, async () => {
    await berth.dispose();
    await cache?.dispose();
  });
}

/**
 * Two Berth instances over one bucket and one database, behind a round-robin balancer (pid: the
 * first's); `cacheBytes`: each with a read cache of its own that large.
 */
export async function startBerthPairOnS3(backends: ScaleBackends, cacheBytes?: number): Promise<RunningTarget> {
  const env = await berthEnv(backends, false);
  const caches = cacheBytes === undefined ? [null, null] : [await readCache(cacheBytes), await readCache(cacheBytes)];
  const one = await startBerth({ env: { ...env, ...caches[0]?.env } });
  const two = await startBerth({ env: { ...env, ...caches[1]?.env }, password: one.password });
  const balancer = await startRoundRobin([one.url, two.url]);
  return target(cacheBytes === undefined ? "Berth ×2 S3+PG" : "Berth ×2 S3+PG, read cache", one, async () => {
    await balancer.close();
    await Promise.all([one.dispose(), two.dispose()]);
    await Promise.all(caches.map((c) => c?.dispose()));
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

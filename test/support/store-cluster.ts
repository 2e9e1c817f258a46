// Several `berth serve` instances as users deploy them for scale: metadata in one PostgreSQL
// database, blobs in one S3 bucket (versitygw) or Azure container (Azurite), every instance with
// the same settings (environment variables), plus a driver to look into the store and the CLI
// (`berth gc`, `berth fsck`) run with the same settings. One call starts the services and the
// instances; stop() ends them all.
import { mkdtemp, rm } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { BlobDriver } from "../../src/blobs/blob-driver.ts";
import { AzureBlobDriver } from "../../src/blobs/drivers/azure-blob.ts";
import { S3Driver } from "../../src/blobs/drivers/s3.ts";
import { runBerthCli, startBerth, type RunningBerth } from "./berth.ts";
import { OciClient, type Upload } from "./oci-client.ts";
import { startAzurite, startVersitygw } from "./object-stores.ts";
import { query, startPostgres, type PostgresCluster } from "./postgres.ts";

export type StoreKind = "s3" | "azure";

/** Every key under `prefix`, sorted. */
export async function keysOf(driver: BlobDriver, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of driver.list(prefix)) keys.push(entry.key);
  return keys.sort();
}

/**
 * keysOf, less the keys a blob row of Berth's SQLite database (`<dataDir>/berth.db`) names as
 * where its bytes are (published in place: migration 032): what is left over.
 */
export async function leftoverKeys(driver: BlobDriver, dataDir: string, prefix = "uploads"): Promise<string[]> {
  const db = new DatabaseSync(join(dataDir, "berth.db"), { readOnly: true });
  try {
    const named = new Set((db.prepare("select object_key from blobs where object_key is not null").all() as { object_key: string }[]).map((r) => r.object_key));
    return (await keysOf(driver, prefix)).filter((key) => !named.has(key));
  } finally {
    db.close();
  }
}

/** The key a blob row of Berth's SQLite database names as where its bytes are; null: the digest's own; undefined: no row. */
export function objectKeyIn(dataDir: string, digest: string): string | null | undefined {
  const db = new DatabaseSync(join(dataDir, "berth.db"), { readOnly: true });
  try {
    const row = db.prepare("select object_key from blobs where digest = ?").get(digest) as { object_key: string | null } | undefined;
    return row ? row.object_key : undefined;
  } finally {
    db.close();
  }
}

/** A started object store: Berth's settings for it, a driver to look into it, and how to stop it. */
export interface StoreBackend {
  env: Record<string, string>;
  driver: BlobDriver;
  /** Every key the store holds, as the driver lists it (committed objects and unfinished uploads). */
  keys(prefix: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** versitygw or Azurite with a fresh bucket/container; `redirect`: blob GETs answer 307 to the store. */
export async function startStoreBackend(kind: StoreKind, options: { redirect?: boolean } = {}): Promise<StoreBackend> {
  const redirect = String(options.redirect ?? true);
  let backend: Omit<StoreBackend, "keys">;
  if (kind === "s3") {
    const s3 = await startVersitygw();
    const bucket = await s3.bucket();
    const settings = { endpoint: s3.endpoint, region: s3.region, bucket, forcePathStyle: true, prefix: "registry" };
    const driver = new S3Driver({ ...settings, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    backend = {
      env: {
        BERTH_STORAGE_DRIVER: "s3",
        BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
        BERTH_STORAGE_S3_REGION: s3.region,
        BERTH_STORAGE_S3_BUCKET: bucket,
        BERTH_STORAGE_S3_FORCE_PATH_STYLE: "true",
        BERTH_STORAGE_S3_PREFIX: "registry",
        BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
        BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        BERTH_STORAGE_S3_REDIRECT: redirect,
      },
      driver,
      stop: async () => {
        driver.client.destroy();
        await s3.stop();
      },
    };
  } else {
    const azurite = await startAzurite();
    const container = await azurite.container();
    backend = {
      env: {
        BERTH_STORAGE_DRIVER: "azure",
        BERTH_STORAGE_AZURE_CONNECTION_STRING: azurite.connectionString,
        BERTH_STORAGE_AZURE_CONTAINER: container,
        BERTH_STORAGE_AZURE_PREFIX: "registry",
        BERTH_STORAGE_AZURE_REDIRECT: redirect,
      },
      driver: new AzureBlobDriver({ connectionString: azurite.connectionString, container, prefix: "registry" }),
      stop: () => azurite.stop(),
    };
  }
  return {
    ...backend,
    keys: (prefix) => keysOf(backend.driver, prefix),
  };
}

export interface StoreCluster {
  kind: StoreKind;
  instances: RunningBerth[];
  backend: StoreBackend;
  postgres: PostgresCluster;
  /** The settings every instance (and the CLI) runs with. */
  env: Record<string, string>;
  /** `berth <args>` with the instances' settings (gc, fsck), to completion. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /**
   * The keys under `prefix` that no blob row names: what is left over. A chunked upload's object
   * published in place stays under uploads/ as the blob (migration 032), so "nothing under
   * uploads/" is no longer what a clean store looks like.
   */
  leftover(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * `count` instances over one fresh PostgreSQL database and one fresh bucket or container.
 * `through`: the instances and the CLI reach the store at the URL it returns for the store's (a
 * proxy); the test's driver reaches it directly. `postgresSettings`: startPostgres's settings.
 */
export async function startStoreCluster(kind: StoreKind, count: number, options: { env?: Record<string, string>; redirect?: boolean; through?: (storeUrl: string) => Promise<string>; postgresSettings?: Record<string, string> } = {}): Promise<StoreCluster> {
  const postgres = await startPostgres({ settings: options.postgresSettings });
  const stops: (() => Promise<void>)[] = [async () => postgres.stop()];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => undefined);
  };
  try {
    const url = await postgres.database();
    const backend = await startStoreBackend(kind, { redirect: options.redirect });
    stops.push(() => backend.stop());
    const dataDir = await mkdtemp(join(tmpdir(), `berth-${kind}-pg-`));
    stops.push(() => rm(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = { ...backend.env, BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url, BERTH_METADATA_POSTGRES_POOL_SIZE: "4", ...options.env };
    const served = { ...env };
    if (options.through && kind === "s3") served.BERTH_STORAGE_S3_ENDPOINT = await options.through(env.BERTH_STORAGE_S3_ENDPOINT!);
    if (options.through && kind === "azure") {
      const endpoint = /BlobEndpoint=([^;]+)/.exec(env.BERTH_STORAGE_AZURE_CONNECTION_STRING!)![1]!;
      const origin = new URL(endpoint).origin;
      served.BERTH_STORAGE_AZURE_CONNECTION_STRING = env.BERTH_STORAGE_AZURE_CONNECTION_STRING!.replace(origin, await options.through(origin));
    }
    const instances: RunningBerth[] = [];
    // Stopped first (before the store they hold connections to), whatever happened since.
    stops.push(async () => {
      await Promise.all(instances.map((b) => b.kill()));
    });
    // One after the other: the first migrates the empty database (starting together is tested elsewhere).
    for (let i = 0; i < count; i++) instances.push(await startBerth({ dataDir, env: served }));
    const cliEnv = { ...process.env, BERTH_ADMIN_PASSWORD: instances[0]!.password, BERTH_LOG_LEVEL: "warn", ...served };
    const leftover = async (prefix = "uploads") => {
      const named = new Set((await query<{ object_key: string }>(url, "select object_key from blobs where object_key is not null")).map((r) => r.object_key));
      return (await keysOf(backend.driver, prefix)).filter((key) => !named.has(key));
    };
    return { kind, instances, backend, postgres, env: served, cli: (args) => runBerthCli([...args, "--data", dataDir], cliEnv), leftover, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A proxy between Berth and the store (stalling-proxy.ts, cutting-proxy.ts). */
export interface StoreProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * Two instances over one store, reached through the proxies `chain` starts in front of it (the
 * store's side first; the instances talk to the last), all stopped after the test, the proxies
 * after the instances. A client on each (`a` on the first, the one the tests kill), and `on`,
 * which sends an upload on through another instance (its Location moved there).
 */
export async function startStorePair<P extends readonly StoreProxy[]>(t: TestContext, kind: StoreKind, chain: (storeUrl: string) => Promise<P>, options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  let proxies!: P;
  const cluster = await startStoreCluster(kind, 2, {
    env: options.env,
    through: async (url) => {
      proxies = await chain(url);
      return proxies.at(-1)!.url;
    },
  });
  t.after(async () => {
    await cluster.stop();
    for (const proxy of [...proxies].reverse()) await proxy.close();
  });
  const [first, second] = cluster.instances as [RunningBerth, RunningBerth];
  const client = (berth: RunningBerth) => new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: options.timeoutMs ?? 120_000 });
  const on = (client: OciClient, upload: Upload): Upload => ({ ...upload, location: client.url(new URL(upload.location).pathname) });
  return { cluster, proxies, first, second, a: client(first), b: client(second), on };
}

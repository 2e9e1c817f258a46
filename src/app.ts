// Builds Berth from a configuration: stores, then services, then the HTTP app with its handler
// groups. Backends are picked here, openly.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Kysely } from "kysely";
import type { FastifyInstance } from "fastify";
import { Authenticator, ADMIN_USER } from "./auth/authenticator.ts";
import { Authorizer } from "./auth/authorizer.ts";
import { generatePassword, hashPassword, verifyPassword } from "./auth/passwords.ts";
import { BlobStore } from "./blobs/blob-store.ts";
import { FilesystemDriver } from "./blobs/drivers/filesystem.ts";
import type { Config } from "./config/schema.ts";
import { ociPlugin } from "./handlers/oci/plugin.ts";
import { Guard } from "./http/guard.ts";
import { createServer } from "./http/server.ts";
import { KyselyMetadataStore } from "./metadata/kysely-store.ts";
import type { Database } from "./metadata/schema.ts";
import { openSqlite } from "./metadata/sqlite/node-sqlite-dialect.ts";
import type { MetadataStore } from "./metadata/types.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { Metrics } from "./observability/metrics.ts";
import { BlobService } from "./services/blob-service.ts";
import { ManifestService } from "./services/manifest-service.ts";
import { UploadService } from "./services/upload-service.ts";
import { DEFAULT_CHART_LIMITS } from "./services/charts/archive.ts";
import { ChartIndex } from "./services/charts/chart-index.ts";
import { ChartService } from "./services/charts/chart-service.ts";
import { helmPlugin } from "./handlers/helm/plugin.ts";

export interface Stores {
  metadata: MetadataStore;
  blobs: BlobStore;
  close(): Promise<void>;
}

/** Opens the embedded default: blobs under <data>/, metadata in <data>/berth.db. */
export async function openStores(config: Config): Promise<Stores> {
  const data = resolve(config.storage.data);
  mkdirSync(data, { recursive: true });
  const { dialect } = openSqlite(join(data, "berth.db"));
  const metadata = await KyselyMetadataStore.open(new Kysely<Database>({ dialect }));
  const blobs = new BlobStore(new FilesystemDriver(data));
  return { metadata, blobs, close: () => metadata.close() };
}

export interface BerthApp {
  app: FastifyInstance;
  stores: Stores;
  uploads: UploadService;
  logger: Logger;
  /** The admin password when this start generated it (to print once), else null. */
  generatedPassword: string | null;
  close(): Promise<void>;
}

/** Sets the admin password from configuration, or generates one on first start. */
async function ensureAdmin(metadata: MetadataStore, configured: string | undefined): Promise<string | null> {
  const stored = await metadata.users.passwordHash(ADMIN_USER);
  if (configured !== undefined) {
    if (!stored || !(await verifyPassword(configured, stored))) await metadata.users.setPassword(ADMIN_USER, await hashPassword(configured));
    return null;
  }
  if (stored) return null;
  const generated = generatePassword();
  await metadata.users.setPassword(ADMIN_USER, await hashPassword(generated));
  return generated;
}

export async function buildApp(config: Config, logger: Logger = createLogger(config.log.level)): Promise<BerthApp> {
  const stores = await openStores(config);
  const generatedPassword = await ensureAdmin(stores.metadata, config.auth.adminPassword);
  const metrics = new Metrics();
  const authorizer = new Authorizer({ anonymousPull: config.auth.anonymousPull, realm: config.auth.realm });
  const guard = new Guard(new Authenticator(stores.metadata.users), authorizer);
  const uploads = new UploadService(stores.metadata, stores.blobs);
  const chartIndex = new ChartIndex(stores.metadata, stores.blobs, config.helm.views);
  await chartIndex.load();
  const manifests = new ManifestService(stores.metadata, { allowSparse: config.manifests.allowSparse, charts: chartIndex });
  const charts = new ChartService(stores.metadata, stores.blobs, manifests, chartIndex, {
    maxUploadBytes: config.helm.maxUploadBytes,
    limits: {
      ...DEFAULT_CHART_LIMITS,
      maxDecompressedBytes: config.helm.maxDecompressedBytes,
      maxFileBytes: config.helm.maxFileBytes,
      maxFiles: config.helm.maxFiles,
    },
  });
  const app = createServer({
    logger,
    metrics,
    healthy: async () => (await stores.metadata.repositories.list({ limit: 1 }), true),
  });
  await app.register(ociPlugin, {
    prefix: "/v2",
    guard,
    services: {
      blobs: new BlobService(stores.metadata, stores.blobs),
      uploads,
      manifests,
      authorizer,
      metrics,
      manifestMaxBytes: config.manifests.maxBytes,
    },
  });
  await app.register(helmPlugin, { guard, authorizer, charts });
  return {
    app,
    stores,
    uploads,
    logger,
    generatedPassword,
    close: async () => {
      await app.close();
      await stores.close();
    },
  };
}

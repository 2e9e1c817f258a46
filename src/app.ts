// Builds Berth from a configuration: stores, then services, then the HTTP app with its handler
// groups. Backends are picked here, openly.
import type { IncomingMessage, ServerResponse } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { hostname } from "node:os";
import { Kysely, type Dialect } from "kysely";
import type { FastifyInstance } from "fastify";
import { AuditLog } from "./auth/audit.ts";
import { Authenticator } from "./auth/authenticator.ts";
import { SignInLimiter } from "./auth/rate-limit.ts";
import { SessionService } from "./auth/sessions.ts";
import { TokenService } from "./auth/token-service.ts";
import { tokenPlugin } from "./handlers/token/plugin.ts";
import { apiPlugin } from "./handlers/api/plugin.ts";
import { portalPlugin } from "./handlers/portal/plugin.ts";
import { IdentityService } from "./services/identities/identity-service.ts";
import { Authorizer } from "./auth/authorizer.ts";
import { generatePassword, hashPassword, verifyPassword } from "./auth/passwords.ts";
import { BlobStore } from "./blobs/blob-store.ts";
import type { ReadCache } from "./blobs/read-cache.ts";
import type { BlobDriver } from "./blobs/blob-driver.ts";
import { AzureBlobDriver } from "./blobs/drivers/azure-blob.ts";
import { FilesystemDriver } from "./blobs/drivers/filesystem.ts";
import { S3Driver } from "./blobs/drivers/s3.ts";
import type { Config } from "./config/schema.ts";
import { ociPlugin } from "./handlers/oci/plugin.ts";
import { Guard } from "./http/guard.ts";
import { createServer, SHUTDOWN_GRACE_MS } from "./http/server.ts";
import { KyselyMetadataStore } from "./metadata/kysely-store.ts";
import type { Database } from "./metadata/schema.ts";
import { openSqlite } from "./metadata/sqlite/node-sqlite-dialect.ts";
import { openPostgres } from "./metadata/postgres/postgres-dialect.ts";
import { ChangeAnnouncements } from "./metadata/postgres/change-announcements.ts";
import type { MetadataStore } from "./metadata/types.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { Metrics } from "./observability/metrics.ts";
import { StorageSpace } from "./observability/storage-space.ts";
import { BlobService } from "./services/blob-service.ts";
import { ManifestService } from "./services/manifest-service.ts";
import { DeletedContent } from "./services/trash.ts";
import { RefusalLog } from "./services/policy-refusals.ts";
import { StagingBound } from "./services/quotas.ts";
import { RetentionService } from "./services/retention.ts";
import { UploadService } from "./services/upload-service.ts";
import { DEFAULT_CHART_LIMITS } from "./services/charts/archive.ts";
import { ChartIndex } from "./services/charts/chart-index.ts";
import { CatalogService } from "./services/catalog/catalog-service.ts";
import { SearchService } from "./services/catalog/search-service.ts";
import { ChartService } from "./services/charts/chart-service.ts";
import { helmPlugin } from "./handlers/helm/plugin.ts";
import { ProvenanceIndexer } from "./services/provenance/indexer.ts";
import { SignatureTrust } from "./services/provenance/signature-trust.ts";
import { recomputeInBackground } from "./services/provenance/signature-verdicts.ts";
import { loadNotationTrust } from "./services/provenance/notation-trust.ts";
import { loadCosignKeys } from "./services/provenance/cosign-verify.ts";
import { PullPolicies } from "./services/provenance/pull-policy.ts";
import { ProvenanceReports } from "./services/provenance/report.ts";
import { RegistryMetadata } from "./services/provenance/registry-metadata.ts";
import { ChangeFeed } from "./services/events/feed.ts";
import { WebhookService } from "./services/events/webhook-service.ts";
import { WebhookWorker, type DeliverySettings } from "./services/events/webhook-worker.ts";
import { RequestsInFlight } from "./services/foreground.ts";

const ADMIN_ID = "admin";

export interface Stores {
  metadata: MetadataStore;
  blobs: BlobStore;
  /** The local read cache in front of an object store (storage.cache.dir), or null. */
  readCache: ReadCache | null;
  close(): Promise<void>;
}

/**
 * The blob backend storage.driver names: files under <data>/ (the embedded default, with its
 * direct-I/O and shared-memory fast paths), an S3 bucket, or an Azure Blob container.
 */
export function openBlobDriver(config: Config): BlobDriver {
  const { storage } = config;
  switch (storage.driver) {
    case "s3": {
      const s3 = storage.s3;
      return new S3Driver({
        bucket: s3.bucket!, // the schema requires it with driver s3
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: s3.forcePathStyle,
        ca: s3.caFile ? readFileSync(s3.caFile) : undefined,
        prefix: s3.prefix,
        credentials: s3.accessKeyId && s3.secretAccessKey ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } : undefined,
        redirect: s3.redirect,
        partSize: s3.partSize,
      });
    }
    case "azure": {
      const azure = storage.azure;
      return new AzureBlobDriver({ ...azure, container: azure.container! }); // the schema requires it with driver azure
    }
    case "filesystem":
      return new FilesystemDriver(resolve(storage.data), { directWrites: storage.directWrites });
  }
}

/** The metadata database: the embedded default, <data>/berth.db, or PostgreSQL (docs/scale.md). */
function metadataDialect(config: Config): Dialect {
  if (config.metadata.driver === "postgres") return openPostgres({ url: config.metadata.postgres.url!, poolSize: config.metadata.postgres.poolSize }).dialect;
  return openSqlite(join(resolve(config.storage.data), "berth.db")).dialect;
}

/**
 * The data directory, when something lives in it: the filesystem driver's blobs and uploads, or
 * berth.db (SQLite). With an object store and PostgreSQL nothing does: null, and no ./data appears.
 */
export function localData(config: Config): string | null {
  return config.storage.driver === "filesystem" || config.metadata.driver === "sqlite" ? resolve(config.storage.data) : null;
}

/** Opens the stores: metadata as metadata.driver says, blobs where storage.driver says. */
export async function openStores(config: Config): Promise<Stores> {
  const data = localData(config);
  if (data !== null) mkdirSync(data, { recursive: true });
  const metadata = await KyselyMetadataStore.open(new Kysely<Database>({ dialect: metadataDialect(config) }));
  const blobs = new BlobStore(openBlobDriver(config), metadata.blobs);
  const { cache } = config.storage;
  // Created where it is set, and only there: never the data directory (localData) on its behalf.
  const readCache = cache.dir === undefined ? null : await blobs.useReadCache(resolve(cache.dir), cache.maxBytes).catch((err: unknown) => {
    // A bare ENOTDIR or EACCES would not say which setting to fix.
    throw new Error(`storage.cache.dir (BERTH_STORAGE_CACHE_DIR) ${cache.dir} cannot hold the read cache: ${err instanceof Error ? err.message : String(err)}; set it to a writable directory`);
  });
  return {
    readCache,
    metadata,
    blobs,
    close: async () => {
      await blobs.close();
      await metadata.close();
    },
  };
}

/**
 * Every cache that mirrors the database reads the change log: rotated, disabled or deleted
 * credentials fail at once, attributes and charts apply at once, in this process before the
 * change's request answers and in every other within a second.
 */
async function startFeed(
  metadata: MetadataStore,
  logger: Logger,
  from: number,
  caches: { chartIndex: ChartIndex; authorizer: Authorizer; authenticator: Authenticator; tokens: TokenService },
): Promise<ChangeFeed> {
  const feed = new ChangeFeed(metadata.changes, logger);
  feed.subscribe({ apply: (entries) => caches.chartIndex.apply(entries), reload: () => caches.chartIndex.load() });
  feed.subscribe({
    apply: async (entries) => {
      const kinds = new Set(entries.map((e) => e.change.kind));
      if (kinds.has("identity.changed")) caches.authenticator.forget();
      if (kinds.has("attributes.changed")) await caches.authorizer.loadAttributes();
      if (kinds.has("signing-key.added")) await caches.tokens.reload();
    },
    reload: async () => {
      caches.authenticator.forget();
      await caches.authorizer.loadAttributes();
      await caches.tokens.reload();
    },
  });
  // A write has committed when this runs: a failure to catch up is logged (the timer catches up),
  // never turned into an error for a request whose change is stored.
  metadata.onCommit(() => feed.catchUp().catch((err: unknown) => logger.error({ err }, "catching up with the change log failed")));
  feed.start(from);
  return feed;
}

/** What webhook deliveries are allowed and how they retry (config webhooks.*), and who the events come from. */
function deliverySettings(config: Config): DeliverySettings {
  const w = config.webhooks;
  const publicUrl = config.http.publicUrl ?? null;
  return {
    policy: { allowedHosts: w.allowedHosts, allowPrivateAddresses: w.allowPrivateAddresses },
    source: { host: publicUrl ? new URL(publicUrl).host : `${hostname()}:${config.http.port}`, url: publicUrl },
    timeoutMs: w.timeout * 1000,
    backoffBaseMs: w.backoffBase * 1000,
    backoffCapMs: w.backoffCap * 1000,
    maxAttempts: w.maxAttempts,
    keepDeliveries: w.keepDeliveries,
    batchDelayMs: w.batchDelay * 1000,
  };
}

export interface BerthApp {
  app: FastifyInstance;
  metrics: Metrics;
  stores: Stores;
  uploads: UploadService;
  /** Delivers webhooks; `berth serve` ticks it on one instance at a time (background.ts). */
  webhooks: WebhookWorker;
  /** Retention runs; `berth serve` schedules them on one instance at a time (retention.interval). */
  retention: RetentionService;
  logger: Logger;
  /** The admin password when this start generated it (to print once), else null. */
  generatedPassword: string | null;
  /** Settles when the start's recompute of signature verification outcomes is done (signature-verdicts.ts). */
  verdictsComputed: Promise<void>;
  close(): Promise<void>;
}

/** Creates the admin principal on first start; sets its first password from configuration, or generates one. */
async function ensureAdmin(metadata: MetadataStore, configured: string | undefined): Promise<string | null> {
  // Hashing (scrypt) happens outside the transaction; deciding inside it, so two processes
  // starting on one empty database create one admin and print one password (the one stored).
  const existing = (await metadata.secrets.list(ADMIN_ID)).find((s) => s.slot === 1);
  if (configured !== undefined && existing && (await verifyPassword(configured, existing.hash))) return null;
  const password = configured ?? generatePassword();
  const hash = await hashPassword(password);
  return metadata.transaction(async (tx) => {
    // Insert-or-nothing, not read-then-insert: a second process waits for the first's row
    // (PostgreSQL) instead of failing on its key, then reads the first's secret below.
    await tx.principals.ensure({ id: ADMIN_ID, kind: "admin", name: ADMIN_ID, roles: ["owner"], scope: null, scopeMap: null, enabled: true, expiresAt: null, createdAt: new Date() });
    const first = (await tx.secrets.list(ADMIN_ID)).find((s) => s.slot === 1);
    if (configured === undefined && first) return null;
    if (first?.hash === existing?.hash || configured === undefined) {
      await tx.secrets.set(ADMIN_ID, { slot: 1, hash, expiresAt: null, createdAt: new Date() });
      // A configured password that changed revokes what the old one signed in, in every process.
      await tx.changes.append({ kind: "identity.changed", principal: ADMIN_ID, scopeMap: null });
    }
    return configured === undefined ? password : null;
  });
}

export async function buildApp(config: Config, logger: Logger = createLogger(config.log.level)): Promise<BerthApp> {
  const stores = await openStores(config);
  const generatedPassword = await ensureAdmin(stores.metadata, config.auth.adminPassword);
  // deletion.restorableFor holds for what was kept before it changed: lowered, records kept longer
  // expire that long after their delete; 0 (soft delete switched off) expires them all, and gc
  // forgets them and frees what only they used (found by attack: they stayed restorable for the
  // old window). Raised, it applies to later deletes only.
  const shortened = await stores.metadata.transaction((tx) => tx.trash.limitWindow(config.deletion.restorableFor));
  if (shortened > 0) logger.warn({ records: shortened, restorableFor: config.deletion.restorableFor }, "deleted content kept longer than deletion.restorableFor now expires by it (0: now; the next gc frees it)");
  // Where the change feed starts: read before any cache loads, so nothing committed meanwhile is missed.
  const feedFrom = await stores.metadata.changes.latest();
  const metrics = new Metrics();
  // Free space of what lives on the local disk (localData): an object store's space is its own.
  const data = localData(config);
  const space = data === null ? null : new StorageSpace(data, config.storage.minFreeBytes);
  if (space) metrics.watchStorage(() => space.report());
  const { readCache } = stores;
  if (readCache) metrics.watchReadCache(() => readCache.stats());
  const audit = new AuditLog(stores.metadata.audit, logger);
  const tokens = new TokenService(stores.metadata, { issuer: "berth", accessLifetimeSeconds: config.auth.tokenLifetime, refreshLifetimeSeconds: config.auth.refreshTokenLifetime });
  await tokens.load();
  const limiter = new SignInLimiter(stores.metadata.signInFailures, { perIdentity: config.auth.failedSignInsPerIdentity, perAddress: config.auth.failedSignInsPerAddress });
  const authenticator = new Authenticator(stores.metadata, tokens, audit, limiter);
  const authorizer = new Authorizer({ anonymousPull: config.auth.anonymousPull }, stores.metadata.attributes, stores.metadata.tags);
  await authorizer.loadAttributes();
  const sessions = new SessionService(stores.metadata.sessions, authenticator);
  const guard = new Guard(authenticator, authorizer, audit, { service: config.auth.service, publicUrl: config.http.publicUrl, realm: config.auth.realm, sessions });
  // One log of policy refusals per process, so its bound (one per repository and reason per 10 s) holds across the three ways in.
  const refusals = new RefusalLog(stores.metadata);
  // One staging bound too, so the usage it remembers serves every way a body comes in (quotas.ts).
  const staging = new StagingBound(stores.metadata);
  const uploads = new UploadService(stores.metadata, stores.blobs, refusals, staging);
  const chartIndex = new ChartIndex(stores.metadata, stores.blobs, config.helm.views);
  await chartIndex.load();
  const feed = await startFeed(stores.metadata, logger, feedFrom, { chartIndex, authorizer, authenticator, tokens });
  // PostgreSQL: other instances' commits are announced (LISTEN/NOTIFY), so the feed reads at once
  // instead of at its next tick; the tick stays as the safety net.
  const announcements = config.metadata.driver === "postgres" ? new ChangeAnnouncements(config.metadata.postgres.url!, logger) : null;
  announcements?.subscribe(() => void feed.poll().catch((err: unknown) => logger.error({ err }, "reading the change log failed")));
  await announcements?.start();
  const { trustPolicy, trustStore } = config.provenance;
  const notation = trustPolicy ? loadNotationTrust(trustPolicy, trustStore) : null;
  const registryName = config.provenance.registryName ?? (config.http.publicUrl ? new URL(config.http.publicUrl).host : undefined);
  const trust = new SignatureTrust({ notation, ...(registryName ? { registryName } : {}), cosignKeys: loadCosignKeys(config.provenance.cosignKeys) });
  const verdictsStop = new AbortController();
  const verdicts = recomputeInBackground(stores.metadata, trust, logger, verdictsStop.signal);
  const manifests = new ManifestService(stores.metadata, {
    allowSparse: config.manifests.allowSparse,
    charts: chartIndex,
    provenance: new ProvenanceIndexer(stores.blobs, { pushPolicies: config.provenance.pushPolicies, trust }),
    restorableFor: config.deletion.restorableFor,
    refusals,
  });
  const charts = new ChartService(stores.metadata, stores.blobs, manifests, chartIndex, {
    maxUploadBytes: config.helm.maxUploadBytes,
    limits: {
      ...DEFAULT_CHART_LIMITS,
      maxDecompressedBytes: config.helm.maxDecompressedBytes,
      maxFileBytes: config.helm.maxFileBytes,
      maxFiles: config.helm.maxFiles,
    },
  });
  const pullPolicies = new PullPolicies(stores.metadata, { policies: config.provenance.pullPolicies, notation, ...(registryName ? { registryName } : {}) });
  const app = createServer({
    logger,
    metrics,
    healthy: async () => (await stores.metadata.repositories.list({ limit: 1 }), true),
    publicUrl: config.http.publicUrl,
    trustProxy: config.http.trustProxy?.split(",").map((a) => a.trim()).filter(Boolean),
    storage: space ? () => space.report() : undefined,
    metricsAccess: config.metrics.port !== undefined ? null : config.metrics.access === "public" ? async () => {} : async (request) => void (await guard.requireSignIn(request)),
  });
  await app.register(ociPlugin, {
    prefix: "/v2",
    guard,
    services: {
      blobs: new BlobService(stores.metadata, stores.blobs, config.storage.redirectSeconds, refusals, staging, config.gc.gracePeriod),
      uploads,
      manifests,
      guard,
      metrics,
      manifestMaxBytes: config.manifests.maxBytes,
      pullPolicies,
    },
  });
  await app.register(helmPlugin, { guard, authorizer, charts });
  const identities = new IdentityService({ metadata: stores.metadata, passwords: { hash: hashPassword, generate: generatePassword } });
  const deliveries = deliverySettings(config);
  const webhooks = new WebhookService(stores.metadata, deliveries);
  // Requests in flight on this instance: the webhook worker's looks wait for a quiet moment (at most MAX_YIELD_MS).
  const inFlight = new RequestsInFlight();
  app.server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
    inFlight.enter();
    response.once("close", () => inFlight.leave());
  });
  const webhookWorker = new WebhookWorker(stores.metadata, deliveries, logger, inFlight);
  const retention = new RetentionService(stores.metadata, manifests, config.retention.gracePeriod);
  const reports = new ProvenanceReports(stores.metadata, trust);
  await app.register(apiPlugin, {
    guard, identities, reports, registryMetadata: new RegistryMetadata(stores.metadata),
    catalog: new CatalogService(stores.metadata, stores.blobs), search: new SearchService(stores.metadata, trust.fingerprint), manifests,
    deleted: new DeletedContent(stores.metadata, manifests), restorableFor: config.deletion.restorableFor,
    sessions, webhooks, retention, publicUrl: config.http.publicUrl,
    settings: {
      anonymousPull: config.auth.anonymousPull,
      pushPolicies: config.provenance.pushPolicies,
      pullPolicies: config.provenance.pullPolicies,
      verification: { notation: notation !== null && notation !== undefined, cosign: config.provenance.cosignKeys.length > 0 },
      source: "configuration",
    },
  });
  await app.register(portalPlugin);
  await app.register(tokenPlugin, { guard, authenticator, tokens, audit, exchangeLifetimeSeconds: config.auth.refreshTokenLifetime });
  return {
    app,
    metrics,
    stores,
    uploads,
    webhooks: webhookWorker,
    retention,
    logger,
    generatedPassword,
    verdictsComputed: verdicts,
    close: async () => {
      verdictsStop.abort();
      await verdicts;
      // The delivery requests and the HTTP requests in flight share shutdown's grace (each its own, at once).
      await Promise.all([webhookWorker.stop(SHUTDOWN_GRACE_MS), app.close()]);
      feed.stop();
      await announcements?.close();
      await stores.close();
    },
  };
}

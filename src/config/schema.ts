// The one typed configuration. Every setting has a default here, a YAML key, a BERTH_* variable
// and (for the common ones) a flag; docs/configuration.md lists them all.
import { z } from "zod";

const seconds = z.coerce.number().int().nonnegative();
/** AWS Signature Version 4: the longest a presigned URL may be valid. */
const S3_PRESIGN_MAX_SECONDS = 7 * 24 * 3600;
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes")]);

/** storage.s3: an S3 bucket (AWS, or an S3-compatible store by endpoint), for storage.driver s3. */
const S3Settings = z
  .strictObject({
    bucket: z.string().min(1).optional().describe("bucket (must exist); required with storage.driver s3"),
    region: z.string().min(1).default("us-east-1").describe("region of the bucket (S3-compatible stores mostly ignore it)"),
    endpoint: z.string().url().optional().describe("URL of an S3-compatible store, e.g. http://127.0.0.1:7070; default: AWS's own for the region"),
    forcePathStyle: bool.default(false).describe("address the bucket as <endpoint>/<bucket>/ instead of <bucket>.<endpoint> (most S3-compatible stores need true)"),
    caFile: z.string().min(1).optional().describe("PEM file of the certificate authorities to trust for an https endpoint, in place of Node's (a private CA, as MinIO or Ceph deployments often have); default: Node's trusted CAs and NODE_EXTRA_CA_CERTS"),
    prefix: z.string().optional().describe("keys live under <prefix>/ in the bucket (several registries, or other data, in one bucket)"),
    accessKeyId: z.string().min(1).optional().describe("access key; default: the AWS SDK's chain (AWS_ACCESS_KEY_ID, profiles, instance and pod roles)"),
    secretAccessKey: z.string().min(1).optional().describe("secret key, with accessKeyId"),
    redirect: bool.default(false).describe("answer blob GETs (after the access check) with a presigned URL to the bucket instead of streaming the bytes through Berth"),
    partSize: z.coerce.number().int().min(5 * 1024 * 1024).default(16 * 1024 * 1024).describe("bytes per multipart part (at least S3's 5 MiB); each upload in flight holds two parts in memory"),
  })
  .prefault({});

/** storage.azure: an Azure Blob Storage container, for storage.driver azure. */
const AzureSettings = z
  .strictObject({
    container: z.string().min(3).optional().describe("container (must exist); required with storage.driver azure"),
    connectionString: z.string().min(1).optional().describe("storage account connection string with its AccountKey (or set accountName and accountKey)"),
    accountName: z.string().min(1).optional().describe("storage account name, with accountKey, instead of a connection string"),
    accountKey: z.string().min(1).optional().describe("storage account key, with accountName"),
    endpoint: z.string().url().optional().describe("blob service URL with accountName (default: https://<accountName>.blob.core.windows.net)"),
    prefix: z.string().optional().describe("keys live under <prefix>/ in the container"),
    redirect: bool.default(false).describe("answer blob GETs (after the access check) with a read-only SAS URL instead of streaming the bytes through Berth"),
    blockSize: z.coerce.number().int().min(1024 * 1024).max(4000 * 1024 * 1024).default(16 * 1024 * 1024).describe("bytes per staged block at most (a chunk smaller than this is one block); each upload in flight holds two blocks in memory"),
  })
  .prefault({});

export const ConfigSchema = z.strictObject({
  http: z
    .strictObject({
      host: z.string().default("0.0.0.0").describe("address to listen on"),
      port: z.coerce.number().int().min(0).max(65535).default(5000).describe("port to listen on"),
      publicUrl: z.string().url().optional().describe("URL clients reach Berth at (behind a proxy); default: from each request's Host"),
      trustProxy: z
        .string()
        .optional()
        .describe("the reverse proxies in front of Berth (comma-separated addresses or CIDRs): their X-Forwarded-For then names the client, for sign-in limits, logs and the audit trail; default: none (the TCP peer is the client)"),
    })
    .prefault({}),
  storage: z
    .strictObject({
      driver: z.enum(["filesystem", "s3", "azure"]).default("filesystem").describe("where blobs live: filesystem (under storage.data), s3 (storage.s3.*) or azure (storage.azure.*); see docs/storage.md"),
      data: z.string().min(1).default("./data").describe("data directory: blobs/, uploads/ and berth.db (with metadata.driver sqlite); not created when nothing lives there (storage.driver s3 or azure with metadata.driver postgres)"),
      directWrites: bool.default(true).describe("write blobs with O_DIRECT where the filesystem allows it (less CPU per byte; see docs/storage.md)"),
      minFreeBytes: z.coerce.number().int().nonnegative().default(1024 * 1024 * 1024).describe("/healthz says degraded while the data directory's filesystem has less free space than this (bytes); not checked when nothing lives there (object storage with PostgreSQL)"),
      redirectSeconds: seconds.min(1).default(1200).describe("how long a blob GET's redirect URL (S3 presigned, Azure SAS; with storage.s3.redirect or storage.azure.redirect) stays valid (at most 604800, 7 days, with S3)"),
      s3: S3Settings,
      azure: AzureSettings,
      cache: z
        .strictObject({
          dir: z
            .string()
            .min(1)
            .optional()
            .describe("a local directory for a read cache of blob bytes in front of S3 or Azure (pulls served from local disk after the first; docs/storage.md, \"Read cache\"); default: none, no cache"),
          maxBytes: z.coerce.number().int().positive().default(10 * 1024 * 1024 * 1024).describe("bytes the read cache holds at most; least recently used blobs are evicted past it (a blob larger than this is never cached)"),
        })
        .prefault({}),
    })
    .superRefine((storage, ctx) => {
      // The chosen backend's required settings, named by their key (the rest are ignored).
      if (storage.driver === "s3" && !storage.s3.bucket) ctx.addIssue({ code: "custom", path: ["s3", "bucket"], message: "storage.driver is s3: set the bucket" });
      // A SigV4 presigned URL lasts at most 7 days: a longer one cannot be signed, and every blob GET would fail.
      if (storage.driver === "s3" && storage.s3.redirect && storage.redirectSeconds > S3_PRESIGN_MAX_SECONDS) {
        ctx.addIssue({ code: "custom", path: ["redirectSeconds"], message: `S3 presigned URLs last at most ${S3_PRESIGN_MAX_SECONDS} seconds (7 days)` });
      }
      // The filesystem driver's blobs are local files already: a second copy would only cost disk.
      if (storage.driver === "filesystem" && storage.cache.dir !== undefined) {
        ctx.addIssue({ code: "custom", path: ["cache", "dir"], message: "a read cache is for storage.driver s3 or azure; the filesystem driver reads its own files" });
      }
      if (storage.driver === "azure") {
        if (!storage.azure.container) ctx.addIssue({ code: "custom", path: ["azure", "container"], message: "storage.driver is azure: set the container" });
        if (!storage.azure.connectionString && !(storage.azure.accountName && storage.azure.accountKey)) {
          ctx.addIssue({ code: "custom", path: ["azure", "connectionString"], message: "storage.driver is azure: set a connection string, or accountName and accountKey" });
        }
      }
    })
    .prefault({}),
  metadata: z
    .strictObject({
      driver: z.enum(["sqlite", "postgres"]).default("sqlite").describe("where metadata lives: sqlite (berth.db in storage.data, one process) or postgres (metadata.postgres.url; several instances may share it, see docs/scale.md)"),
      postgres: z
        .strictObject({
          url: z.string().min(1).optional().describe("PostgreSQL (15 or later) connection URL, e.g. postgres://berth:secret@db:5432/berth; needed when metadata.driver is postgres"),
          poolSize: z.coerce.number().int().positive().default(10).describe("connections each process opens to PostgreSQL at most"),
        })
        .prefault({}),
    })
    .prefault({})
    .refine((m) => m.driver !== "postgres" || m.postgres.url !== undefined, { message: "needed when metadata.driver is postgres", path: ["postgres", "url"] }),
  auth: z
    .strictObject({
      adminPassword: z.string().min(8).optional().describe("the admin user's password (else generated on first start and printed once)"),
      anonymousPull: bool.default(false).describe("let requests without credentials pull"),
      realm: z.string().default("Berth").describe("realm in Basic WWW-Authenticate challenges"),
      service: z.string().optional().describe("token service name (the `service` of Bearer challenges and tokens); default: the Host clients use"),
      tokenLifetime: seconds.default(300).describe("seconds an access token from /oauth2/token lives"),
      refreshTokenLifetime: seconds.default(10_800).describe("seconds a refresh token (offline_token, /oauth2/exchange, berth login) lives"),
      failedSignInsPerIdentity: z.coerce.number().int().positive().default(10).describe("failed sign-ins of one name from one client address per minute before 429"),
      failedSignInsPerAddress: z.coerce.number().int().positive().default(100).describe("failed sign-ins per client address per minute before 429"),
    })
    .prefault({}),
  uploads: z
    .strictObject({
      expireAfter: seconds.default(86_400).describe("seconds an idle upload lives before it is purged"),
      purgeInterval: seconds.default(600).describe("seconds between purges of expired uploads"),
    })
    .prefault({}),
  manifests: z
    .strictObject({
      maxBytes: z.coerce.number().int().positive().default(4 * 1024 * 1024).describe("largest manifest accepted (413 above)"),
      allowSparse: bool.default(false).describe("accept manifests whose layers or index children were never pushed (mirrors of partial images)"),
    })
    .prefault({}),
  helm: z
    .strictObject({
      views: z
        .preprocess((v) => (typeof v === "string" ? JSON.parse(v) : v), z.record(z.string(), z.array(z.string())))
        .default({ repo: ["*"] })
        .describe("which OCI namespaces each classic repository lists: {name: [namespace | prefix/* | *]}; unlisted repositories list their own namespace"),
      maxUploadBytes: z.coerce.number().int().positive().default(20 * 1024 * 1024).describe("largest chart package accepted (413 above)"),
      maxDecompressedBytes: z.coerce.number().int().positive().default(100 * 1024 * 1024).describe("largest total size of a chart's files"),
      maxFileBytes: z.coerce.number().int().positive().default(5 * 1024 * 1024).describe("largest single file in a chart"),
      maxFiles: z.coerce.number().int().positive().default(10_000).describe("most files in a chart"),
    })
    .prefault({}),
  provenance: z
    .strictObject({
      pushPolicies: z
        .preprocess(
          (v) => (typeof v === "string" ? JSON.parse(v) : v),
          z.array(
            z.strictObject({
              name: z.string().min(1),
              repositories: z.array(z.string().min(1)).min(1),
              requireLabels: z.array(z.string().min(1)).default([]),
              requireAnnotations: z.array(z.string().min(1)).default([]),
            }),
          ),
        )
        .default([])
        .describe("refuse pushes of images lacking labels or annotations: [{name, repositories: [team/app | team/* | *], requireLabels: [...], requireAnnotations: [...]}]"),
      pullPolicies: z
        .preprocess(
          (v) => (typeof v === "string" ? JSON.parse(v) : v),
          z.array(z.strictObject({ name: z.string().min(1), repositories: z.array(z.string().min(1)).min(1) })),
        )
        .default([])
        .describe("refuse manifest pulls of images without a verified notation signature: [{name, repositories: [team/app | team/* | *]}]; needs trustPolicy"),
      cosignKeys: z
        .preprocess(
          (v) => (typeof v === "string" ? (v.trim().startsWith("[") ? JSON.parse(v) : v.split(",").map((f) => f.trim()).filter(Boolean)) : v),
          z.array(z.string().min(1)),
        )
        .default([])
        .describe("PEM public key files (cosign.pub) that cosign v3 signatures are verified with; default: cosign signatures are listed, not verified"),
      trustPolicy: z.string().min(1).optional().describe("notation trust policy file (trustpolicy.oci.json format) to verify notation signatures with; default: signatures are listed, not verified"),
      trustStore: z.string().min(1).optional().describe("notation trust store folder: x509/ca/<name>/*.pem|.crt|.cer, as notation lays it out"),
      registryName: z.string().min(1).optional().describe("host[:port] that trust policy registryScopes name (<registryName>/<repository>); default: http.publicUrl's host"),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      allowedHosts: z
        .preprocess((v) => (typeof v === "string" ? v.split(",").map((h) => h.trim()).filter(Boolean) : v), z.array(z.string().min(1)))
        .default(["*"])
        .describe("hosts webhook URLs may name: exact names, *.suffix, or * (any host); checked at create/update and again at each delivery"),
      allowPrivateAddresses: bool
        .default(false)
        .describe("let webhook hosts resolve to loopback, private, link-local or other non-public addresses (a receiver inside your network); default: refused, so a webhook cannot probe Berth's own network"),
      timeout: z.coerce.number().positive().default(10).describe("seconds a webhook delivery may take before it counts as failed"),
      backoffBase: z.coerce.number().positive().default(1).describe("seconds before a failed delivery's first retry; each retry waits twice the one before"),
      backoffCap: z.coerce.number().positive().default(30).describe("seconds a retry waits at most: a receiver back from an outage gets its first retry within this, and its backlog then drains"),
      maxAttempts: z.coerce.number().int().positive().default(250).describe("attempts before a delivery is given up (failed) and the webhook's next one goes"),
      keepDeliveries: z.coerce.number().int().positive().default(100).describe("finished deliveries kept per webhook (request, response status, latency, error)"),
      interval: z.coerce.number().positive().default(0.25).describe("seconds between the delivery worker's looks for new events (one instance delivers at a time)"),
      batchDelay: z.coerce
        .number()
        .min(0)
        .default(0.5)
        .describe("seconds a new delivery waits before its webhook's batch starts, so the events that follow it go in the same batch (beside a stream of pushes: fewer, larger batches); retries wait their backoff only; 0: at the next look"),
    })
    .prefault({}),
  retention: z
    .strictObject({
      interval: seconds
        .default(3600)
        .describe("seconds between scheduled retention runs inside berth serve (one instance runs them; 0: only on demand, berth retention run); with no policy a run does nothing"),
      gracePeriod: seconds
        .default(3600)
        .describe("seconds after its push an untagged manifest is safe from untagged policies, whatever their days (a multi-platform push sends its children before the index that names them)"),
    })
    .prefault({}),
  gc: z
    .strictObject({
      gracePeriod: seconds.default(3600).describe("seconds a blob must be unreferenced before gc may delete it"),
    })
    .prefault({}),
  deletion: z
    .strictObject({
      restorableFor: seconds
        .default(0)
        .describe("soft delete: seconds a deleted tag or manifest (a chart either way, a whole repository) stays restorable with berth repository restore, invisible to clients meanwhile; gc frees its blobs only after that (0: deletes are final)"),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      access: z
        .enum(["public", "signed-in"])
        .default("public")
        .describe("who may read /metrics on the registry's port: public (anyone; Berth warns at start) or signed-in (any identity's Basic credentials)"),
      port: z.coerce.number().int().min(0).max(65535).optional().describe("serve /metrics on this port of http.host instead, and not on the registry's port (e.g. for a scraper on a private network)"),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info").describe("log level"),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

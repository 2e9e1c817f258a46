import assert from "node:assert/strict";
import { writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, envName, loadConfig } from "../../src/config/load.ts";

test("defaults: port 5000, data ./data, anonymous pull off", () => {
  const config = loadConfig();
  assert.equal(config.http.port, 5000);
  assert.equal(config.storage.data, "./data");
  assert.equal(config.auth.anonymousPull, false);
  assert.equal(config.manifests.maxBytes, 4 * 1024 * 1024);
});

test("layers: file < environment < flags", async () => {
  const dir = await mkdtemp(join(tmpdir(), "berth-config-"));
  const file = join(dir, "berth.yml");
  await writeFile(file, "http:\n  port: 6000\nstorage:\n  data: /srv/from-file\ngc:\n  gracePeriod: 60\n");
  const fromFile = loadConfig({ file });
  assert.equal(fromFile.http.port, 6000);
  assert.equal(fromFile.gc.gracePeriod, 60);
  const fromEnv = loadConfig({ file, env: { BERTH_PORT: "7000", BERTH_GC_GRACE_PERIOD: "120", BERTH_ANONYMOUS_PULL: "true" } });
  assert.equal(fromEnv.http.port, 7000);
  assert.equal(fromEnv.gc.gracePeriod, 120);
  assert.equal(fromEnv.auth.anonymousPull, true);
  const fromFlags = loadConfig({ file, env: { BERTH_PORT: "7000" }, overrides: { "http.port": "8000", "storage.data": undefined } });
  assert.equal(fromFlags.http.port, 8000);
  assert.equal(fromFlags.storage.data, "/srv/from-file");
});

test("errors name the key and the variable", () => {
  assert.throws(() => loadConfig({ env: { BERTH_PORT: "eighty" } }), (err: Error) => err instanceof ConfigError && /http\.port/.test(err.message) && /BERTH_HTTP_PORT/.test(err.message));
  assert.throws(() => loadConfig({ overrides: { "http.port": 70000 } }), ConfigError);
});

test("unknown keys in the file are refused, and so are YAML alias bombs and duplicate keys", async () => {
  const dir = await mkdtemp(join(tmpdir(), "berth-config-"));
  const typo = join(dir, "typo.yml");
  await writeFile(typo, "http:\n  prot: 5000\n");
  assert.throws(() => loadConfig({ file: typo }), ConfigError);
  const bomb = join(dir, "bomb.yml");
  const lines = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 0; i < 12; i++) lines.push(`${"b".repeat(i + 1)}: &${"b".repeat(i + 1)} [${Array(9).fill(i === 0 ? "*a" : `*${"b".repeat(i)}`).join(", ")}]`);
  await writeFile(bomb, lines.join("\n") + "\n");
  assert.throws(() => loadConfig({ file: bomb }));
  const duplicate = join(dir, "dup.yml");
  await writeFile(duplicate, "http:\n  port: 1\nhttp:\n  port: 2\n");
  assert.throws(() => loadConfig({ file: duplicate }));
});

test("variable names follow the YAML path", () => {
  assert.equal(envName("uploads.expireAfter"), "BERTH_UPLOADS_EXPIRE_AFTER");
  assert.equal(envName("manifests.allowSparse"), "BERTH_MANIFESTS_ALLOW_SPARSE");
});

test("metadata: sqlite by default; postgres from the file or nested variables (BERTH_METADATA_POSTGRES_URL), and not without a URL", async () => {
  assert.equal(loadConfig().metadata.driver, "sqlite");
  const dir = await mkdtemp(join(tmpdir(), "berth-config-"));
  const file = join(dir, "berth.yml");
  await writeFile(file, "metadata:\n  driver: postgres\n  postgres:\n    url: postgres://berth@db/berth\n");
  assert.deepEqual(loadConfig({ file }).metadata, { driver: "postgres", postgres: { url: "postgres://berth@db/berth", poolSize: 10 } });
  assert.equal(envName("metadata.postgres.poolSize"), "BERTH_METADATA_POSTGRES_POOL_SIZE");
  const fromEnv = loadConfig({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: "postgres://x@y/z", BERTH_METADATA_POSTGRES_POOL_SIZE: "3" } });
  assert.deepEqual(fromEnv.metadata, { driver: "postgres", postgres: { url: "postgres://x@y/z", poolSize: 3 } });
  assert.throws(
    () => loadConfig({ env: { BERTH_METADATA_DRIVER: "postgres" } }),
    (err: Error) => err instanceof ConfigError && /metadata\.postgres\.url: needed when metadata\.driver is postgres/.test(err.message) && /BERTH_METADATA_POSTGRES_URL/.test(err.message),
  );
  assert.throws(() => loadConfig({ env: { BERTH_METADATA_DRIVER: "mysql" } }), (err: Error) => err instanceof ConfigError && /metadata\.driver/.test(err.message));
});

test("storage.driver: nested storage.s3.* and storage.azure.* settings from YAML and BERTH_STORAGE_S3_* variables; the chosen backend's required settings are named when missing", async () => {
  assert.equal(loadConfig().storage.driver, "filesystem");
  const s3 = loadConfig({ env: { BERTH_STORAGE_DRIVER: "s3", BERTH_STORAGE_S3_BUCKET: "b", BERTH_STORAGE_S3_FORCE_PATH_STYLE: "true", BERTH_STORAGE_S3_ACCESS_KEY_ID: "k", BERTH_STORAGE_S3_PART_SIZE: String(8 * 1024 * 1024) } });
  assert.deepEqual([s3.storage.driver, s3.storage.s3.bucket, s3.storage.s3.forcePathStyle, s3.storage.s3.accessKeyId, s3.storage.s3.partSize, s3.storage.s3.region], ["s3", "b", true, "k", 8 * 1024 * 1024, "us-east-1"]);
  const dir = await mkdtemp(join(tmpdir(), "berth-config-"));
  const file = join(dir, "azure.yml");
  await writeFile(file, "storage:\n  driver: azure\n  azure:\n    container: blobs\n    accountName: acct\n    accountKey: a2V5\n    redirect: true\n");
  const azure = loadConfig({ file });
  assert.deepEqual([azure.storage.azure.container, azure.storage.azure.accountName, azure.storage.azure.redirect], ["blobs", "acct", true]);
  assert.throws(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: "s3" } }), (err: Error) => err instanceof ConfigError && /storage\.s3\.bucket/.test(err.message) && /BERTH_STORAGE_S3_BUCKET/.test(err.message));
  assert.throws(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: "azure", BERTH_STORAGE_AZURE_CONTAINER: "c" } }), (err: Error) => err instanceof ConfigError && /BERTH_STORAGE_AZURE_CONNECTION_STRING/.test(err.message));
  assert.throws(() => loadConfig({ env: { BERTH_STORAGE_S3_PART_SIZE: "1024" } }), (err: Error) => err instanceof ConfigError && /storage\.s3\.partSize/.test(err.message));
  assert.throws(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: "gcs" } }), ConfigError);
  assert.equal(envName("storage.s3.secretAccessKey"), "BERTH_STORAGE_S3_SECRET_ACCESS_KEY");
});

test("storage.redirectSeconds: refused above 7 days with S3 redirects (SigV4 presigned URLs last at most 604800 s; found by attack: every blob GET answered 500), allowed with Azure", () => {
  const s3 = { BERTH_STORAGE_DRIVER: "s3", BERTH_STORAGE_S3_BUCKET: "b", BERTH_STORAGE_S3_REDIRECT: "true" };
  assert.throws(() => loadConfig({ env: { ...s3, BERTH_STORAGE_REDIRECT_SECONDS: "604801" } }), (err: Error) => err instanceof ConfigError && /storage\.redirectSeconds/.test(err.message) && /BERTH_STORAGE_REDIRECT_SECONDS/.test(err.message));
  assert.equal(loadConfig({ env: { ...s3, BERTH_STORAGE_REDIRECT_SECONDS: "604800" } }).storage.redirectSeconds, 604800);
  assert.equal(loadConfig({ env: { BERTH_STORAGE_DRIVER: "azure", BERTH_STORAGE_AZURE_CONTAINER: "berth", BERTH_STORAGE_AZURE_CONNECTION_STRING: "x", BERTH_STORAGE_AZURE_REDIRECT: "true", BERTH_STORAGE_REDIRECT_SECONDS: "700000" } }).storage.redirectSeconds, 700000);
});

test("storage.cache: off by default; dir and maxBytes from BERTH_STORAGE_CACHE_*; refused with the filesystem driver, whose blobs are local files already", () => {
  const s3 = { BERTH_STORAGE_DRIVER: "s3", BERTH_STORAGE_S3_BUCKET: "b" };
  assert.deepEqual(loadConfig({ env: s3 }).storage.cache, { maxBytes: 10 * 1024 * 1024 * 1024 });
  assert.deepEqual(loadConfig({ env: { ...s3, BERTH_STORAGE_CACHE_DIR: "/var/cache/berth", BERTH_STORAGE_CACHE_MAX_BYTES: "1048576" } }).storage.cache, { dir: "/var/cache/berth", maxBytes: 1048576 });
  assert.throws(() => loadConfig({ env: { BERTH_STORAGE_CACHE_DIR: "/var/cache/berth" } }), (err: Error) => err instanceof ConfigError && /storage\.cache\.dir/.test(err.message) && /BERTH_STORAGE_CACHE_DIR/.test(err.message));
  assert.throws(() => loadConfig({ env: { ...s3, BERTH_STORAGE_CACHE_MAX_BYTES: "0" } }), (err: Error) => err instanceof ConfigError && /BERTH_STORAGE_CACHE_MAX_BYTES/.test(err.message));
});

// S3 over https with a private CA (storage.s3.caFile): versitygw serves TLS with a certificate no
// public CA signed, as MinIO or Ceph deployments often do. Both of Berth's ways to the store must
// check that certificate against the configured CA: the SDK's requests (pushes, HEADs, deletes)
// and the pull's own-socket reader (s3-body.ts), which opens its TLS connection itself. The reader
// falls back to the SDK on any failure, so a pull byte-identical through Berth alone would not
// show it works; the reader is also asked directly: it serves with the CA and refuses without it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { openS3Body } from "../../src/blobs/drivers/s3-body.ts";
import { S3Driver } from "../../src/blobs/drivers/s3.ts";
import { startBerth } from "../support/berth.ts";
import { missingStore, s3BerthEnv, startVersitygw, type StoreTls } from "../support/object-stores.ts";
import { requireTool, runOk } from "../support/tools.ts";

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const missing = missingStore("s3");
if (missing && process.env.CI === "true") throw new Error(missing);

/** A self-signed certificate for 127.0.0.1 (its own CA), made by openssl. */
async function certificate(dir: string): Promise<StoreTls & { caFile: string }> {
  const keyFile = join(dir, "store.key");
  const certFile = join(dir, "store.crt");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=berth-test-store",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", certFile,
  ], { stdio: "pipe" });
  return { keyFile, certFile, caFile: certFile, ca: await readFile(certFile) };
}

test("S3 over https with a private CA: the SDK and the pull's own reader both trust storage.s3.caFile and nothing else; oras pushes and pulls byte-identical through Berth", { timeout: 300_000, skip: missing ?? false }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const dir = await mkdtemp(join(tmpdir(), "berth-s3-https-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tls = await certificate(dir);
  const s3 = await startVersitygw(tls);
  t.after(() => s3.stop());
  assert.match(s3.endpoint, /^https:/);
  const bucket = await s3.bucket();

  // The driver alone: the SDK with the CA writes; the reader, given the same CA, serves the bytes.
  const driver = new S3Driver({ bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, ca: tls.ca });
  t.after(() => driver.client.destroy());
  const bytes = randomBytes(3 * MiB + 11);
  await driver.client.send(new PutObjectCommand({ Bucket: bucket, Key: "probe", Body: bytes }));
  const url = new URL(await getSignedUrl(driver.client, new GetObjectCommand({ Bucket: bucket, Key: "probe" }), { expiresIn: 60 }));
  const body = await openS3Body(url, undefined, tls.ca);
  assert.ok(body, "the own-socket reader serves an https store's plain 200");
  assert.equal(sha256(Buffer.concat(await body.toArray())), sha256(bytes));
  const ranged = await openS3Body(url, { start: MiB, end: 2 * MiB - 1 }, tls.ca);
  assert.equal(sha256(Buffer.concat(await ranged!.toArray())), sha256(bytes.subarray(MiB, 2 * MiB)), "a range over https");
  await assert.rejects(openS3Body(url), /self[- ]signed|unable to verify|certificate/i, "without the CA the certificate is refused, not trusted");
  assert.equal(sha256(Buffer.concat(await (await driver.read("probe")).toArray())), sha256(bytes), "driver.read");

  // Berth over the same store, configured by its settings; oras pushes and pulls through it.
  const berth = await startBerth({ env: { ...s3BerthEnv(s3, bucket), BERTH_STORAGE_S3_CA_FILE: tls.caFile } });
  t.after(() => berth.dispose());
  const env = { ...process.env, HOME: dir };
  const remote = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  const layer = randomBytes(5 * MiB + 3);
  await writeFile(join(dir, "layer.bin"), layer);
  await runOk(oras, ["login", ...remote, "-u", berth.username, "--password-stdin", berth.host], { env, input: berth.password });
  await runOk(oras, ["push", ...remote, `${berth.host}/team/tls:v1`, "layer.bin:application/octet-stream"], { env, cwd: dir });
  await rm(join(dir, "layer.bin"));
  await runOk(oras, ["pull", ...remote, "-o", join(dir, "out"), `${berth.host}/team/tls:v1`], { env, cwd: dir });
  assert.equal(sha256(await readFile(join(dir, "out", "layer.bin"))), sha256(layer));
  assert.doesNotMatch(berth.output(), /"level":(50|60)/, "no error logged");
});

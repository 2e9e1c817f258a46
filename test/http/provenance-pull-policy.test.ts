// Pull policies: GET/HEAD of a manifest in a covered repository needs a notation signature that
// verifies (on the manifest, or on an index naming it); otherwise 403 DENIED saying why. Callers
// that may push, other repositories, signatures and attestations are never refused.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { loadConfig } from "../../src/config/load.ts";
import { buildApp } from "../../src/app.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";
import { generateTestCertificate, jwsEnvelope, notationJwsSignature, writeTrust } from "../support/notation.ts";
import { attestedIndex, type Blob, type Built } from "../support/provenance-images.ts";

async function push(app: TestApp, repo: string, built: Built, tag?: { manifest: Blob; tag: string }): Promise<void> {
  for (const b of built.blobs) {
    const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 201, `blob push: ${res.body}`);
  }
  for (const m of built.manifests) assert.equal((await putManifest(app, repo, tag?.manifest === m ? tag.tag : m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType)).status, 201);
}

async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "berth-pull-policy-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = generateTestCertificate(dir, "berth-signer");
  if (!cert) {
    t.skip("openssl is not installed");
    return null;
  }
  const trust = writeTrust(dir, "acme", [cert]);
  const app = await freshApp(t, {
    "auth.anonymousPull": true,
    "provenance.trustPolicy": trust.policyFile,
    "provenance.trustStore": trust.storeDir,
    "provenance.pullPolicies": [{ name: "signed-only", repositories: ["team/*"] }],
  });
  return { app, cert };
}

const pull = (app: TestApp, method: "GET" | "HEAD", repo: string, reference: string) =>
  app.request(method, `/v2/${repo}/manifests/${reference}`, { auth: null, headers: { accept: "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json" } });

test("pull policy: an index signed with a trusted notation signature is pulled, and so are its platform manifests", async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { app, cert } = ready;
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const subject = { mediaType: image.index.mediaType, digest: image.index.digest, size: image.index.size };
  const signature = notationJwsSignature(jwsEnvelope(cert, subject), cert, image.index);
  await push(app, "team/app", signature);

  for (const method of ["GET", "HEAD"] as const) {
    assert.equal((await pull(app, method, "team/app", "v1")).status, 200);
    for (const p of image.platforms) assert.equal((await pull(app, method, "team/app", p.manifest.digest)).status, 200, `${method} ${p.manifest.digest}`);
  }
  // The signature itself is what verifiers read: never refused.
  assert.equal((await pull(app, "GET", "team/app", signature.signature.digest)).status, 200);
});

test("pull policy: an unsigned image is refused with 403 DENIED saying so; pushers, other repositories and attestations are not refused", async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { app } = ready;
  const image = attestedIndex();
  await push(app, "team/unsigned", image, { manifest: image.index, tag: "v1" });
  await push(app, "other/app", image, { manifest: image.index, tag: "v1" });

  const refused = await pull(app, "GET", "team/unsigned", "v1");
  assert.equal(refused.status, 403);
  assert.equal(refused.errorCode(), "DENIED");
  const message = refused.json().errors[0].message as string;
  assert.match(message, /^pull refused by policy "signed-only": team\/unsigned@sha256:[0-9a-f]{64} has no notation signature; sign it/);
  assert.equal((await pull(app, "HEAD", "team/unsigned", "v1")).status, 403);
  const platform = await pull(app, "GET", "team/unsigned", image.platforms[0]!.manifest.digest);
  assert.equal(platform.status, 403);
  assert.match(platform.json().errors[0].message, /has no notation signature, nor has an index naming it/);

  assert.equal((await app.request("GET", "/v2/team/unsigned/manifests/v1")).status, 200, "the admin may push: not refused");
  assert.equal((await pull(app, "GET", "other/app", "v1")).status, 200, "no policy covers other/app");
  assert.equal((await pull(app, "GET", "team/unsigned", image.artifactAttestation.digest)).status, 200, "attestations are not refused");
});

test("pull policy: a signature that does not verify (tampered envelope) is refused with its reason", async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { app, cert } = ready;
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const subject = { mediaType: image.index.mediaType, digest: image.index.digest, size: image.index.size };
  await push(app, "team/app", notationJwsSignature(jwsEnvelope(cert, subject, { tamper: true }), cert, image.index));
  const refused = await pull(app, "GET", "team/app", "v1");
  assert.equal(refused.status, 403);
  assert.match(refused.json().errors[0].message, /has no verified notation signature: signature not verified: sha256:[0-9a-f]{64}: integrity: the signature does not verify/);
  const platform = await pull(app, "HEAD", "team/app", image.platforms[1]!.manifest.digest);
  assert.equal(platform.status, 403);
});

test("pull policy without a trust policy is a configuration error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-pull-policy-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = loadConfig({ overrides: { "storage.data": dir, "auth.adminPassword": "x-password-123", "provenance.pullPolicies": [{ name: "p", repositories: ["*"] }] } });
  await assert.rejects(buildApp(config, createLogger("silent")), /provenance\.pullPolicies need provenance\.trustPolicy/);
});

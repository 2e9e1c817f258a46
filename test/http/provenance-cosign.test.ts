// Cosign v3 signatures (Sigstore bundle referrers with a DSSE envelope) verified against the public
// keys in provenance.cosignKeys, with node:crypto, from the bundle kept at push.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";
import { attestedIndex, cosignBundleSignature, type Blob, type Built } from "../support/provenance-images.ts";

async function push(app: TestApp, repo: string, built: Built, tag?: { manifest: Blob; tag: string }): Promise<void> {
  for (const b of built.blobs) {
    const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 201, `blob push: ${res.body}`);
  }
  for (const m of built.manifests) assert.equal((await putManifest(app, repo, tag?.manifest === m ? tag.tag : m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType)).status, 201);
}

const keyPair = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" });

async function keyFile(t: TestContext, publicKey: ReturnType<typeof keyPair>["publicKey"]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-cosign-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "cosign.pub");
  await writeFile(file, publicKey.export({ type: "spki", format: "pem" }));
  return file;
}

/** Pushes an index and `sign(index)`; returns the one signature of the report. */
async function signature(app: TestApp, sign: (subject: Blob) => Built) {
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  await push(app, "team/app", sign(image.index));
  const report = (await app.request("GET", "/api/v1/provenance/team/app/v1")).json();
  assert.equal(report.signatures.length, 1, JSON.stringify(report.signatures));
  return { report, signature: report.signatures[0] };
}

test("cosign bundle: verified with the configured public key", async (t) => {
  const { privateKey, publicKey } = keyPair();
  const file = await keyFile(t, publicKey);
  const app = await freshApp(t, { "provenance.cosignKeys": [file] });
  const { report, signature: s } = await signature(app, (subject) => cosignBundleSignature(subject, privateKey, publicKey));
  assert.equal(s.scheme, "cosign-bundle");
  assert.equal(s.verified, true, s.reason);
  assert.equal(s.reason, `verified with cosign key ${file}; no transparency log checked`);
  assert.equal(report.verdict.signedAndVerified, true);
  assert.equal(s.envelopeData, undefined);
});

test("cosign bundle: unverified with another key, a tampered payload, a statement for another digest; null without keys", async (t) => {
  const { privateKey, publicKey } = keyPair();
  const other = keyPair();
  const file = await keyFile(t, publicKey);
  const settings = { "provenance.cosignKeys": file }; // the env form: a comma-separated list

  const foreign = (await signature(await freshApp(t, settings), (subject) => cosignBundleSignature(subject, other.privateKey, other.publicKey))).signature;
  assert.equal(foreign.verified, false);
  assert.match(foreign.reason, /^signed with key [A-Za-z0-9+/=]+, which is not among the configured cosign keys$/);

  // Signed by `other` but claiming the configured key's hint: the signature itself must fail.
  const forged = (await signature(await freshApp(t, settings), (subject) => cosignBundleSignature(subject, other.privateKey, publicKey))).signature;
  assert.equal(forged.verified, false);
  assert.match(forged.reason, /the signature does not verify with the configured cosign key/);

  const tampered = (await signature(await freshApp(t, settings), (subject) => cosignBundleSignature(subject, privateKey, publicKey, { tamper: true }))).signature;
  assert.equal(tampered.verified, false);
  assert.match(tampered.reason, /the signature does not verify/);

  const elsewhere = (await signature(await freshApp(t, settings), (subject) => cosignBundleSignature(subject, privateKey, publicKey, { statementDigest: `sha256:${"1".repeat(64)}` }))).signature;
  assert.equal(elsewhere.verified, false);
  assert.equal(elsewhere.reason, "the signed statement does not name this manifest");

  const unconfigured = (await signature(await freshApp(t), (subject) => cosignBundleSignature(subject, privateKey, publicKey))).signature;
  assert.equal(unconfigured.verified, null);
  assert.equal(unconfigured.reason, "no cosign public keys configured (provenance.cosignKeys)");
});

test("cosign keys: a file that is not a public key is a configuration error naming it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-cosign-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "bad.pub"), "not a key");
  await assert.rejects(freshApp(t, { "provenance.cosignKeys": [join(dir, "bad.pub")] }), /cosign public key .*bad\.pub/);
});

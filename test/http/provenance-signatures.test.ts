import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";
import { generateTestCertificate, jwsEnvelope, notationJwsSignature, writeTrust, type SigningCertificate } from "../support/notation.ts";
import { attestedIndex, type Blob, type Built } from "../support/provenance-images.ts";

async function push(app: TestApp, repo: string, built: Built, tag?: { manifest: Blob; tag: string }): Promise<void> {
  for (const b of built.blobs) {
    const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 201, `blob push: ${res.body}`);
  }
  for (const m of built.manifests) assert.equal((await putManifest(app, repo, tag?.manifest === m ? tag.tag : m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType)).status, 201);
}

async function workdir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-notation-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function signer(t: TestContext, dir: string, name: string): SigningCertificate | null {
  const made = generateTestCertificate(dir, name);
  if (!made) t.skip("openssl is not installed");
  return made;
}

/** Pushes the image and a notation JWS signature of its index; returns the signature's report entry. */
async function signedReport(app: TestApp, cert: SigningCertificate, options: { tamper?: boolean; expiry?: string } = {}) {
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const subject = { mediaType: image.index.mediaType, digest: image.index.digest, size: image.index.size };
  await push(app, "team/app", notationJwsSignature(jwsEnvelope(cert, subject, options), cert, image.index));
  const report = (await app.request("GET", "/api/v1/provenance/team/app/v1")).json();
  assert.equal(report.signatures.length, 1, JSON.stringify(report.signatures));
  return { report, signature: report.signatures[0] };
}

test("notation JWS: verified against a trust store holding its certificate; signer subject and thumbprint shown", async (t) => {
  const dir = await workdir(t);
  const cert = signer(t, dir, "berth-signer");
  if (!cert) return;
  const trust = writeTrust(dir, "acme", [cert]);
  const app = await freshApp(t, { "provenance.trustPolicy": trust.policyFile, "provenance.trustStore": trust.storeDir });
  const { report, signature } = await signedReport(app, cert);
  assert.equal(signature.scheme, "notation");
  assert.equal(signature.envelope, "jws");
  assert.equal(signature.signer.subject, "C=US, ST=WA, L=Seattle, O=Berth Test, CN=berth-signer");
  assert.deepEqual(signature.signer.thumbprints, [cert.cert.fingerprint256.replaceAll(":", "")]);
  assert.equal(signature.signingTime, "2026-11-24T05:00:00Z");
  assert.equal(signature.verified, true, signature.reason);
  assert.equal(signature.policy, "berth-test");
  assert.deepEqual(signature.checks, { integrity: "pass", authenticity: "pass", expiry: "pass", authenticTimestamp: "pass", revocation: "skipped" });
  assert.match(signature.reason, /trusted by policy "berth-test" \(level strict\); revocation not checked/);
  assert.equal(report.verdict.signedAndVerified, true);
  assert.match(report.verdict.line, /signed and verified: yes/);
  assert.equal(signature.envelopeData, undefined);
});

test("notation JWS: unverified against an empty trust store, a tampered envelope, a foreign identity, an expired signature", async (t) => {
  const dir = await workdir(t);
  const cert = signer(t, dir, "berth-signer");
  if (!cert) return;
  const other = generateTestCertificate(dir, "someone-else")!;

  const empty = writeTrust(join(dir, "empty"), "acme", []);
  const unknownStore = await freshApp(t, { "provenance.trustPolicy": empty.policyFile, "provenance.trustStore": empty.storeDir });
  const a = (await signedReport(unknownStore, cert)).signature;
  assert.equal(a.verified, false);
  assert.equal(a.checks.integrity, "pass");
  assert.equal(a.checks.authenticity, "fail");
  assert.match(a.reason, /no certificate of the chain is in the trust stores of policy "berth-test" \(ca:acme\)/);

  const trusted = writeTrust(join(dir, "trusted"), "acme", [cert, other]);
  const settings = { "provenance.trustPolicy": trusted.policyFile, "provenance.trustStore": trusted.storeDir };
  const tampered = (await signedReport(await freshApp(t, settings), cert, { tamper: true })).signature;
  assert.equal(tampered.verified, false);
  assert.deepEqual(tampered.checks, { integrity: "fail" });
  assert.match(tampered.reason, /^integrity: the signature does not verify/);

  const expired = (await signedReport(await freshApp(t, settings), cert, { expiry: "2026-01-01T00:00:00Z" })).signature;
  assert.equal(expired.verified, false);
  assert.match(expired.reason, /expiry: the signature expired at 2026-01-01T00:00:00Z/);

  const identities = writeTrust(join(dir, "identities"), "acme", [cert], { trustedIdentities: ["x509.subject: C=US, ST=WA, O=Other Org"] });
  const foreign = (await signedReport(await freshApp(t, { "provenance.trustPolicy": identities.policyFile, "provenance.trustStore": identities.storeDir }), cert)).signature;
  assert.equal(foreign.verified, false);
  assert.match(foreign.reason, /not among the trusted identities/);

  const audit = writeTrust(join(dir, "audit"), "acme", [], { signatureVerification: { level: "audit" } });
  const logged = (await signedReport(await freshApp(t, { "provenance.trustPolicy": audit.policyFile, "provenance.trustStore": audit.storeDir }), cert)).signature;
  assert.equal(logged.verified, true, "audit enforces integrity only");
  assert.equal(logged.checks.authenticity, "logged");
  assert.match(logged.reason, /logged authenticity: no certificate of the chain/);
});

test("notation JWS: without a trust policy the signature is listed with verified null", async (t) => {
  const dir = await workdir(t);
  const cert = signer(t, dir, "berth-signer");
  if (!cert) return;
  const { signature } = await signedReport(await freshApp(t), cert);
  assert.equal(signature.verified, null);
  assert.equal(signature.reason, "verification not configured");
  assert.equal(signature.signer.subject, "C=US, ST=WA, L=Seattle, O=Berth Test, CN=berth-signer");
});

// `GET /api/v1/search?unverified=true`: images no signature verifies now against the configured
// trust, from the outcomes stored at push (services/provenance/signature-verdicts.ts) with real
// notation JWS and cosign bundle signatures made as the provenance tests make them; a trust changed
// at restart recomputes every outcome. `unsigned=true` stays "no signature at all".
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { buildApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { AUTH, freshApp, PASSWORD, putManifest, type TestApp } from "../support/app.ts";
import { generateTestCertificate, jwsEnvelope, notationJwsSignature, writeTrust, type SigningCertificate } from "../support/notation.ts";
import { cosignBundleSignature, platformImage, type Blob, type Built } from "../support/provenance-images.ts";

type Requester = Pick<TestApp, "request">;

async function push(app: Requester, repo: string, built: Built): Promise<void> {
  for (const b of built.blobs) {
    const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 201, `blob push: ${res.body}`);
  }
  for (const m of built.manifests) assert.equal((await putManifest(app as TestApp, repo, m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType)).status, 201);
}

/** One single-platform image (its own random layer, so its own digest). */
function image(): Built & { manifest: Blob } {
  const built = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "octocat" });
  return { blobs: [built.layer, built.config], manifests: [built.manifest], manifest: built.manifest };
}

const subjectOf = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
const notation = (cert: SigningCertificate, subject: Blob, options: { tamper?: boolean } = {}) => notationJwsSignature(jwsEnvelope(cert, subjectOf(subject), options), cert, subject);

async function found(app: Requester, query: string): Promise<string[]> {
  const res = await app.request("GET", `/api/v1/search?${query}&repository=team/`);
  assert.equal(res.status, 200, res.body.toString());
  return res.json().results.map((r: { repository: string }) => r.repository);
}

async function workdir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-unverified-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("unverified=true: images whose signatures are untrusted, tampered or absent, notation and cosign; a trusted one is left out, also when signed before it was pushed", async (t) => {
  const dir = await workdir(t);
  const cert = generateTestCertificate(dir, "berth-signer");
  const stranger = generateTestCertificate(dir, "someone-else");
  if (!cert || !stranger) return t.skip("openssl is not installed");
  const trust = writeTrust(dir, "acme", [cert]);
  const key = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const otherKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const keyFile = join(dir, "cosign.pub");
  await writeFile(keyFile, key.publicKey.export({ type: "spki", format: "pem" }));
  const app = await freshApp(t, { "provenance.trustPolicy": trust.policyFile, "provenance.trustStore": trust.storeDir, "provenance.cosignKeys": [keyFile] });

  const signedWith: Record<string, (subject: Blob) => Built | null> = {
    "team/notation-trusted": (s) => notation(cert, s),
    "team/notation-untrusted": (s) => notation(stranger, s),
    "team/notation-tampered": (s) => notation(cert, s, { tamper: true }),
    "team/cosign-trusted": (s) => cosignBundleSignature(s, key.privateKey, key.publicKey),
    "team/cosign-untrusted": (s) => cosignBundleSignature(s, otherKey.privateKey, otherKey.publicKey),
    "team/cosign-tampered": (s) => cosignBundleSignature(s, key.privateKey, key.publicKey, { tamper: true }),
    "team/unsigned": () => null,
  };
  for (const [repo, sign] of Object.entries(signedWith)) {
    const built = image();
    await push(app, repo, built);
    const signature = sign(built.manifest);
    if (signature) await push(app, repo, signature);
  }
  // The signature first, the image after: the image's push decides the outcome.
  const late = image();
  const lateSignature = notation(cert, late.manifest);
  await push(app, "team/signed-first", { blobs: lateSignature.blobs, manifests: [] });
  await push(app, "team/signed-first", { blobs: late.blobs, manifests: [] });
  await push(app, "team/signed-first", lateSignature);
  assert.deepEqual(await found(app, "unverified=true"), [
    "team/cosign-tampered", "team/cosign-untrusted", "team/notation-tampered", "team/notation-untrusted", "team/unsigned",
  ], "the image is not pushed yet: its repository holds only the signature, which is no image");
  await push(app, "team/signed-first", late);

  const unverified = await found(app, "unverified=true");
  assert.deepEqual(unverified, ["team/cosign-tampered", "team/cosign-untrusted", "team/notation-tampered", "team/notation-untrusted", "team/unsigned"]);
  assert.deepEqual(await found(app, "unsigned=true"), ["team/unsigned"], "unsigned=true is unchanged: no signature at all");
  assert.deepEqual(await found(app, "unverified=true&label=build.user=octocat"), unverified, "with a term, the same answer");
  // The report, which verifies when read, agrees with every stored outcome.
  for (const repo of [...Object.keys(signedWith), "team/signed-first"]) {
    const digest = (await app.request("GET", `/api/v1/search?label=build.user=octocat&repository=${repo}`)).json().results[0].digest;
    const report = (await app.request("GET", `/api/v1/provenance/${repo}@${digest}`)).json();
    assert.equal(report.verdict.signedAndVerified, !unverified.includes(repo), `${repo}: ${report.verdict.line}`);
  }
  const refused = await app.request("GET", "/api/v1/search?unverified=yes");
  assert.equal(refused.status, 400);
});

test("unverified=true after a restart with another trust: every stored outcome is computed again, and again when it changes back or goes", async (t) => {
  const dir = await workdir(t);
  const first = generateTestCertificate(dir, "first-signer");
  const second = generateTestCertificate(dir, "second-signer");
  if (!first || !second) return t.skip("openssl is not installed");
  const trustFirst = writeTrust(join(dir, "first"), "acme", [first]);
  const trustSecond = writeTrust(join(dir, "second"), "acme", [second]);
  const dataDir = join(dir, "data");
  const start = async (settings: Record<string, unknown>) => {
    const config = loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD, ...settings } });
    const berth = await buildApp(config, createLogger("silent"));
    await berth.verdictsComputed;
    return {
      berth,
      async request(method: string, url: string, options: { body?: Buffer | string; headers?: Record<string, string> } = {}) {
        const res = await berth.app.inject({ method: method as "GET", url, headers: { authorization: AUTH, ...(options.headers ?? {}) }, payload: options.body });
        return { status: res.statusCode, headers: res.headers, body: res.rawPayload, json: () => JSON.parse(res.body), errorCode: () => undefined };
      },
    };
  };
  const withFirst = { "provenance.trustPolicy": trustFirst.policyFile, "provenance.trustStore": trustFirst.storeDir };
  const withSecond = { "provenance.trustPolicy": trustSecond.policyFile, "provenance.trustStore": trustSecond.storeDir };

  const app = await start(withFirst);
  for (const [repo, cert] of [["team/by-first", first], ["team/by-second", second]] as const) {
    const built = image();
    await push(app, repo, built);
    await push(app, repo, notation(cert, built.manifest));
  }
  assert.deepEqual(await found(app, "unverified=true"), ["team/by-second"]);
  await app.berth.close();

  const changed = await start(withSecond);
  assert.deepEqual(await found(changed, "unverified=true"), ["team/by-first"], "the second signer is trusted now, the first no longer");
  await changed.berth.close();

  const none = await start({});
  assert.deepEqual(await found(none, "unverified=true"), ["team/by-first", "team/by-second"], "without a trust policy nothing is verified");
  await none.berth.close();

  const again = await start(withSecond);
  t.after(() => again.berth.close());
  assert.deepEqual(await found(again, "unverified=true"), ["team/by-first"]);
});

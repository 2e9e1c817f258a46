import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";
import { attestedIndex, notationSignature, platformImage, SEED_LABELS, type Blob, type Built } from "../support/provenance-images.ts";

const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function push(app: TestApp, repo: string, built: Built, tag?: { manifest: Blob; tag: string }): Promise<void> {
  for (const b of built.blobs) {
    const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 201, `blob push: ${res.body}`);
  }
  for (const m of built.manifests) {
    const res = await putManifest(app, repo, tag?.manifest === m ? tag.tag : m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType);
    assert.equal(res.status, 201, `manifest push: ${res.body}`);
  }
}

async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const password = `${name}-secret-1`;
  const res = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles, password }), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 201, String(res.body));
  return basic(name, password);
}

test("GET /api/v1/provenance: a two-platform index with attestations of both BuildKit shapes", async (t) => {
  const app = await freshApp(t);
  const image = attestedIndex(SEED_LABELS, { "org.opencontainers.image.created": "2026-11-20T10:02:00Z" });
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const res = await app.request("GET", "/api/v1/provenance/team/app/v1");
  assert.equal(res.status, 200, String(res.body));
  const report = res.json();
  assert.equal(report.digest, image.index.digest);
  assert.equal(report.kind, "index");
  assert.deepEqual(report.tags, ["v1"]);
  assert.equal(report.created, "2026-11-20T10:02:00Z");

  // Both platforms, and no unknown/unknown one.
  assert.deepEqual(report.platforms.map((p: any) => p.platform), [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64", variant: "v8" }]);
  assert.ok(!report.platforms.some((p: any) => p.platform?.os === "unknown"));
  const [amd64, arm64] = report.platforms;
  assert.equal(amd64.digest, image.platforms[0]!.manifest.digest);
  assert.deepEqual(amd64.labels, SEED_LABELS);
  assert.deepEqual(arm64.labels, SEED_LABELS);
  assert.equal(amd64.created, "2026-11-20T10:01:00Z");
  assert.equal(amd64.author, "octocat");
  assert.deepEqual(amd64.history.map((h: any) => h.createdBy), ["ARG IMAGE_COMMITTER", "LABEL build.user=octocat build.sha=0123 build.dockerfile=Dockerfile", "COPY hello.txt / # buildkit"]);

  // The legacy attestation found in the index (SLSA v0.2 + SPDX), the OCI-artifact one once, though listed twice.
  assert.deepEqual(amd64.attestations.map((a: any) => [a.digest, a.foundAs, a.form]), [[image.legacyAttestation.digest, "index-entry", "buildkit-legacy"]]);
  assert.deepEqual(arm64.attestations.map((a: any) => [a.digest, a.foundAs, a.form]), [[image.artifactAttestation.digest, "index-entry", "buildkit-oci-artifact"]]);
  assert.equal(amd64.build.version, "v0.2");
  assert.equal(amd64.build.builderId, "https://github.com/example/berth-seed/actions/runs/42");
  assert.equal(amd64.build.buildType, "https://mobyproject.org/buildkit@v1");
  assert.deepEqual(amd64.build.configSource, { uri: "https://github.com/example/berth-seed.git#refs/heads/main", digest: { sha1: SEED_LABELS["build.sha"] }, path: "Dockerfile" });
  assert.equal(amd64.build.materials[0].uri, "pkg:docker/alpine@3.20?platform=linux%2Famd64");
  assert.deepEqual(amd64.sboms.map((s: any) => [s.format, s.specVersion, s.packageCount]), [["spdx-json", "SPDX-2.3", 3]]);
  assert.equal(arm64.build.version, "v1");
  assert.equal(arm64.build.builderId, "https://github.com/example/berth-seed/actions/runs/43");
  assert.equal(arm64.build.configSource.uri, "https://github.com/example/berth-seed.git#refs/heads/main");
  assert.equal(arm64.build.configSource.path, "Dockerfile");
  assert.deepEqual(arm64.build.vcs, { source: "https://github.com/example/berth-seed", revision: SEED_LABELS["build.sha"] });

  // Build origin: the well-known keys named, the Dockerfile a link, the commit beside its repository.
  assert.equal(amd64.origin.source.value, "https://github.com/example/berth-seed");
  assert.equal(amd64.origin.source.from, "annotation:manifest");
  assert.equal(amd64.origin.revision.value, SEED_LABELS["build.sha"]);
  assert.equal(amd64.origin.revision.sourceRepository, "https://github.com/example/berth-seed");
  assert.equal(amd64.origin.revision.link, `https://github.com/example/berth-seed/commit/${SEED_LABELS["build.sha"]}`);
  assert.equal(amd64.origin.dockerfile.link, SEED_LABELS["build.dockerfile"]);
  assert.equal(amd64.origin.committer.value, "octocat");
  assert.deepEqual(
    amd64.origin.wellKnown.filter((e: any) => e.from === "label").map((e: any) => e.key).sort(),
    ["build.dockerfile", "build.sha", "build.user"],
  );

  // The referrers tree: the v0.32 attestation refers to the arm64 manifest.
  assert.deepEqual(arm64.referrers.map((r: any) => [r.digest, r.artifactType, r.kind]), [[image.artifactAttestation.digest, "application/vnd.docker.attestation.manifest.v1+json", "attestation"]]);
  assert.equal(report.verdict.labelsPresent, true);
  assert.equal(report.verdict.sourceAndRevisionKnown, true);
  assert.equal(report.verdict.provenanceAttested, true);
  assert.equal(report.verdict.signedAndVerified, false);
  assert.match(report.verdict.line, /labels present: yes · source and revision known: yes · signed and verified: no · provenance attested: yes/);
  assert.ok(report.warnings.includes("not signed"), report.warnings.join("; "));
});

test("GET /api/v1/provenance: a platform by digest, signatures listed unverified, anonymous refused, a puller allowed", async (t) => {
  const app = await freshApp(t);
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const arm64 = image.platforms[1]!.manifest;
  const signature = notationSignature(arm64);
  await push(app, "team/app", signature);

  const res = await app.request("GET", `/api/v1/provenance/team/app/${arm64.digest}`);
  assert.equal(res.status, 200, String(res.body));
  const report = res.json();
  assert.equal(report.kind, "image");
  assert.deepEqual(report.tags, []);
  assert.equal(report.platforms.length, 1);
  assert.equal(report.platforms[0].build.version, "v1"); // the v0.32 attestation is found as a referrer of the platform too
  assert.equal(report.platforms[0].attestations[0].foundAs, "referrer");
  assert.deepEqual(report.signatures, [
    {
      digest: signature.signature.digest, artifactType: "application/vnd.cncf.notary.signature", scheme: "notation", envelope: "cose", signs: arm64.digest,
      signer: { thumbprints: ["AB".repeat(32)] }, signingTime: "2026-11-21T09:00:00Z", verified: null, reason: "verification not configured",
    },
  ]);
  assert.match(report.verdict.line, /signed and verified: signed, not verified/);
  assert.deepEqual(report.referrers.map((r: any) => r.kind).sort(), ["attestation", "signature"]);
  // repo@digest works as well as repo/digest
  assert.equal((await app.request("GET", `/api/v1/provenance/team/app@${arm64.digest}`)).json().digest, arm64.digest);

  assert.equal((await app.request("GET", "/api/v1/provenance/team/app/v1", { auth: null })).status, 401);
  const puller = await user(app, "puller", ["acrpull"]);
  assert.equal((await app.request("GET", "/api/v1/provenance/team/app/v1", { auth: puller })).status, 200);
  assert.equal((await app.request("GET", "/api/v1/provenance/team/app/v2")).errorCode(), "MANIFEST_UNKNOWN");
  assert.equal((await app.request("GET", "/api/v1/provenance/team/none/v1")).errorCode(), "NAME_UNKNOWN");
});

test("GET /api/v1/provenance: a single image without labels gets warnings; deleting the manifest forgets its row", async (t) => {
  const app = await freshApp(t);
  const bare = platformImage({ os: "linux", architecture: "amd64" }, {});
  await push(app, "team/bare", { blobs: [bare.layer, bare.config], manifests: [bare.manifest] }, { manifest: bare.manifest, tag: "latest" });
  const report = (await app.request("GET", "/api/v1/provenance/team/bare/latest")).json();
  assert.deepEqual(report.platforms[0].platform, { os: "linux", architecture: "amd64" });
  assert.deepEqual(report.platforms[0].labels, {});
  assert.equal(report.verdict.labelsPresent, false);
  assert.ok(report.warnings.includes("no labels: nothing says who built this image"));
  assert.ok(report.warnings.includes("no SLSA provenance attestation"));
  const row = () => app.berth.stores.metadata.provenance.get("team/bare" as never, bare.manifest.digest as never);
  assert.ok(await row());
  assert.equal((await app.request("DELETE", `/v2/team/bare/manifests/${bare.manifest.digest}`)).status, 202);
  assert.equal(await row(), null);
});

test("PUT/GET/DELETE /api/v1/metadata: values on a digest and a repository, history with authors, writers need metadata_write", async (t) => {
  const app = await freshApp(t);
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  const target = `/api/v1/metadata/team/app@${image.index.digest}`;
  const put = (path: string, value: string, auth?: string) =>
    app.request("PUT", path, { body: JSON.stringify({ value }), headers: { "content-type": "application/json" }, ...(auth ? { auth } : {}) });

  const first = await put(`${target}/approved-by`, "alice");
  assert.equal(first.status, 200, String(first.body));
  assert.deepEqual(first.json(), { repository: "team/app", digest: image.index.digest, key: "approved-by", value: "alice", changed: true, version: 1 });
  assert.equal((await put(`${target}/approved-by`, "alice")).json().changed, false);
  const pusher = await user(app, "ci", ["acrpush"]);
  assert.equal((await put(`${target}/approved-by`, "bob", pusher)).status, 200);
  assert.equal((await put("/api/v1/metadata/team/app/owner", "team-a")).status, 200);

  const got = (await app.request("GET", `${target}/approved-by`)).json();
  assert.equal(got.value, "bob");
  assert.equal(got.updatedBy, "ci");
  assert.equal(got.version, 2);
  assert.deepEqual((await app.request("GET", `${target}/_values`)).json().values.map((v: any) => [v.key, v.value]), [["approved-by", "bob"]]);
  assert.deepEqual((await app.request("GET", "/api/v1/metadata/team/app/_values")).json().values.map((v: any) => [v.key, v.value]), [["owner", "team-a"]]);

  // A puller reads but may not write; the refusal leaves no history.
  const puller = await user(app, "puller", ["acrpull"]);
  assert.equal((await app.request("GET", `${target}/approved-by`, { auth: puller })).status, 200);
  const refused = await put(`${target}/approved-by`, "mallory", puller);
  assert.equal(refused.status, 403);
  assert.equal(refused.errorCode(), "DENIED");
  assert.equal((await app.request("DELETE", `${target}/approved-by`, { auth: puller })).status, 403);

  assert.equal((await app.request("DELETE", `${target}/approved-by`)).status, 200);
  assert.equal((await app.request("GET", `${target}/approved-by`)).errorCode(), "METADATA_UNKNOWN");
  const history = (await app.request("GET", `${target}/_history`)).json().history;
  assert.deepEqual(
    history.map((h: any) => [h.key, h.version, h.actor, h.old, h.new]),
    [["approved-by", 1, "admin", null, "alice"], ["approved-by", 2, "ci", "alice", "bob"], ["approved-by", 3, "admin", "bob", null]],
  );
  assert.ok(history.every((h: any) => !Number.isNaN(Date.parse(h.at))));
  assert.equal((await app.request("GET", `${target}/_history?key=owner`)).json().history.length, 0);

  assert.equal((await put(`${target}/_bad`, "x")).errorCode(), "INVALID_REQUEST");
  assert.equal((await put(`/api/v1/metadata/team/app@sha256:${"0".repeat(64)}/k`, "x")).errorCode(), "MANIFEST_UNKNOWN");
  assert.equal((await put("/api/v1/metadata/team/none/k", "x")).errorCode(), "NAME_UNKNOWN");
  assert.equal((await app.request("PUT", `${target}/k`, { body: "{}", headers: { "content-type": "application/json" } })).errorCode(), "INVALID_REQUEST");
});

test("PUT manifest under a push policy: an image without the required labels is refused naming them; attestations and indexes pass", async (t) => {
  const policy = { name: "ci-labels", repositories: ["team/*"], requireLabels: ["build.user", "build.sha", "build.dockerfile"], requireAnnotations: ["org.opencontainers.image.source"] };
  const app = await freshApp(t, { "provenance.pushPolicies": [policy] });
  const bare = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "octocat" });
  for (const b of [bare.layer, bare.config]) await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
  const refused = await putManifest(app, "team/app", "v1", bare.manifest.bytes);
  assert.equal(refused.status, 400);
  assert.equal(refused.errorCode(), "MANIFEST_INVALID");
  assert.match(refused.json().errors[0].message, /push refused by policy "ci-labels": the image lacks required labels build\.sha, build\.dockerfile and annotations org\.opencontainers\.image\.source/);
  assert.deepEqual(refused.json().errors[0].detail, { policy: "ci-labels", missingLabels: ["build.sha", "build.dockerfile"], missingAnnotations: ["org.opencontainers.image.source"] });
  assert.equal((await app.request("GET", "/v2/team/app/tags/list")).json().tags.length, 0);

  // Outside the policy's repositories the same image is accepted.
  for (const b of [bare.layer, bare.config]) await app.request("POST", `/v2/other/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } });
  assert.equal((await putManifest(app, "other/app", "v1", bare.manifest.bytes)).status, 201);
  // A labelled, annotated multi-platform image with attestations and a signature passes whole.
  const image = attestedIndex();
  await push(app, "team/app", image, { manifest: image.index, tag: "v1" });
  await push(app, "team/app", notationSignature(image.index));
});

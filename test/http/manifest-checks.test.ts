// Manifests that would break clients or hide content are refused (issue 13, points 7, 9-11):
// descriptor sizes that differ from what is stored, the manifest/index ambiguity of
// CVE-2021-41190, JSON nested past 64 levels, and an oversize body sent chunked.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { AUTH, freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, putManifest, sha256, type TestApp } from "../support/app.ts";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

function edit(body: Buffer, change: (json: Record<string, any>) => void): Buffer {
  const json = JSON.parse(body.toString());
  change(json);
  return Buffer.from(JSON.stringify(json));
}

async function assertRefused(app: TestApp, res: Awaited<ReturnType<typeof putManifest>>, label: string, tag = "v1"): Promise<any> {
  assert.equal(res.status, 400, `${label}: ${res.body}`);
  assert.equal(res.errorCode(), "MANIFEST_INVALID", label);
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${tag}`)).status, 404, `${label}: nothing stored`);
  return res.json().errors[0];
}

test("PUT manifest whose layer or config size differs from the stored blob: MANIFEST_INVALID naming the digest and both sizes", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const real = image.layerBytes.length;
  const layer = await assertRefused(app, await putManifest(app, "team/app", "v1", edit(image.body, (j) => (j.layers[0].size = real + 7))), "layer");
  assert.match(layer.message, new RegExp(image.layer));
  assert.deepEqual(layer.detail, { digest: image.layer, declared: real + 7, stored: real });
  const config = await assertRefused(app, await putManifest(app, "team/app", "v1", edit(image.body, (j) => (j.config.size -= 1))), "config");
  assert.equal(config.detail.digest, image.config);
  assert.equal((await putManifest(app, "team/app", "v1", image.body)).status, 201, "the honest manifest is accepted");
});

test("PUT index whose child's declared size differs from the stored manifest: MANIFEST_INVALID", async (t) => {
  const app = await freshApp(t);
  const child = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", child.digest, child.body)).status, 201);
  const index = (size: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size }] }));
  const refused = await assertRefused(app, await putManifest(app, "team/app", "v1", index(child.body.length + 1), OCI_INDEX), "child");
  assert.deepEqual(refused.detail, { digest: child.digest, declared: child.body.length + 1, stored: child.body.length });
  assert.equal((await putManifest(app, "team/app", "v1", index(child.body.length), OCI_INDEX)).status, 201);
});

test("with manifests.allowSparse, a missing blob has nothing to compare; a present one still must match", async (t) => {
  const app = await freshApp(t, { "manifests.allowSparse": true });
  const image = await imageManifest(app, "team/app");
  const sparse = edit(image.body, (j) => j.layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256("never pushed"), size: 999 }));
  assert.equal((await putManifest(app, "team/app", "sparse", sparse)).status, 201);
  await assertRefused(app, await putManifest(app, "team/app", "v1", edit(sparse, (j) => (j.layers[0].size += 1))), "present layer");
});

test("the manifest/index ambiguity (CVE-2021-41190) is refused: MANIFEST_INVALID, nothing stored", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const manifest = JSON.parse(image.body.toString());
  const child = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length };
  assert.equal((await putManifest(app, "team/app", image.digest, image.body)).status, 201);
  const { mediaType: _drop, ...bare } = manifest;
  const cases: [string, object, string][] = [
    ["index mediaType with config and layers", { ...manifest, mediaType: OCI_INDEX, manifests: [child] }, OCI_INDEX],
    ["index mediaType with layers only", { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child], layers: manifest.layers }, OCI_INDEX],
    ["index mediaType with config only", { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child], config: manifest.config }, OCI_INDEX],
    ["manifest mediaType with manifests", { ...manifest, manifests: [child] }, OCI_MANIFEST],
    ["Docker list with layers", { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [child], layers: manifest.layers }, DOCKER_LIST],
    ["no mediaType, both manifests and layers, generic header", { ...bare, manifests: [child] }, "application/json"],
    ["no mediaType, both, index header", { ...bare, manifests: [child] }, OCI_INDEX],
    ["no mediaType, both, manifest header", { ...bare, manifests: [child] }, OCI_MANIFEST],
    ["Content-Type index, body manifest", manifest, OCI_INDEX],
    ["Content-Type another manifest type", manifest, "application/vnd.oci.artifact.manifest.v1+json"],
    ["Content-Type Docker manifest, body OCI manifest", manifest, DOCKER_MANIFEST],
  ];
  for (const [label, body, contentType] of cases) {
    await assertRefused(app, await putManifest(app, "team/app", "v1", Buffer.from(JSON.stringify(body)), contentType), label);
  }
});

test("what real clients send is still accepted: Docker schema2, OCI manifests and indexes, artifacts, no mediaType with a matching Content-Type", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const manifest = JSON.parse(image.body.toString());
  const { mediaType: _drop, ...bare } = manifest;
  const docker = Buffer.from(JSON.stringify({ ...manifest, mediaType: DOCKER_MANIFEST }));
  const child = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length };
  const cases: [string, Buffer, string | undefined][] = [
    ["OCI manifest", image.body, OCI_MANIFEST],
    ["OCI manifest with charset", image.body, `${OCI_MANIFEST}; charset=utf-8`],
    ["Docker schema2", docker, DOCKER_MANIFEST],
    ["Docker list", Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ ...child, mediaType: DOCKER_MANIFEST, digest: sha256(docker), size: docker.length }] })), DOCKER_LIST],
    ["OCI index", Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child] })), OCI_INDEX],
    ["artifact", Buffer.from(JSON.stringify({ ...manifest, artifactType: "application/vnd.example.thing", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: manifest.config.digest, size: manifest.config.size } })), OCI_MANIFEST],
    ["manifest without mediaType, matching Content-Type", Buffer.from(JSON.stringify(bare)), OCI_MANIFEST],
    ["manifest without mediaType, generic Content-Type", Buffer.from(JSON.stringify(bare)), "application/json"],
    ["manifest without mediaType or Content-Type", Buffer.from(JSON.stringify(bare)), undefined],
    ["index without mediaType, matching Content-Type", Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [child] })), OCI_INDEX],
  ];
  for (const [label, body, contentType] of cases) {
    const tag = label.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "");
    // The Docker list names the Docker manifest: push it first.
    if (label === "Docker list") assert.equal((await putManifest(app, "team/app", sha256(docker), docker, DOCKER_MANIFEST)).status, 201);
    const res = await app.request("PUT", `/v2/team/app/manifests/${tag}`, { body, headers: contentType ? { "content-type": contentType } : {} });
    assert.equal(res.status, 201, `${label}: ${res.body}`);
  }
});

/** A manifest whose extra field nests `depth` levels in all (the manifest object is level 1). */
function nested(image: Buffer, depth: number): Buffer {
  const inner = depth - 1;
  const json = image.toString();
  return Buffer.from(`${json.slice(0, -1)},"extra":${"[".repeat(inner)}${"]".repeat(inner)}}`);
}

test("JSON nested deeper than 64 levels is refused with MANIFEST_INVALID; 64 levels, and brackets inside strings, are fine", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  for (const depth of [65, 200, 10_001, 100_000]) {
    const refused = await assertRefused(app, await putManifest(app, "team/app", "v1", nested(image.body, depth)), `depth ${depth}`);
    assert.match(refused.message, /64/);
  }
  assert.equal((await putManifest(app, "team/app", "deep64", nested(image.body, 64))).status, 201);
  const strings = edit(image.body, (j) => (j.annotations = { "x.brackets": "[{".repeat(500), "x.quote": '"\\[[[' }));
  assert.equal((await putManifest(app, "team/app", "strings", strings)).status, 201);
});

test("a 64 MiB manifest sent chunked over a real socket gets its 413 answer, not a reset", { timeout: 60_000 }, async (t) => {
  const app = await freshApp(t);
  const url = await app.listen();
  const chunk = Buffer.alloc(1024 * 1024, "x");
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: "PUT", path: "/v2/team/app/manifests/huge", headers: { authorization: AUTH, "content-type": OCI_MANIFEST, "transfer-encoding": "chunked" } });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() });
        req.destroy();
      });
      res.on("error", reject);
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      req.write('{"schemaVersion":2,"annotations":{"pad":"');
      for (let i = 0; i < 64 && !answered && !req.destroyed; i++) {
        if (!req.write(chunk)) await new Promise((ok) => (req.once("drain", ok), req.once("close", ok)));
      }
      if (!req.destroyed) req.end('"}}');
    })().catch(() => {});
  });
  assert.equal(answer.status, 413);
  assert.equal(JSON.parse(answer.body).errors[0].code, "MANIFEST_INVALID");
  assert.equal((await app.request("GET", "/v2/team/app/manifests/huge")).status, 404);
});

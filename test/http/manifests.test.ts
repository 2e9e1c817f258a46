import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256, sha512 } from "../support/app.ts";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

test("PUT manifest by tag: 201 with Location and digest; GET returns the exact bytes and media type", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  // Odd spacing on purpose: the stored bytes must not be re-serialized.
  const body = Buffer.from(image.body.toString().replace("{", "{  "));
  const digest = sha256(body);
  const put = await putManifest(app, "team/app", "v1", body);
  assert.equal(put.status, 201);
  assert.equal(put.headers["docker-content-digest"], digest);
  assert.equal(put.headers.location, `/v2/team/app/manifests/${digest}`);
  for (const ref of ["v1", digest]) {
    const get = await app.request("GET", `/v2/team/app/manifests/${ref}`, { headers: { accept: OCI_MANIFEST } });
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, body);
    assert.equal(get.headers["content-type"], OCI_MANIFEST);
    assert.equal(get.headers["docker-content-digest"], digest);
    const head = await app.request("HEAD", `/v2/team/app/manifests/${ref}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], String(body.length));
    assert.equal(head.headers["content-type"], OCI_MANIFEST);
    assert.equal(head.body.length, 0);
  }
});

test("GET manifest with If-None-Match of its digest: 304", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  const res = await app.request("GET", "/v2/team/app/manifests/v1", { headers: { "if-none-match": `"${image.digest}"` } });
  assert.equal(res.status, 304);
});

test("PUT manifest by digest: the digest must match the bytes", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", image.digest, image.body)).status, 201);
  const wrong = await putManifest(app, "team/app", sha256("something else"), image.body);
  assert.equal(wrong.status, 400);
  assert.equal(wrong.errorCode(), "DIGEST_INVALID");
  const by512 = await putManifest(app, "team/app", sha512(image.body), image.body);
  assert.equal(by512.status, 201);
  assert.equal(by512.headers["docker-content-digest"], sha512(image.body));
});

test("PUT manifest with unknown layers or config: MANIFEST_BLOB_UNKNOWN and nothing stored", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const json = JSON.parse(image.body.toString());
  json.layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256("never pushed"), size: 12 });
  const res = await putManifest(app, "team/app", "v1", Buffer.from(JSON.stringify(json)));
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "MANIFEST_BLOB_UNKNOWN");
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404);
  // A blob another repository holds is just as unknown here.
  const other = await imageManifest(app, "team/other");
  const cross = await putManifest(app, "team/app", "v2", other.body);
  assert.equal(cross.errorCode(), "MANIFEST_BLOB_UNKNOWN");
});

test("nondistributable layers that were never pushed are accepted", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const json = JSON.parse(image.body.toString());
  json.layers.push({ mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: sha256("foreign"), size: 7, urls: ["https://example.invalid/layer"] });
  assert.equal((await putManifest(app, "team/app", "v1", Buffer.from(JSON.stringify(json)))).status, 201);
});

test("an index needs its children; a sparse index is accepted only with manifests.allowSparse", async (t) => {
  for (const allowSparse of [false, true]) {
    const app = await freshApp(t, { "manifests.allowSparse": allowSparse });
    const child = await imageManifest(app, "team/app");
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: child.digest, size: child.body.length, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: OCI_MANIFEST, digest: sha256("missing child"), size: 13, platform: { os: "linux", architecture: "arm64" } },
        ],
      }),
    );
    assert.equal((await putManifest(app, "team/app", "child", child.body)).status, 201);
    const res = await putManifest(app, "team/app", "multi", index, OCI_INDEX);
    if (allowSparse) {
      assert.equal(res.status, 201);
      assert.equal((await app.request("GET", "/v2/team/app/manifests/multi")).headers["content-type"], OCI_INDEX);
    } else {
      assert.equal(res.status, 400);
      assert.equal(res.errorCode(), "MANIFEST_BLOB_UNKNOWN");
    }
  }
});

test("Docker schema2 manifests and manifest lists are stored with their media type", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const json = JSON.parse(image.body.toString());
  json.mediaType = DOCKER_MANIFEST;
  json.config.mediaType = "application/vnd.docker.container.image.v1+json";
  json.layers[0].mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  const docker = Buffer.from(JSON.stringify(json));
  assert.equal((await putManifest(app, "team/app", "docker", docker, DOCKER_MANIFEST)).status, 201);
  const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(docker), size: docker.length, platform: { os: "linux", architecture: "amd64" } }] }));
  assert.equal((await putManifest(app, "team/app", "list", list, DOCKER_LIST)).status, 201);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/docker")).headers["content-type"], DOCKER_MANIFEST);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/list")).headers["content-type"], DOCKER_LIST);
});

test("malformed manifests: MANIFEST_INVALID and nothing stored", async (t) => {
  const app = await freshApp(t);
  const config = await pushBlob(app, "team/app", "{}");
  const cases: [string, string][] = [
    ["not json", "{oops"],
    ["an array", "[]"],
    ["schema1", JSON.stringify({ schemaVersion: 1, name: "team/app", tag: "v1", fsLayers: [] })],
    ["no layers", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: config, size: 2 } })],
    ["bad digest", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: "sha256:nope", size: 2 }, layers: [] })],
    ["negative size", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: config, size: -1 }, layers: [] })],
    ["unknown type", JSON.stringify({ schemaVersion: 2, mediaType: "application/x-unknown", config: { mediaType: "x", digest: config, size: 2 }, layers: [] })],
    ["wrong data", JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: config, size: 2, data: Buffer.from("[]").toString("base64") }, layers: [] })],
  ];
  for (const [name, body] of cases) {
    const res = await putManifest(app, "team/app", "v1", Buffer.from(body));
    assert.equal(res.status, 400, name);
    assert.equal(res.errorCode(), "MANIFEST_INVALID", name);
  }
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v1")).status, 404);
});

test("Content-Type that contradicts the manifest's mediaType: MANIFEST_INVALID", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const res = await putManifest(app, "team/app", "v1", image.body, OCI_INDEX);
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "MANIFEST_INVALID");
});

test("manifests over 4 MiB: 413, nothing stored", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const json = JSON.parse(image.body.toString());
  json.annotations = { padding: "x".repeat(4 * 1024 * 1024) };
  const res = await putManifest(app, "team/app", "big", Buffer.from(JSON.stringify(json)));
  assert.equal(res.status, 413);
  assert.equal(res.errorCode(), "MANIFEST_INVALID");
  assert.equal((await app.request("GET", "/v2/team/app/manifests/big")).status, 404);
});

test("PUT the same bytes again is idempotent; moving a tag overwrites it", async (t) => {
  const app = await freshApp(t);
  const one = await imageManifest(app, "team/app");
  const two = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "latest", one.body)).status, 201);
  assert.equal((await putManifest(app, "team/app", "latest", one.body)).status, 201);
  assert.equal((await putManifest(app, "team/app", "latest", two.body)).status, 201);
  assert.equal((await app.request("HEAD", "/v2/team/app/manifests/latest")).headers["docker-content-digest"], two.digest);
});

test("PUT by digest with ?tag=: every tag is set and echoed in OCI-Tag", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const res = await putManifest(app, "team/app", `${image.digest}?tag=a&tag=b`, image.body);
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers["oci-tag"], ["a", "b"]);
  assert.deepEqual((await app.request("GET", "/v2/team/app/tags/list")).json().tags, ["a", "b"]);
});

test("DELETE by tag removes only the tag; by digest removes the manifest and its tags", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "one", image.body);
  await putManifest(app, "team/app", "two", image.body);
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/one")).status, 202);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/one")).status, 404);
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${image.digest}`)).status, 200);
  assert.equal((await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`)).status, 202);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/two")).status, 404);
  const again = await app.request("DELETE", `/v2/team/app/manifests/${image.digest}`);
  assert.equal(again.status, 404);
  assert.equal(again.errorCode(), "MANIFEST_UNKNOWN");
});

test("GET unknown manifests: 404 MANIFEST_UNKNOWN, or NAME_UNKNOWN for an unknown repository", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/nope")).errorCode(), "MANIFEST_UNKNOWN");
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${sha256("x")}`)).errorCode(), "MANIFEST_UNKNOWN");
  const unknownRepo = await app.request("GET", "/v2/team/nothing/manifests/v1");
  assert.equal(unknownRepo.status, 404);
  assert.equal(unknownRepo.errorCode(), "NAME_UNKNOWN");
});

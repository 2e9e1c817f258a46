import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, imageManifest, OCI_MANIFEST, pushBlob, putManifest, sha256 } from "../support/app.ts";

test("GET tags/list: byte-wise order, n, last and Link", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  for (const tag of ["b", "B", "a", "_x", "1.0", "a-1"]) await putManifest(app, "team/app", tag, image.body);
  assert.deepEqual((await app.request("GET", "/v2/team/app/tags/list")).json(), { name: "team/app", tags: ["1.0", "B", "_x", "a", "a-1", "b"] });
  const page = await app.request("GET", "/v2/team/app/tags/list?n=2");
  assert.deepEqual(page.json().tags, ["1.0", "B"]);
  assert.equal(page.headers.link, '</v2/team/app/tags/list?n=2&last=B>; rel="next"');
  assert.deepEqual((await app.request("GET", "/v2/team/app/tags/list?n=2&last=B")).json().tags, ["_x", "a"]);
  assert.deepEqual((await app.request("GET", "/v2/team/app/tags/list?last=a")).json().tags, ["a-1", "b"]);
  const zero = await app.request("GET", "/v2/team/app/tags/list?n=0");
  assert.deepEqual(zero.json().tags, []);
  assert.equal(zero.headers.link, undefined);
  const last = await app.request("GET", "/v2/team/app/tags/list?n=6");
  assert.equal(last.json().tags.length, 6);
  assert.equal(last.headers.link, undefined);
});

test("GET tags/list: bad n is 400 UNSUPPORTED (the spec's 'invalid set of parameters'); unknown repository is NAME_UNKNOWN", async (t) => {
  const app = await freshApp(t);
  const bad = await app.request("GET", "/v2/team/app/tags/list?n=-1");
  assert.equal(bad.status, 400);
  assert.equal(bad.errorCode(), "UNSUPPORTED");
  const unknown = await app.request("GET", "/v2/team/none/tags/list");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.errorCode(), "NAME_UNKNOWN");
});

test("referrers: an artifact with a subject answers OCI-Subject and is listed with its artifactType and annotations", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  await putManifest(app, "team/app", "v1", image.body);
  const empty = await pushBlob(app, "team/app", "{}");
  const sbom = await pushBlob(app, "team/app", "sbom contents");
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/spdx+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
      layers: [{ mediaType: "application/spdx+json", digest: sbom, size: 13 }],
      subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length },
      annotations: { "org.opencontainers.image.created": "2026-11-24T00:00:00Z" },
    }),
  );
  const put = await putManifest(app, "team/app", sha256(artifact), artifact);
  assert.equal(put.status, 201);
  assert.equal(put.headers["oci-subject"], image.digest);
  const list = await app.request("GET", `/v2/team/app/referrers/${image.digest}`);
  assert.equal(list.status, 200);
  assert.equal(list.headers["content-type"], "application/vnd.oci.image.index.v1+json");
  assert.deepEqual(list.json().manifests, [
    { mediaType: OCI_MANIFEST, digest: sha256(artifact), size: artifact.length, artifactType: "application/spdx+json", annotations: { "org.opencontainers.image.created": "2026-11-24T00:00:00Z" } },
  ]);
  const filtered = await app.request("GET", `/v2/team/app/referrers/${image.digest}?artifactType=application/vnd.cncf.notary.signature`);
  assert.equal(filtered.headers["oci-filters-applied"], "artifactType");
  assert.deepEqual(filtered.json().manifests, []);
  const matched = await app.request("GET", `/v2/team/app/referrers/${image.digest}?artifactType=application/spdx%2Bjson`);
  assert.equal(matched.json().manifests.length, 1);
});

test("referrers of an unknown subject: 200 with an empty index; a bad digest: 400", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", `/v2/team/none/referrers/${sha256("nothing")}`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] });
  assert.equal((await app.request("GET", "/v2/team/none/referrers/sha256:bad")).status, 400);
});

test("a manifest whose subject is missing is accepted, and listed once the subject arrives", async (t) => {
  const app = await freshApp(t);
  const empty = await pushBlob(app, "team/app", "{}");
  const missing = sha256("subject not pushed yet");
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/example",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: missing, size: 100 },
    }),
  );
  assert.equal((await putManifest(app, "team/app", sha256(artifact), artifact)).status, 201);
  assert.equal((await app.request("GET", `/v2/team/app/referrers/${missing}`)).json().manifests.length, 1);
});

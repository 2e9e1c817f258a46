// Tag immutability rules over HTTP: what the API accepts and refuses, and what a rule refuses
// under /v2/ and /api/v1 (the spec's DENIED, 403), with nothing changed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkApiAnswer } from "../support/api-contract.ts";
import { freshApp, putManifest, type TestApp } from "../support/app.ts";
import { digestOf, MEDIA, platformImage } from "../support/provenance-images.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function post(app: TestApp, body: unknown) {
  const res = await app.request("POST", "/api/v1/tag-rules", { body: JSON.stringify(body), headers: JSON_TYPE });
  checkApiAnswer("POST", "/api/v1/tag-rules", res.status, res.body);
  return res;
}

async function pushImage(app: TestApp, repo: string, tag: string, user: string): Promise<string> {
  const image = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": user });
  for (const b of [image.layer, image.config]) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await putManifest(app, repo, tag, image.manifest.bytes)).status, 201);
  return image.manifest.digest;
}

test("POST /api/v1/tag-rules takes a repository pattern and a tag glob or semver; refuses anything else with 400", async (t) => {
  const app = await freshApp(t);
  for (const [repository, tags] of [["team/*", "release-*"], ["*", "semver"], ["team/app", "v1.{0,1}.?"]]) assert.equal((await post(app, { repository, tags })).status, 201, `${repository} ${tags}`);
  for (const body of [{ repository: "Team/App", tags: "x" }, { repository: "team/*", tags: "" }, { repository: "team/*", tags: "a/b" }, { repository: "team/*", tags: "x".repeat(129) }, { repository: "team/*", tags: "[" }, { repository: "team/*", tags: "*a*a*a*a*a*a*a*a*a" }, { repository: "team/*", tags: "{1..99999999}" }, { repository: "team/*" }, { repository: "team/*", tags: "x", extra: 1 }]) {
    const res = await post(app, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.errorCode(), "INVALID_REQUEST");
  }
  const listed = (await app.request("GET", "/api/v1/tag-rules")).json();
  assert.deepEqual(listed.rules.map((r: { tags: string }) => r.tags), ["release-*", "semver", "v1.{0,1}.?"]);
  const gone = await app.request("DELETE", "/api/v1/tag-rules/no-such-rule");
  assert.equal(gone.status, 404);
  assert.equal(gone.errorCode(), "TAG_RULE_UNKNOWN");
});

test("a rule refuses moving its tags, deleting them, the content they name (an index child too) and their repository; other tags move as ever", async (t) => {
  const app = await freshApp(t);
  const first = await pushImage(app, "team/app", "release-1", "first");
  const child = platformImage({ os: "linux", architecture: "arm64" }, { "build.user": "child" });
  for (const b of [child.layer, child.config]) assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await putManifest(app, "team/app", child.manifest.digest, child.manifest.bytes)).status, 201);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ mediaType: MEDIA.manifest, digest: child.manifest.digest, size: child.manifest.size, platform: child.platform }] }));
  assert.equal((await putManifest(app, "team/app", "release-multi", index, MEDIA.index)).status, 201);
  const rule = (await post(app, { repository: "team/*", tags: "release-*" })).json();

  const second = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "second" });
  for (const b of [second.layer, second.config]) assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  const refusals = [
    await putManifest(app, "team/app", "release-1", second.manifest.bytes),
    await app.request("DELETE", "/v2/team/app/manifests/release-1"),
    await app.request("DELETE", `/v2/team/app/manifests/${first}`),
    await app.request("DELETE", `/v2/team/app/manifests/${child.manifest.digest}`),
  ];
  for (const res of refusals) {
    assert.equal(res.status, 403, String(res.body));
    assert.equal(res.errorCode(), "DENIED");
    assert.match(res.json().errors[0].message, new RegExp(`is immutable \\(tag rule ${rule.id}: repository team/\\*, tags release-\\*\\)`));
  }
  const repoDelete = await app.request("DELETE", "/api/v1/repositories/team/app");
  assert.equal(repoDelete.status, 403);
  assert.equal((await app.request("HEAD", "/v2/team/app/manifests/release-1")).headers["docker-content-digest"], first, "the tag did not move");
  assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${second.manifest.digest}`)).status, 404, "the refused push left no manifest");
  assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${digestOf(index)}`)).status, 200);

  assert.equal((await putManifest(app, "team/app", "release-1", (await app.request("GET", `/v2/team/app/manifests/${first}`)).body)).status, 201, "the same content again is no move");
  await pushImage(app, "team/app", "latest", "a");
  await pushImage(app, "team/app", "latest", "b");
  assert.equal((await app.request("DELETE", "/v2/team/app/manifests/latest")).status, 202);
  assert.equal((await app.request("DELETE", `/api/v1/tag-rules/${rule.id}`)).status, 200);
  assert.equal((await putManifest(app, "team/app", "release-1", second.manifest.bytes)).status, 201);
});

test("a blob DELETE cannot take a layer or config from an image an immutable tag or a delete lock protects; an unprotected blob goes as ever", async (t) => {
  const app = await freshApp(t);
  const image = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "release" });
  for (const b of [image.layer, image.config]) assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await putManifest(app, "team/app", "release-1", image.manifest.bytes)).status, 201);
  const loose = platformImage({ os: "linux", architecture: "arm64" }, { "build.user": "loose" });
  assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${loose.layer.digest}`, { body: loose.layer.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  const rule = (await post(app, { repository: "team/*", tags: "release-*" })).json();

  for (const b of [image.layer, image.config]) {
    const res = await app.request("DELETE", `/v2/team/app/blobs/${b.digest}`);
    assert.equal(res.status, 403, String(res.body));
    assert.equal(res.errorCode(), "DENIED");
    assert.match(res.json().errors[0].message, new RegExp(`team/app:release-1 is immutable \\(tag rule ${rule.id}`));
    assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${b.digest}`)).status, 200, "the blob is still there");
  }
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${loose.layer.digest}`)).status, 202, "a blob no protected image names");

  // A delete lock on the tag protects its blobs the same way, with the rule gone.
  assert.equal((await app.request("DELETE", `/api/v1/tag-rules/${rule.id}`)).status, 200);
  const lock = await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=release-1", { body: JSON.stringify({ deleteEnabled: false }), headers: JSON_TYPE });
  assert.equal(lock.status, 200, String(lock.body));
  const locked = await app.request("DELETE", `/v2/team/app/blobs/${image.layer.digest}`);
  assert.equal(locked.status, 403);
  assert.match(locked.json().errors[0].message, /team\/app:release-1 cannot be deleted \(deleteEnabled is false\)/);
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=release-1", { body: JSON.stringify({ deleteEnabled: true }), headers: JSON_TYPE })).status, 200);
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${image.layer.digest}`)).status, 202, "unprotected, the layer goes");
});

test("a referrer 20 links away from an immutable tag's image is still its content: deleting the far end is refused", async (t) => {
  const app = await freshApp(t);
  const subject = await pushImage(app, "team/app", "release-1", "release");
  const empty = Buffer.from("{}");
  const emptyDigest = digestOf(empty);
  assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${emptyDigest}`, { body: empty, headers: { "content-type": "application/octet-stream" } })).status, 201);
  let previous = { digest: subject, size: (await app.request("GET", `/v2/team/app/manifests/${subject}`)).body.length };
  for (let i = 0; i < 20; i++) {
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: "application/vnd.example.note",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 },
      layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 }],
      subject: { mediaType: MEDIA.manifest, digest: previous.digest, size: previous.size },
      annotations: { link: String(i) },
    }));
    const digest = digestOf(body);
    assert.equal((await putManifest(app, "team/app", digest, body)).status, 201);
    previous = { digest, size: body.length };
  }
  const rule = (await post(app, { repository: "team/*", tags: "release-*" })).json();
  const res = await app.request("DELETE", `/v2/team/app/manifests/${previous.digest}`);
  assert.equal(res.status, 403, String(res.body));
  assert.match(res.json().errors[0].message, new RegExp(`tag rule ${rule.id}`));
  assert.equal((await app.request("HEAD", `/v2/team/app/manifests/${previous.digest}`)).status, 200);
});

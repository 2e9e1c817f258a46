import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, imageManifest, putManifest } from "../support/app.ts";

const BAD_NAMES = ["Team/App", "team/../app", "team/%2e%2e/app", "team//app", "-team/app", "team/app-", `a/${"x".repeat(260)}`, "team/app_"];

for (const name of BAD_NAMES) {
  test(`POST /v2/${name.slice(0, 40)}/blobs/uploads/: NAME_INVALID and nothing stored`, async (t) => {
    const app = await freshApp(t);
    const res = await app.rawRequest("POST", `/v2/${name}/blobs/uploads/`);
    assert.equal(res.status, 400, `${name}: ${res.body}`);
    assert.equal(res.errorCode(), "NAME_INVALID");
    assert.deepEqual(await app.berth.stores.metadata.repositories.list({ limit: 10 }), []);
  });
}

for (const tag of [".hidden", "-dash", "x".repeat(129), "with%20space"]) {
  test(`PUT manifest with tag ${tag.slice(0, 20)}: MANIFEST_INVALID (the spec has no TAG_INVALID) and nothing stored`, async (t) => {
    const app = await freshApp(t);
    const image = await imageManifest(app, "team/app");
    const res = await putManifest(app, "team/app", tag, image.body);
    assert.equal(res.status, 400);
    assert.equal(res.errorCode(), "MANIFEST_INVALID");
    assert.match(res.json().errors[0].message, /^invalid tag: /);
    assert.equal(await app.berth.stores.metadata.manifests.summary("team/app" as never, image.digest as never), null);
  });
}

test("a 128-character tag and deep names with . _ __ - separators are accepted", async (t) => {
  const app = await freshApp(t);
  const repo = "a.b/c_d/e__f/g--h/i";
  const image = await imageManifest(app, repo);
  assert.equal((await putManifest(app, repo, "x".repeat(128), image.body)).status, 201);
  assert.deepEqual((await app.request("GET", `/v2/${repo}/tags/list`)).json(), { name: repo, tags: ["x".repeat(128)] });
});

test("digests: malformed or unsupported algorithms are DIGEST_INVALID", async (t) => {
  const app = await freshApp(t);
  for (const digest of ["sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "A".repeat(64), "sha512:" + "a".repeat(64)]) {
    const res = await app.request("GET", `/v2/team/app/blobs/${digest}`);
    assert.equal(res.status, 400, digest);
    assert.equal(res.errorCode(), "DIGEST_INVALID");
  }
});

// Attacks on what the portal's JSON API shows (review of issue 15): a tag hidden by listEnabled or
// refused by a read lock must not leak through any new endpoint — not its name where the OCI tags
// list hides it, not the digest a pull by tag refuses to tell, not its build labels, not a read-
// locked chart version's README and values. Each check is made with an acrpull user (who may pull
// the repository) and compared with what the OCI routes give the same user.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, pushBlob, putManifest, type TestApp } from "../support/app.ts";
import { platformImage } from "../support/provenance-images.ts";

const JSON_TYPE = { "content-type": "application/json" };
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function pushImage(app: TestApp, repo: string, tag: string, labels: Record<string, string>): Promise<string> {
  const image = platformImage({ os: "linux", architecture: "amd64" }, labels);
  for (const b of [image.layer, image.config]) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await putManifest(app, repo, tag, image.manifest.bytes)).status, 201);
  return image.manifest.digest;
}

async function attributes(app: TestApp, repository: string, patch: Record<string, boolean>, tag?: string): Promise<void> {
  const res = await app.request("PATCH", `/api/v1/repositories/${repository}/attributes${tag ? `?tag=${tag}` : ""}`, { body: JSON.stringify(patch), headers: JSON_TYPE });
  assert.equal(res.status, 200, String(res.body));
}

async function puller(app: TestApp): Promise<string> {
  const res = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "puller", roles: ["acrpull"], password: "puller-secret-1" }), headers: JSON_TYPE });
  assert.equal(res.status, 201, String(res.body));
  return basic("puller", "puller-secret-1");
}

async function body(app: TestApp, url: string, auth: string): Promise<string> {
  const res = await app.request("GET", url, { auth });
  assert.equal(res.status, 200, `${url}: ${res.body}`);
  return res.body.toString();
}

/** Asserts none of `secrets` occurs anywhere in the answer of each URL. */
async function leaksNothing(app: TestApp, auth: string, urls: string[], secrets: Record<string, string>): Promise<void> {
  for (const url of urls) {
    const text = await body(app, url, auth);
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `${url} leaks the ${what} (${secret}): ${text.slice(0, 600)}`);
  }
}

test("attack: a tag hidden by listEnabled (pushed last) leaks through `newest` and the tag count of the repository list and summary", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/app", "v1", { "build.sha": "1111111aaaa", "build.user": "public-builder" });
  const hidden = await pushImage(app, "team/app", "secret", { "build.sha": "2222222bbbb", "build.user": "hidden-builder" });
  await attributes(app, "team/app", { listEnabled: false }, "secret");
  const auth = await puller(app);

  const tags = (await app.request("GET", "/v2/team/app/tags/list", { auth })).json();
  assert.deepEqual(tags.tags, ["v1"], "the OCI tags list hides the tag");
  await leaksNothing(app, auth, ["/api/v1/repositories", "/api/v1/repositories/team/app", "/api/v1/repositories/team/app/tags"], {
    "hidden tag's name": "\"secret\"",
    "hidden tag's digest": hidden,
    "hidden tag's build.user": "hidden-builder",
    "hidden tag's build.sha": "2222222bbbb",
  });
  const summary = JSON.parse(await body(app, "/api/v1/repositories/team/app", auth));
  assert.equal(summary.tags, 1, "the count is of the tags the caller is shown");
  // Nor is its manifest offered as untagged: the portal's "untagged" filter is where a careless
  // deleter looks for leftovers, and deleting it would take the hidden tag with it unnamed.
  const untagged = JSON.parse(await body(app, "/api/v1/repositories/team/app/manifests?untagged=true", auth));
  assert.deepEqual(untagged.manifests.map((m: { digest: string }) => m.digest), [], "a manifest a hidden tag points at is not untagged");
});

test("attack: a repository hidden by listEnabled, read by name: its summary names no tag the OCI tags list hides", async (t) => {
  const app = await freshApp(t);
  const digest = await pushImage(app, "team/hidden", "v1", { "build.user": "hidden-builder" });
  await attributes(app, "team/hidden", { listEnabled: false });
  const auth = await puller(app);
  assert.deepEqual((await app.request("GET", "/v2/team/hidden/tags/list", { auth })).json().tags, []);
  await leaksNothing(app, auth, ["/api/v1/repositories/team/hidden", "/api/v1/repositories/team/hidden/tags"], {
    "hidden tag's name": "\"v1\"",
    "hidden tag's digest": digest,
    "hidden tag's build.user": "hidden-builder",
  });
});

test("attack: a read-locked tag's digest and build labels leak through tags, manifests, the repository list and summary", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/locked", "v1", { "build.sha": "3333333cccc" });
  const locked = await pushImage(app, "team/locked", "private", { "build.sha": "4444444dddd", "build.user": "locked-builder" });
  await attributes(app, "team/locked", { readEnabled: false }, "private");
  const auth = await puller(app);

  // The OCI routes refuse to tell this user the digest: by tag and by digest.
  assert.equal((await app.request("HEAD", "/v2/team/locked/manifests/private", { auth })).status, 403);
  assert.equal((await app.request("GET", `/v2/team/locked/manifests/${locked}`, { auth })).status, 403);
  assert.equal((await app.request("GET", `/api/v1/repositories/team/locked/manifests/${locked}`, { auth })).status, 403);

  await leaksNothing(app, auth, ["/api/v1/repositories", "/api/v1/repositories/team/locked", "/api/v1/repositories/team/locked/tags", "/api/v1/repositories/team/locked/manifests"], {
    "read-locked tag's digest": locked,
    "read-locked tag's build.user": "locked-builder",
    "read-locked tag's build.sha": "4444444dddd",
  });
});

test("attack: search finds manifests behind a hidden or read-locked tag and returns their labels", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/app", "v1", { "build.user": "public-builder" });
  const hidden = await pushImage(app, "team/app", "secret", { "build.user": "hidden-builder" });
  await attributes(app, "team/app", { listEnabled: false }, "secret");
  const locked = await pushImage(app, "team/locked", "private", { "build.user": "locked-builder" });
  await attributes(app, "team/locked", { readEnabled: false }, "private");
  const auth = await puller(app);

  const all = JSON.parse(await body(app, "/api/v1/search?label=build.user~builder", auth));
  assert.deepEqual(all.results.map((r: { repository: string }) => r.repository), ["team/app"], JSON.stringify(all));
  await leaksNothing(app, auth, ["/api/v1/search?label=build.user~builder", "/api/v1/search?unsigned=true", "/api/v1/search?label=build.user=locked-builder"], {
    "hidden tag's digest": hidden,
    "hidden tag's build.user": "hidden-builder",
    "read-locked tag's digest": locked,
    "read-locked tag's build.user": "locked-builder",
  });
});

test("attack: a read-locked chart version's README and values.yaml are served by GET /api/v1/charts/<repository> (to acrpull and to anonymous pull)", async (t) => {
  const app = await freshApp(t);
  const classic = await app.request("PUT", "/helm/v1/charts/_blobs/chart.tgz", {
    body: await validChart({ name: "demo", version: "1.0.0", files: { "README.md": "CLASSIC SECRET README", "values.yaml": "secretValue: classic-hunter2\n" } }),
    headers: { "content-type": "application/octet-stream" },
  });
  assert.equal(classic.status, 201, String(classic.body));
  // The OCI way, as `helm push` sends it.
  const tgz = await validChart({ name: "sec", version: "2.0.0", files: { "README.md": "OCI SECRET README", "values.yaml": "secretValue: oci-hunter2\n" } });
  const config = Buffer.from(JSON.stringify({ name: "sec", version: "2.0.0", apiVersion: "v2" }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: await pushBlob(app, "oci/sec", config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: await pushBlob(app, "oci/sec", tgz), size: tgz.length }],
  }));
  assert.equal((await putManifest(app, "oci/sec", "2.0.0", manifest)).status, 201);
  await attributes(app, "oci/sec", { readEnabled: false }, "2.0.0");
  await attributes(app, "charts/demo", { readEnabled: false }, "1.0.0");
  await attributes(app, "oci/sec", { anonymousPull: true });
  const auth = await puller(app);

  assert.equal((await app.request("GET", "/v2/oci/sec/manifests/2.0.0", { auth })).status, 403, "the OCI pull of the version is refused");
  const secrets = { "OCI README": "OCI SECRET README", "OCI values": "oci-hunter2", "classic README": "CLASSIC SECRET README", "classic values": "classic-hunter2" };
  for (const [url, who] of [["/api/v1/charts/oci/sec", auth], ["/api/v1/charts/oci/sec?version=2.0.0", auth], ["/api/v1/charts/charts/demo", auth], ["/api/v1/charts/charts/demo?version=1.0.0", auth], ["/api/v1/charts/oci/sec", null]] as const) {
    const res = await app.request("GET", url, { auth: who });
    const text = res.body.toString();
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `${url} (${who ? "acrpull" : "anonymous"}) serves the read-locked ${what}: ${res.status} ${text.slice(0, 300)}`);
  }
});

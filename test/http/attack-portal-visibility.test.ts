// Attacks on what the portal's JSON API shows (review of issue 15): a tag hidden by listEnabled or
// refused by a read lock must not leak through any new endpoint — not its name where the OCI tags
// list hides it, not the digest a pull by tag refuses to tell, not its build labels, not a read-
// locked chart version's README and values. Each check is made with an acrpull user (who may pull
// the repository) and compared with what the OCI routes give the same user.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RepositoryName } from "../../src/domain/names.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { AUTH, freshApp, pushBlob, putManifest, type TestApp } from "../support/app.ts";
import { digestOf, MEDIA, notationSignature, platformImage, type Blob } from "../support/provenance-images.ts";

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

/** Pushes an image's blobs and its manifest under `reference` (a tag, or its own digest: untagged). */
async function pushBuilt(app: TestApp, repo: string, blobs: Blob[], manifest: Blob, reference = manifest.digest): Promise<string> {
  for (const b of blobs) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  const res = await putManifest(app, repo, reference, manifest.bytes, manifest.mediaType);
  assert.equal(res.status, 201, String(res.body));
  return manifest.digest;
}

test("attack: the manifest page and the provenance report name a referrer or an index child that only a read-locked tag covers", async (t) => {
  const app = await freshApp(t);
  // An untagged image (readable by digest) whose signature is tagged and read-locked.
  const image = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "open-builder" });
  await pushBuilt(app, "team/app", [image.layer, image.config], image.manifest);
  const signed = notationSignature(image.manifest);
  const signature = await pushBuilt(app, "team/app", signed.blobs, signed.signature, "sig-private");
  await attributes(app, "team/app", { readEnabled: false }, "sig-private");
  // An untagged two-platform index whose arm64 child is also tagged, and that tag read-locked.
  const amd64 = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "amd64-builder" });
  const arm64 = platformImage({ os: "linux", architecture: "arm64" }, { "build.user": "arm64-locked-builder" });
  await pushBuilt(app, "team/app", [amd64.layer, amd64.config], amd64.manifest);
  const child = await pushBuilt(app, "team/app", [arm64.layer, arm64.config], arm64.manifest, "arm64-private");
  const indexBytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MEDIA.index,
    manifests: [amd64, arm64].map((p) => ({ mediaType: MEDIA.manifest, digest: p.manifest.digest, size: p.manifest.size, platform: p.platform })),
  }));
  const index = await pushBuilt(app, "team/app", [], { mediaType: MEDIA.index, digest: digestOf(indexBytes), size: indexBytes.length, bytes: indexBytes });
  // Locked once the index holds it (no one may push an index naming a manifest they may not read).
  await attributes(app, "team/app", { readEnabled: false }, "arm64-private");
  const auth = await puller(app);

  // The OCI routes refuse both to this user; the image and the index themselves are readable.
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${signature}`, { auth })).status, 403);
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${child}`, { auth })).status, 403);
  const page = JSON.parse(await body(app, `/api/v1/repositories/team/app/manifests/${image.manifest.digest}`, auth));
  assert.deepEqual(page.referrers, [], "the read-locked signature is not in the referrers tree");
  const indexPage = JSON.parse(await body(app, `/api/v1/repositories/team/app/manifests/${index}`, auth));
  assert.deepEqual(indexPage.platforms.map((p: { digest: string }) => p.digest), [amd64.manifest.digest], "the read-locked child is not among the platforms");
  await leaksNothing(app, auth, [
    `/api/v1/repositories/team/app/manifests/${image.manifest.digest}`, `/api/v1/provenance/team/app/${image.manifest.digest}`,
    `/api/v1/repositories/team/app/manifests/${index}`, `/api/v1/provenance/team/app/${index}`,
  ], {
    "read-locked signature's digest": signature,
    "read-locked child's digest": child,
    "read-locked child's build.user": "arm64-locked-builder",
    "read-locked tags' names": "-private",
  });
  // Unlocked, both are there again: what was left out was the lock's doing, nothing else.
  await attributes(app, "team/app", { readEnabled: true }, "sig-private");
  await attributes(app, "team/app", { readEnabled: true }, "arm64-private");
  const opened = JSON.parse(await body(app, `/api/v1/repositories/team/app/manifests/${image.manifest.digest}`, auth));
  assert.deepEqual(opened.referrers.map((r: { digest: string }) => r.digest), [signature]);
  const report = JSON.parse(await body(app, `/api/v1/provenance/team/app/${image.manifest.digest}`, auth));
  assert.deepEqual(report.signatures.map((r: { digest: string }) => r.digest), [signature]);
  const indexReport = JSON.parse(await body(app, `/api/v1/provenance/team/app/${index}`, auth));
  assert.deepEqual(indexReport.platforms.map((p: { digest: string }) => p.digest), [amd64.manifest.digest, child]);
  assert.deepEqual(JSON.parse(await body(app, `/api/v1/repositories/team/app/manifests/${index}`, auth)).platforms.length, 2);
});

test("a repository's kind comes from its newest manifest: a read lock on it changes nothing (reading is refused, not listing); listEnabled hiding it does", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/app", "v1", { "build.user": "open-builder" });
  const amd64 = platformImage({ os: "linux", architecture: "amd64" }, {});
  await pushBuilt(app, "team/app", [amd64.layer, amd64.config], amd64.manifest);
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ mediaType: MEDIA.manifest, digest: amd64.manifest.digest, size: amd64.manifest.size, platform: amd64.platform }] }));
  await pushBuilt(app, "team/app", [], { mediaType: MEDIA.index, digest: digestOf(indexBytes), size: indexBytes.length, bytes: indexBytes }, "x-private");
  // (Pushed last, and last by name too should the two tags share a millisecond.)
  await attributes(app, "team/app", { readEnabled: false }, "x-private");
  const auth = await puller(app);

  const kindFor = async () => {
    const one = JSON.parse(await body(app, "/api/v1/repositories/team/app", auth)).kind;
    const listed = JSON.parse(await body(app, "/api/v1/repositories", auth)).repositories.find((r: { name: string }) => r.name === "team/app");
    assert.equal(listed.kind, one, "the list and the summary agree");
    return one;
  };
  assert.equal((await app.berth.stores.metadata.catalog.summary("team/app" as RepositoryName))?.kind, "index", "stored: the newest is the index");
  assert.equal(await kindFor(), "index", "the puller: the OCI tags list names the read-locked index's tag, so its kind is the repository's");
  await attributes(app, "team/app", { readEnabled: true, listEnabled: false }, "x-private");
  assert.equal(await kindFor(), "image", "the puller: the newest its listing names is the image");
});

/** charts/demo: 1.0.0 the OCI way (as `helm push` sends it), 2.0.0 the classic way. */
async function chartBothWays(app: TestApp): Promise<void> {
  const tgz = await validChart({ name: "demo", version: "1.0.0" });
  const config = Buffer.from(JSON.stringify({ name: "demo", version: "1.0.0", apiVersion: "v2" }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: await pushBlob(app, "charts/demo", config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: await pushBlob(app, "charts/demo", tgz), size: tgz.length }],
  }));
  assert.equal((await putManifest(app, "charts/demo", "1.0.0", manifest)).status, 201);
  const classic = await app.request("PUT", "/helm/v1/charts/_blobs/demo-2.0.0.tgz", { body: await validChart({ name: "demo", version: "2.0.0" }), headers: { "content-type": "application/octet-stream" } });
  assert.equal(classic.status, 201, String(classic.body));
  assert.equal((await app.berth.stores.metadata.catalog.summary("charts/demo" as RepositoryName))?.kind, "chart-both", "stored: one version each way");
}

test("a chart repository's kind (classic, OCI, both) counts the versions the caller's listing names: a read-locked one too, a list-hidden one not", async (t) => {
  const app = await freshApp(t);
  await chartBothWays(app);
  const auth = await puller(app);

  const kindFor = async (who: string) => {
    const one = JSON.parse(await body(app, "/api/v1/repositories/charts/demo", who)).kind;
    const listed = JSON.parse(await body(app, "/api/v1/repositories", who)).repositories.find((r: { name: string }) => r.name === "charts/demo").kind;
    assert.equal(listed, one, "the list and the summary agree");
    return one;
  };
  assert.equal(await kindFor(auth), "chart-both");
  await attributes(app, "charts/demo", { readEnabled: false }, "2.0.0");
  assert.equal(await kindFor(auth), "chart-both", "a read lock refuses the download, and hides nothing from a listing");
  await attributes(app, "charts/demo", { readEnabled: true, listEnabled: false }, "2.0.0");
  assert.equal(await kindFor(auth), "chart-oci", "the puller's listing names 1.0.0 alone, stored the OCI way");
  assert.equal(await kindFor(AUTH), "chart-oci", "listEnabled hides from owners too, as the index does");
  await attributes(app, "charts/demo", { listEnabled: true }, "2.0.0");
  await attributes(app, "charts/demo", { listEnabled: false }, "1.0.0");
  assert.equal(await kindFor(auth), "chart-classic");
});

test("attack: the list's kind filter (?kind=) goes by the kind the caller is shown, not the stored one listEnabled hides", async (t) => {
  const app = await freshApp(t);
  await chartBothWays(app);
  await pushImage(app, "team/app", "v1", { "build.user": "open-builder" });
  const amd64 = platformImage({ os: "linux", architecture: "amd64" }, {});
  await pushBuilt(app, "team/app", [amd64.layer, amd64.config], amd64.manifest);
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ mediaType: MEDIA.manifest, digest: amd64.manifest.digest, size: amd64.manifest.size, platform: amd64.platform }] }));
  await pushBuilt(app, "team/app", [], { mediaType: MEDIA.index, digest: digestOf(indexBytes), size: indexBytes.length, bytes: indexBytes }, "x-private");
  await attributes(app, "team/app", { listEnabled: false }, "x-private");
  await attributes(app, "charts/demo", { listEnabled: false }, "2.0.0");
  const auth = await puller(app);

  const byKind = async (kind: string, who = auth) => {
    const list = JSON.parse(await body(app, `/api/v1/repositories?kind=${kind}`, who));
    const names = list.repositories.map((r: { name: string; kind: string }) => { assert.equal(r.kind, kind, `${r.name} listed under ?kind=${kind} as ${r.kind}`); return r.name; });
    assert.equal(list.total, names.length, `?kind=${kind}: the total counts what is listed`);
    // A page of one, so the total is counted rather than read off a page that holds every row.
    const paged = JSON.parse(await body(app, `/api/v1/repositories?kind=${kind}&n=1`, who));
    assert.equal(paged.total, names.length, `?kind=${kind}&n=1: the total counts what is listed`);
    return names;
  };
  assert.deepEqual(await byKind("chart-both"), [], "the hidden classic version does not put charts/demo under chart-both");
  assert.deepEqual(await byKind("chart-oci"), ["charts/demo"], "the puller's charts/demo is an OCI chart");
  assert.deepEqual(await byKind("index"), [], "the list-hidden index does not put team/app under index");
  assert.deepEqual(await byKind("image"), ["team/app"]);
  assert.deepEqual(await byKind("chart-both", AUTH), [], "listEnabled holds for owners too");
  assert.deepEqual(await byKind("chart-oci", AUTH), ["charts/demo"]);
  // A read lock on the whole repository: no version is shown, so it has no chart kind to list.
  await attributes(app, "charts/demo", { listEnabled: true }, "2.0.0");
  await attributes(app, "charts/demo", { readEnabled: false });
  for (const kind of ["chart-both", "chart-oci", "chart-classic"]) assert.deepEqual(await byKind(kind), [], `?kind=${kind} with the repository read-locked`);
});

test("a read lock hides no listing fact: the repository list's tag count is the OCI tags list's, and a repository whose only tag is read-locked has the kind it has unlocked", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/open", "v1", { "build.user": "open-builder" });
  const solo = await pushImage(app, "team/solo", "v1", { "build.user": "solo-builder" });
  await pushImage(app, "team/pair", "v1", { "build.user": "pair-open-builder" });
  await pushImage(app, "team/pair", "v2-locked", { "build.user": "pair-locked-builder" });
  await attributes(app, "team/solo", { readEnabled: false }, "v1");
  await attributes(app, "team/pair", { readEnabled: false }, "v2-locked");
  const auth = await puller(app);

  const listed = new Map<string, { tags: number; kind: string }>((JSON.parse(await body(app, "/api/v1/repositories", auth)).repositories as { name: string; tags: number; kind: string }[]).map((r) => [r.name, r]));
  for (const repository of ["team/open", "team/solo", "team/pair"]) {
    const named = (await app.request("GET", `/v2/${repository}/tags/list`, { auth })).json().tags as string[];
    const one = JSON.parse(await body(app, `/api/v1/repositories/${repository}`, auth));
    assert.equal(listed.get(repository)?.tags, named.length, `${repository}: the list's tag count is the OCI tags list's (${named.join(", ")})`);
    assert.equal(one.tags, named.length, `${repository}: the summary's tag count is the OCI tags list's`);
    assert.equal(listed.get(repository)?.kind, "image", `${repository}: the list's kind`);
    assert.equal(one.kind, "image", `${repository}: the summary's kind`);
  }
  assert.deepEqual((await app.request("GET", "/v2/team/solo/tags/list", { auth })).json().tags, ["v1"], "the OCI tags list names the read-locked tag");
  // What it points at stays unread: no digest, no build labels, no row on the tags page.
  await leaksNothing(app, auth, ["/api/v1/repositories", "/api/v1/repositories/team/solo", "/api/v1/repositories/team/solo/tags", "/api/v1/repositories/team/pair"], {
    "read-locked tag's digest": solo,
    "read-locked tag's build.user": "solo-builder",
    "read-locked pair tag's build.user": "pair-locked-builder",
  });
  assert.equal(JSON.parse(await body(app, "/api/v1/repositories?kind=image", auth)).repositories.length, 3, "?kind=image lists all three");
});

test("a repository's `pushed` (list and summary) is the last push the caller's listings name: a list-hidden tag pushed later does not move it, a read-locked one does (a read lock hides nothing from a listing)", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "team/app", "v1", { "build.user": "first" });
  const auth = await puller(app);
  const pushedFor = async () => {
    const one = JSON.parse(await body(app, "/api/v1/repositories/team/app", auth)).pushed as string;
    const listed = JSON.parse(await body(app, "/api/v1/repositories", auth)).repositories.find((r: { name: string }) => r.name === "team/app");
    assert.equal(listed.pushed, one, "the list and the summary agree");
    return one;
  };
  const first = await pushedFor();
  await new Promise((r) => setTimeout(r, 20)); // each push its own millisecond
  await pushImage(app, "team/app", "hidden", { "build.user": "hidden" });
  await attributes(app, "team/app", { listEnabled: false }, "hidden");
  assert.equal(await pushedFor(), first, "the list-hidden tag's push is not the caller's last push");
  await new Promise((r) => setTimeout(r, 20));
  await pushImage(app, "team/app", "locked", { "build.user": "locked" });
  const locked = await pushedFor();
  assert.ok(locked > first, `the new tag's push: ${locked}`);
  await attributes(app, "team/app", { readEnabled: false }, "locked");
  assert.equal(await pushedFor(), locked, "a read-locked tag is named by the OCI tags list: its push stays the last");
  await attributes(app, "team/app", { listEnabled: false }, "locked");
  assert.equal(await pushedFor(), first, "hidden from listings, it is not");
});

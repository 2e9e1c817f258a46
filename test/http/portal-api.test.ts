// The portal's JSON API (api-contract/catalog.ts, charts.ts, search.ts): repository summaries of
// every kind, tags, manifests, one manifest in full, deletes under the OCI routes' rules, the
// chart list's pages and a chart's page, and search by labels and provenance. Every answer is
// checked against the contract by the test app (support/api-contract.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, pushBlob, putManifest, sha256, type TestApp } from "../support/app.ts";
import { attestedIndex, MEDIA, notationSignature, platformImage, SEED_LABELS, type Blob, type Built } from "../support/provenance-images.ts";

const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function push(app: TestApp, repo: string, built: Built, tag?: { manifest: Blob; tag: string }): Promise<void> {
  for (const b of built.blobs) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  for (const m of built.manifests) {
    const res = await putManifest(app, repo, tag?.manifest === m ? tag.tag : m.digest, m.bytes, JSON.parse(m.bytes.toString()).mediaType);
    assert.equal(res.status, 201, `manifest push: ${res.body}`);
  }
}

/** One image with these labels, tagged. */
async function pushImage(app: TestApp, repo: string, tag: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) {
  const image = platformImage({ os: "linux", architecture: "amd64" }, labels, annotations);
  await push(app, repo, { blobs: [image.layer, image.config], manifests: [image.manifest] }, { manifest: image.manifest, tag });
  return image;
}

/** An OCI artifact (oras push style): empty config, one layer, an artifactType. */
async function pushArtifact(app: TestApp, repo: string, tag: string, artifactType: string) {
  const empty = await pushBlob(app, repo, "{}");
  const layer = await pushBlob(app, repo, `artifact ${repo}`);
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType,
    config: { mediaType: MEDIA.empty, digest: empty, size: 2 },
    layers: [{ mediaType: "text/plain", digest: layer, size: Buffer.byteLength(`artifact ${repo}`) }],
  }));
  assert.equal((await putManifest(app, repo, tag, body)).status, 201);
  return sha256(body);
}

/** A chart the way `helm push` sends it: config, package, manifest by digest, then by its version tag. */
async function ociChart(app: TestApp, repo: string, tgz: Buffer, name: string, version: string) {
  const config = Buffer.from(JSON.stringify({ name, version, apiVersion: "v2", appVersion: "1.16.0", description: `${name} chart` }));
  const configDigest = await pushBlob(app, repo, config);
  const layerDigest = await pushBlob(app, repo, tgz);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: HELM_CONFIG, digest: configDigest, size: config.length }, layers: [{ mediaType: HELM_LAYER, digest: layerDigest, size: tgz.length }] }));
  assert.equal((await putManifest(app, repo, sha256(manifest), manifest)).status, 201);
  assert.equal((await putManifest(app, repo, version, manifest)).status, 201);
}

async function classicChart(app: TestApp, view: string, tgz: Buffer) {
  const res = await app.request("PUT", `/helm/v1/${view}/_blobs/chart.tgz`, { body: tgz, headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 201, String(res.body));
}

async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const password = `${name}-secret-1`;
  const res = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles, password }), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 201, String(res.body));
  return basic(name, password);
}

async function scopedPrincipal(app: TestApp, scope: string): Promise<string> {
  const res = await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: `reader-${scope.replace(/\W/g, "")}`, role: "acrpull", scope }), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 201, String(res.body));
  const sp = res.json();
  return basic(sp.id, sp.secret);
}

async function attributes(app: TestApp, repository: string, patch: Record<string, boolean>, tag?: string) {
  const res = await app.request("PATCH", `/api/v1/repositories/${repository}/attributes${tag ? `?tag=${tag}` : ""}`, { body: JSON.stringify(patch), headers: { "content-type": "application/json" } });
  assert.equal(res.status, 200, String(res.body));
}

async function get(app: TestApp, url: string, auth?: string) {
  const res = await app.request("GET", url, auth ? { auth } : {});
  assert.equal(res.status, 200, `${url}: ${res.body}`);
  return res.json();
}

/** Every page of a paged list, following `next`. */
async function allPages(app: TestApp, url: string, field: string, auth?: string): Promise<{ pages: any[][]; totals: number[] }> {
  const pages: any[][] = [];
  const totals: number[] = [];
  let next: string | null = null;
  do {
    const sep = url.includes("?") ? "&" : "?";
    const body = await get(app, next ? `${url}${sep}last=${encodeURIComponent(next)}` : url, auth);
    pages.push(body[field]);
    if (body.total !== undefined) totals.push(body.total);
    next = body.next;
    assert.ok(pages.length < 50, "paging does not end");
  } while (next);
  return { pages, totals };
}

test("GET /api/v1/repositories: each kind (image, index, chart-oci, chart-classic, chart-both, artifact with artifactType), tags, manifests, size, newest build labels", async (t) => {
  const app = await freshApp(t);
  const image = await pushImage(app, "kinds/image", "v1", SEED_LABELS);
  const index = attestedIndex();
  await push(app, "kinds/index", index, { manifest: index.index, tag: "v1" });
  await pushArtifact(app, "kinds/artifact", "v1", "application/vnd.example.sbom+json");
  await ociChart(app, "kinds/ocichart", await validChart({ name: "ocichart", version: "0.1.0" }), "ocichart", "0.1.0");
  await classicChart(app, "kinds", await validChart({ name: "classicchart", version: "0.1.0" }));
  const dual = await validChart({ name: "dual", version: "1.0.0" });
  await classicChart(app, "kinds", dual);
  await ociChart(app, "kinds/dual", dual, "dual", "1.0.0");

  const list = await get(app, "/api/v1/repositories?q=kinds/");
  const byName = Object.fromEntries(list.repositories.map((r: any) => [r.name, r]));
  assert.deepEqual(list.repositories.map((r: any) => [r.name, r.kind, r.artifactType]), [
    ["kinds/artifact", "artifact", "application/vnd.example.sbom+json"],
    ["kinds/classicchart", "chart-classic", null],
    ["kinds/dual", "chart-both", null],
    ["kinds/image", "image", null],
    ["kinds/index", "index", null],
    ["kinds/ocichart", "chart-oci", null],
  ]);
  assert.equal(list.total, 6);
  assert.equal(list.next, null);
  const img = byName["kinds/image"];
  assert.equal(img.tags, 1);
  assert.equal(img.manifests, 1);
  assert.equal(img.size, image.manifest.size + image.config.size + image.layer.size);
  assert.deepEqual(img.newest, { tag: "v1", digest: image.manifest.digest, build: { user: SEED_LABELS["build.user"], sha: SEED_LABELS["build.sha"], dockerfile: SEED_LABELS["build.dockerfile"] } });
  assert.ok(Date.parse(img.pushed) > 0);
  // The index's children and attestations are its manifests; its labels are its platforms'.
  assert.equal(byName["kinds/index"].manifests, 5);
  assert.equal(byName["kinds/index"].newest.build.sha, SEED_LABELS["build.sha"]);
  assert.deepEqual((await get(app, "/api/v1/repositories?kind=chart-both")).repositories.map((r: any) => r.name), ["kinds/dual"]);

  const detail = await get(app, "/api/v1/repositories/kinds/image");
  assert.equal(detail.name, "kinds/image");
  assert.deepEqual(detail.may, { push: true, delete: true, manage: true });
});

test("GET /api/v1/repositories: hidden and unpullable repositories never appear; pages stay full and `next` comes exactly when more visible rows remain", async (t) => {
  const app = await freshApp(t);
  for (const name of ["a", "b", "c", "d", "e"]) await pushImage(app, `team/${name}`, "v1");
  await pushImage(app, "team/bb-hidden", "v1");
  await pushImage(app, "other/secret", "v1");
  await attributes(app, "team/bb-hidden", { listEnabled: false });
  const reader = await scopedPrincipal(app, "team/*");

  for (const sort of ["name", "pushed", "size"]) {
    const { pages, totals } = await allPages(app, `/api/v1/repositories?n=2&sort=${sort}`, "repositories", reader);
    assert.deepEqual(pages.map((p) => p.length), [2, 2, 1], sort);
    assert.deepEqual(pages.flat().map((r) => r.name).sort(), ["team/a", "team/b", "team/c", "team/d", "team/e"], sort);
    assert.deepEqual(new Set(totals), new Set([5]));
  }
  // A token reads what its scope map lets it pull: team/a (content/read), not team/b (metadata only).
  const json = { "content-type": "application/json" };
  const rules = [{ repository: "team/a", actions: ["content/read"] }, { repository: "team/b", actions: ["metadata/read"] }];
  assert.equal((await app.request("PUT", "/api/v1/scope-maps/narrow", { body: JSON.stringify({ rules }), headers: json })).status, 201);
  const token = (await app.request("POST", "/api/v1/tokens", { body: JSON.stringify({ name: "narrow-token", scopeMap: "narrow" }), headers: json })).json();
  const tokenAuth = basic("narrow-token", token.passwords[0].password);
  const byToken = await get(app, "/api/v1/repositories", tokenAuth);
  assert.deepEqual([byToken.repositories.map((r: any) => r.name), byToken.total, byToken.next], [["team/a"], 1, null]);
  assert.deepEqual((await get(app, "/api/v1/search?unsigned=true", tokenAuth)).results.map((r: any) => r.repository), ["team/a"]);
  // Exactly four visible: two full pages and no `next` on the second.
  await app.request("DELETE", "/api/v1/repositories/team/e");
  const { pages } = await allPages(app, "/api/v1/repositories?n=2", "repositories", reader);
  assert.deepEqual(pages.map((p) => p.length), [2, 2]);
  // The admin sees the hidden one's neighbours but not it (listEnabled hides from everyone), and other/.
  const admin = await get(app, "/api/v1/repositories");
  assert.deepEqual(admin.repositories.map((r: any) => r.name), ["other/secret", "team/a", "team/b", "team/c", "team/d"]);
  // Search hides them too.
  const found = await get(app, "/api/v1/search?unsigned=true", reader);
  assert.ok(found.results.every((r: any) => r.repository.startsWith("team/") && r.repository !== "team/bb-hidden"));
  assert.equal((await app.request("GET", "/api/v1/repositories/other/secret", { auth: reader })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/repositories/other/secret/tags", { auth: reader })).status, 403);
  assert.equal((await app.request("GET", "/api/v1/repositories?last=not-a-cursor")).status, 400);
  // Anonymous callers list nothing without anonymous pull: a 401 with the challenge, as GET /api/v1/charts.
  for (const url of ["/api/v1/repositories", "/api/v1/search?unsigned=true"]) {
    const anonymous = await app.request("GET", url, { auth: null });
    assert.equal(anonymous.status, 401, url);
    assert.match(String(anonymous.headers["www-authenticate"]), /^Basic realm=/);
  }
});

test("GET /api/v1/repositories: sort by pushed and size, both orders", async (t) => {
  const app = await freshApp(t);
  await pushImage(app, "s/first", "v1");
  await pushArtifact(app, "s/small", "v1", "application/vnd.example");
  await pushImage(app, "s/last", "v1", { big: "x".repeat(5000) });
  const names = async (query: string) => (await get(app, `/api/v1/repositories?q=s/&${query}`)).repositories.map((r: any) => r.name);
  assert.deepEqual(await names("sort=pushed"), ["s/last", "s/small", "s/first"]);
  assert.deepEqual(await names("sort=pushed&order=asc"), ["s/first", "s/small", "s/last"]);
  assert.equal((await names("sort=size"))[0], "s/last");
  assert.equal((await names("sort=size&order=asc"))[0], "s/small");
  assert.deepEqual(await names("sort=name&order=desc"), ["s/small", "s/last", "s/first"]);
  // A scoped principal with nothing hidden: counted in the query, the same total.
  await pushImage(app, "t/outside", "v1");
  const scoped = await scopedPrincipal(app, "s/*");
  const { pages, totals } = await allPages(app, "/api/v1/repositories?n=1", "repositories", scoped);
  assert.deepEqual([pages.flat().map((r) => r.name), [...new Set(totals)]], [["s/first", "s/last", "s/small"], [3]]);
});

test("GET …/tags: sorted by name or time, with size, platforms, signed and build; …/manifests with ?untagged; …/manifests/<ref> in full", async (t) => {
  const app = await freshApp(t);
  const index = attestedIndex();
  await push(app, "team/app", index, { manifest: index.index, tag: "v1" });
  const signed = await pushImage(app, "team/app", "v2", { "build.sha": "e80e6ef1234567890abcdef" });
  await push(app, "team/app", notationSignature(signed.manifest));
  await pushImage(app, "team/app", "v0");

  const byName = await get(app, "/api/v1/repositories/team/app/tags");
  assert.deepEqual(byName.tags.map((t: any) => t.name), ["v0", "v1", "v2"]);
  const byTime = await get(app, "/api/v1/repositories/team/app/tags?sort=time_desc");
  assert.deepEqual(byTime.tags.map((t: any) => t.name), ["v0", "v2", "v1"]);
  assert.deepEqual((await get(app, "/api/v1/repositories/team/app/tags?sort=time_asc")).tags.map((t: any) => t.name), ["v1", "v2", "v0"]);
  const tags = Object.fromEntries(byName.tags.map((t: any) => [t.name, t]));
  assert.deepEqual(tags.v1.platforms, ["linux/amd64", "linux/arm64/v8"]);
  assert.equal(tags.v1.mediaType, MEDIA.index);
  assert.equal(tags.v1.build.sha, SEED_LABELS["build.sha"]);
  assert.deepEqual(tags.v2.platforms, []);
  assert.deepEqual([tags.v1.artifactType, tags.v2.artifactType], [null, null], "an image or index is no artifact");
  assert.equal(tags.v2.signed, true);
  assert.equal(tags.v0.signed, false);
  assert.equal(tags.v0.build, null);
  assert.equal(tags.v2.size, signed.manifest.size + signed.config.size + signed.layer.size);
  // Paged by time: full pages, then none.
  const paged = await allPages(app, "/api/v1/repositories/team/app/tags?sort=time_desc&n=2", "tags");
  assert.deepEqual(paged.pages.map((p) => p.map((t: any) => t.name)), [["v0", "v2"], ["v1"]]);

  const untagged = await get(app, "/api/v1/repositories/team/app/manifests?untagged=true");
  assert.ok(untagged.manifests.every((m: any) => m.tags.length === 0));
  assert.ok(untagged.manifests.some((m: any) => m.subject === signed.manifest.digest));
  const all = await get(app, "/api/v1/repositories/team/app/manifests");
  assert.equal(all.manifests.length, 8);

  const detail = await get(app, "/api/v1/repositories/team/app/manifests/v2");
  assert.equal(detail.digest, signed.manifest.digest);
  assert.deepEqual(detail.tags, ["v2"]);
  assert.deepEqual(detail.labels, { "build.sha": "e80e6ef1234567890abcdef" });
  assert.deepEqual(detail.config, { digest: signed.config.digest, mediaType: MEDIA.config, size: signed.config.size });
  assert.deepEqual(detail.layers.map((l: any) => l.digest), [signed.layer.digest]);
  assert.deepEqual(detail.referrers.map((r: any) => [r.kind, r.artifactType]), [["signature", MEDIA.notation]]);
  const ofIndex = await get(app, `/api/v1/repositories/team/app/manifests/${index.index.digest}`);
  assert.deepEqual(ofIndex.platforms.map((p: any) => p.platform), [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64", variant: "v8" }]);
  assert.equal(ofIndex.chart, null);
  assert.equal((await app.request("GET", "/api/v1/repositories/team/app/manifests/nope")).status, 404);
  assert.equal((await app.request("GET", "/api/v1/repositories/team/none/tags")).status, 404);
});

test("DELETE …/tags/<tag>, …/manifests/<digest>, the repository: refused without delete permission and by a delete lock, as the OCI routes", async (t) => {
  const app = await freshApp(t);
  const one = await pushImage(app, "team/app", "v1");
  const two = await pushImage(app, "team/app", "v2");
  await pushImage(app, "team/app", "v3");
  const puller = await user(app, "puller", ["acrpull"]);
  const deleter = await user(app, "deleter", ["acrdelete", "acrpull"]);

  for (const url of ["/api/v1/repositories/team/app/tags/v1", `/api/v1/repositories/team/app/manifests/${one.manifest.digest}`, "/api/v1/repositories/team/app"]) {
    const res = await app.request("DELETE", url, { auth: puller });
    assert.equal(res.status, 403, url);
  }
  assert.equal((await get(app, "/api/v1/repositories/team/app")).tags, 3);

  await attributes(app, "team/app", { deleteEnabled: false }, "v2");
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app/tags/v2", { auth: deleter })).status, 403);
  assert.equal((await app.request("DELETE", `/api/v1/repositories/team/app/manifests/${two.manifest.digest}`, { auth: deleter })).status, 403);
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app", { auth: deleter })).status, 403);
  assert.equal((await get(app, "/api/v1/repositories/team/app")).manifests, 3);

  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app/tags/v1", { auth: deleter })).status, 200);
  const afterTag = await get(app, "/api/v1/repositories/team/app");
  assert.deepEqual([afterTag.tags, afterTag.manifests], [2, 3]);
  assert.equal((await app.request("DELETE", `/api/v1/repositories/team/app/manifests/${one.manifest.digest}`, { auth: deleter })).status, 200);
  assert.equal((await get(app, "/api/v1/repositories/team/app")).manifests, 2);
  assert.equal((await app.request("GET", `/v2/team/app/manifests/${one.manifest.digest}`)).status, 404);

  await attributes(app, "team/app", { deleteEnabled: true }, "v2");
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app", { auth: deleter })).status, 200);
  assert.equal((await app.request("GET", "/api/v1/repositories/team/app")).status, 404);
  assert.equal((await app.request("GET", "/v2/team/app/manifests/v2")).status, 404);
  assert.deepEqual((await get(app, "/api/v1/repositories")).repositories, []);
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app")).status, 404);
});

test("GET /api/v1/search: labels (equals, 7-hex prefix, contains), annotations, dockerfile, builder, unsigned; a hostile value comes back verbatim as JSON", async (t) => {
  const app = await freshApp(t);
  const hostile = "<img src=x onerror=alert(1)>";
  const seed = await pushImage(app, "team/seed", "v1", SEED_LABELS, { "org.opencontainers.image.source": "https://github.com/acme/seed" });
  await push(app, "team/seed", notationSignature(seed.manifest));
  await pushImage(app, "team/other", "v1", { "build.user": "toddysm", "build.sha": "E80E6EFABCDEF0123456789" });
  await pushImage(app, "team/evil", "v1", { note: hostile });
  const index = attestedIndex();
  await push(app, "team/built", index, { manifest: index.index, tag: "v1" });

  const find = async (query: string) => get(app, `/api/v1/search?${query}`);
  const short = SEED_LABELS["build.sha"].slice(0, 7);
  const bySha = await find(`label=build.sha=${short}`);
  assert.ok(bySha.results.some((r: any) => r.repository === "team/seed" && r.digest === seed.manifest.digest && r.tags[0] === "v1"));
  assert.ok(bySha.results.every((r: any) => r.matches.some((m: any) => m.key === "build.sha" && m.value.startsWith(short))));
  // Six hex digits are not an abbreviation; a prefix of a non-hex value never matches by prefix.
  assert.deepEqual((await find(`label=build.sha=${short.slice(0, 6)}`)).results, []);
  // Upper-case hex stored, lower-case asked.
  assert.deepEqual((await find("label=build.sha=e80e6ef")).results.map((r: any) => r.repository), ["team/other"]);
  assert.deepEqual((await find("label=build.user=toddysm")).results.map((r: any) => r.repository), ["team/other"]);
  assert.deepEqual((await find("label=build.user~ddys")).results.map((r: any) => r.repository), ["team/other"]);
  assert.deepEqual((await find("annotation=org.opencontainers.image.source~github.com/acme")).results.map((r: any) => r.repository), ["team/seed"]);
  assert.deepEqual((await find(`dockerfile=${encodeURIComponent(SEED_LABELS["build.dockerfile"])}&repository=team/seed`)).results.map((r: any) => r.digest), [seed.manifest.digest]);
  const built = await find(`builder=${encodeURIComponent("https://github.com/example/berth-seed/actions/runs/42")}`);
  assert.ok(built.results.some((r: any) => r.digest === index.index.digest));
  assert.ok(built.results.some((r: any) => r.digest === index.platforms[0]!.manifest.digest));
  // Two terms AND; unsigned leaves the signed one out.
  assert.deepEqual((await find(`label=build.user=octocat&label=build.sha=${short}&repository=team/seed`)).results.length, 1);
  assert.deepEqual((await find(`label=build.user=octocat&unsigned=true&repository=team/seed`)).results, []);
  const unsigned = await find("unsigned=true");
  assert.ok(unsigned.results.some((r: any) => r.repository === "team/other"));
  assert.ok(!unsigned.results.some((r: any) => r.digest === seed.manifest.digest));

  const evil = await app.request("GET", `/api/v1/search?label=note=${encodeURIComponent(hostile)}`);
  assert.equal(evil.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(evil.json().results[0].matches[0].value, hostile);
  assert.ok(evil.body.toString().includes(JSON.stringify(hostile).slice(1, -1)));
  assert.deepEqual((await get(app, "/api/v1/repositories/team/evil/manifests/v1")).labels, { note: hostile });

  assert.equal((await app.request("GET", "/api/v1/search")).status, 400);
  assert.equal((await app.request("GET", "/api/v1/search?label=nokey")).status, 400);
  // Paging over hits.
  const { pages } = await allPages(app, "/api/v1/search?unsigned=true&n=2", "results");
  assert.ok(pages.slice(0, -1).every((p) => p.length === 2));
  assert.equal(new Set(pages.flat().map((r) => `${r.repository}@${r.digest}`)).size, pages.flat().length);
});

test("GET /api/v1/charts pages with ?n and ?last; GET /api/v1/charts/<repository> shows versions, Chart.yaml, README and values as text", async (t) => {
  const app = await freshApp(t);
  const readme = "# Demo\n<script>alert(1)</script>\n";
  for (const version of ["0.1.0", "0.2.0", "0.10.0"]) {
    await classicChart(app, "charts", await validChart({ name: "demo", version, description: "demo chart", files: { "README.md": readme, "charts/sub/README.md": "not this one" } }));
  }
  await ociChart(app, "oci/other", await validChart({ name: "other", version: "1.0.0" }), "other", "1.0.0");

  const all = await get(app, "/api/v1/charts");
  assert.equal(all.charts.length, 4);
  assert.equal(all.next, null);
  const { pages } = await allPages(app, "/api/v1/charts?n=3", "charts");
  assert.deepEqual(pages.map((p) => p.length), [3, 1]);
  assert.deepEqual(pages.flat().map((c) => c.reference), all.charts.map((c: any) => c.reference));
  assert.deepEqual((await get(app, "/api/v1/charts?q=other")).charts.map((c: any) => c.name), ["other"]);

  const chart = await get(app, "/api/v1/charts/charts/demo");
  assert.deepEqual(chart.versions.map((v: any) => v.version), ["0.10.0", "0.2.0", "0.1.0"]);
  assert.equal(chart.version, "0.10.0");
  assert.equal(chart.metadata.description, "demo chart");
  assert.equal(chart.readme, readme);
  assert.match(chart.values, /replicaCount: 1/);
  assert.equal(chart.classicRepository, "/helm/v1/charts");
  assert.equal((await get(app, "/api/v1/charts/charts/demo?version=0.1.0")).version, "0.1.0");
  assert.equal((await get(app, "/api/v1/charts/oci/other")).classicRepository, null);
  // A newer version pushed only the OCI way: the classic repository still serves the older ones.
  await ociChart(app, "charts/demo", await validChart({ name: "demo", version: "2.0.0" }), "demo", "2.0.0");
  const mixed = await get(app, "/api/v1/charts/charts/demo");
  assert.deepEqual([mixed.version, mixed.versions[0].storedAs], ["2.0.0", "oci"]);
  assert.equal(mixed.classicRepository, "/helm/v1/charts", "for the versions stored the classic way");
  assert.equal((await app.request("GET", "/api/v1/charts/charts/demo?version=9.9.9")).status, 404);
  assert.equal((await app.request("GET", "/api/v1/charts/charts/none")).status, 404);
});

test("GET /api/v1/charts/<repository> cuts a README over 512 KiB there and says how large the whole file is", async (t) => {
  const app = await freshApp(t);
  const readme = `# Big\n${"x".repeat(600 * 1024)}\nthe end\n`;
  const values = "replicaCount: 1\n";
  await classicChart(app, "charts", await validChart({ name: "big", version: "1.0.0", files: { "README.md": readme, "values.yaml": values } }));
  const chart = await get(app, "/api/v1/charts/charts/big");
  assert.equal(chart.readme, readme.slice(0, 512 * 1024));
  assert.equal(chart.readmeBytes, Buffer.byteLength(readme));
  assert.equal(chart.values, values);
  assert.equal(chart.valuesBytes, values.length);
  await ociChart(app, "oci/bare", await validChart({ name: "bare", version: "1.0.0" }), "bare", "1.0.0");
  const bare = await get(app, "/api/v1/charts/oci/bare");
  assert.equal(bare.readme, null);
  assert.equal(bare.readmeBytes, null);
});

test("GET /api/v1/repositories and /api/v1/search answer anonymous callers when anonymous pull is on", async (t) => {
  const app = await freshApp(t, { "auth.anonymousPull": true });
  await pushImage(app, "open/app", "v1", { "build.user": "octocat" });
  assert.deepEqual((await get(app, "/api/v1/repositories", undefined)).repositories.map((r: any) => r.name), ["open/app"]);
  const anonymous = await app.request("GET", "/api/v1/search?label=build.user=octocat", { auth: null });
  assert.equal(anonymous.status, 200);
  assert.deepEqual(anonymous.json().results.map((r: any) => r.repository), ["open/app"]);
  const detail = await app.request("GET", "/api/v1/repositories/open/app", { auth: null });
  assert.deepEqual(detail.json().may, { push: false, delete: false, manage: false });
});

// Who may read, change and delete a chart version through the classic Helm and ChartMuseum
// routes: tag attributes on the version (issue 12.5), no existence oracle for charts a caller
// may not read (12.9), no namespace shadowing another's chart in a merged view (12.7), and one
// winner among concurrent pushes of one version (13.2).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { chartYamlFor, provenanceFor, provenanceSum, validChart } from "../support/chart-fixtures.ts";
import { freshApp, sha256, type TestApp } from "../support/app.ts";

const JSON_HEADERS = { "content-type": "application/json" };

async function push(app: TestApp, view: string, tgz: Buffer, options: { method?: string; auth?: string } = {}) {
  return app.request(options.method ?? "PUT", `/helm/v1/${view}/_blobs/chart.tgz`, { body: tgz, headers: { "content-type": "application/octet-stream" }, auth: options.auth });
}

async function lock(app: TestApp, repository: string, tag: string, attributes: Record<string, boolean>) {
  const res = await app.request("PATCH", `/api/v1/repositories/${repository}/attributes?tag=${tag}`, { body: JSON.stringify(attributes), headers: JSON_HEADERS });
  assert.equal(res.status, 200, res.body.toString());
}

async function servicePrincipal(app: TestApp, role: string, scope: string): Promise<string> {
  const res = await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: `${role}-${scope.replace(/\W/g, "")}`, role, scope }), headers: JSON_HEADERS });
  assert.equal(res.status, 201, res.body.toString());
  const { id, secret } = res.json();
  return `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
}

async function multipartBody(parts: Record<string, Buffer>): Promise<{ body: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [field, bytes] of Object.entries(parts)) form.append(field, new Blob([new Uint8Array(bytes)]), `${field}.bin`);
  const response = new Response(form);
  return { body: Buffer.from(await response.arrayBuffer()), headers: { "content-type": response.headers.get("content-type")! } };
}

async function indexVersions(app: TestApp, view = "repo", auth?: string): Promise<Record<string, string[]>> {
  const res = await app.request("GET", `/helm/v1/${view}/index.yaml`, { auth });
  assert.equal(res.status, 200, res.body.toString());
  const entries = (parse(res.body.toString()) as { entries: Record<string, { version: string }[]> }).entries;
  return Object.fromEntries(Object.entries(entries).map(([name, versions]) => [name, versions.map((v) => v.version)]));
}

test("a write- and delete-locked chart version is refused by every classic and ChartMuseum write and delete route", async (t) => {
  const app = await freshApp(t);
  const original = await validChart({ name: "locked", version: "1.0.0", description: "original" });
  const prov = provenanceFor(chartYamlFor({ name: "locked", version: "1.0.0" }), { "locked-1.0.0.tgz": provenanceSum(original) });
  assert.equal((await push(app, "repo", original)).status, 201);
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/locked-1.0.0.tgz.prov", { body: prov })).status, 201);
  assert.equal((await push(app, "repo", await validChart({ name: "locked", version: "1.1.0" }))).status, 201);
  await lock(app, "repo/locked", "1.0.0", { writeEnabled: false, deleteEnabled: false });

  const replacement = await validChart({ name: "locked", version: "1.0.0", description: "replaced" });
  const writes: [string, () => Promise<{ status: number; body: Buffer }>][] = [
    ["PATCH _blobs", () => push(app, "repo", replacement, { method: "PATCH" })],
    ["PATCH _blobs .prov", () => app.request("PATCH", "/helm/v1/repo/_blobs/locked-1.0.0.tgz.prov", { body: prov })],
    ["POST /api/repo/charts?force (raw)", () => app.request("POST", "/api/repo/charts?force", { body: replacement })],
    ["POST /api/repo/charts?force (multipart)", async () => app.request("POST", "/api/repo/charts?force", await multipartBody({ chart: replacement }))],
    ["POST /api/repo/prov?force", () => app.request("POST", "/api/repo/prov?force", { body: prov })],
    ["DELETE _blobs .tgz", () => app.request("DELETE", "/helm/v1/repo/_blobs/locked-1.0.0.tgz")],
    ["DELETE _blobs .prov", () => app.request("DELETE", "/helm/v1/repo/_blobs/locked-1.0.0.tgz.prov")],
    ["DELETE _charts/<name>/<version>", () => app.request("DELETE", "/helm/v1/repo/_charts/locked/1.0.0")],
    ["DELETE _charts/<name>", () => app.request("DELETE", "/helm/v1/repo/_charts/locked")],
    ["DELETE /api/repo/charts/<name>/<version>", () => app.request("DELETE", "/api/repo/charts/locked/1.0.0")],
  ];
  for (const [route, send] of writes) {
    const res = await send();
    assert.equal(res.status, 403, `${route}: ${res.body.toString()}`);
    assert.match(res.body.toString(), /locked|cannot be deleted/, route);
  }
  const download = await app.request("GET", "/helm/v1/repo/_blobs/locked-1.0.0.tgz");
  assert.equal(sha256(download.body), sha256(original), "the locked version is unchanged");
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/locked-1.0.0.tgz.prov")).status, 200, "its .prov is still there");
  assert.deepEqual((await indexVersions(app)).locked, ["1.1.0", "1.0.0"], "DELETE _charts/<name> removed nothing");
  // The lock is on one version: the others change as before.
  assert.equal((await push(app, "repo", await validChart({ name: "locked", version: "1.1.0", description: "new" }), { method: "PATCH" })).status, 201);
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_charts/locked/1.1.0")).status, 200);
});

test("an OCI push by digest of a locked chart version (what helm push sends before the tag) does not replace it", async (t) => {
  const app = await freshApp(t);
  const original = await validChart({ name: "frozen", version: "1.0.0", description: "original" });
  assert.equal((await push(app, "repo", original)).status, 201);
  await lock(app, "repo/frozen", "1.0.0", { writeEnabled: false });
  const tgz = await validChart({ name: "frozen", version: "1.0.0", description: "replacement" });
  const config = Buffer.from(JSON.stringify({ name: "frozen", version: "1.0.0", apiVersion: "v2", description: "replacement" }));
  for (const blob of [config, tgz]) {
    assert.equal((await app.request("POST", `/v2/repo/frozen/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { "content-type": "application/octet-stream" } })).status, 201);
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: sha256(tgz), size: tgz.length }],
  }));
  const headers = { "content-type": "application/vnd.oci.image.manifest.v1+json" };
  assert.equal((await app.request("PUT", `/v2/repo/frozen/manifests/${sha256(manifest)}`, { body: manifest, headers })).status, 201, "an untagged manifest is the client's to push");
  assert.equal((await app.request("PUT", "/v2/repo/frozen/manifests/1.0.0", { body: manifest, headers })).status, 403);
  assert.equal(sha256((await app.request("GET", "/helm/v1/repo/_blobs/frozen-1.0.0.tgz")).body), sha256(original));
  assert.equal(((await app.request("GET", "/api/v1/charts")).json().charts as { digest: string }[])[0]!.digest, (await app.request("GET", "/v2/repo/frozen/manifests/1.0.0")).headers["docker-content-digest"]);
});

test("a read-locked chart version does not download through any route; a list-locked one leaves every listing", async (t) => {
  const app = await freshApp(t);
  for (const version of ["1.0.0", "2.0.0", "3.0.0"]) assert.equal((await push(app, "repo", await validChart({ name: "demo", version }))).status, 201);
  await lock(app, "repo/demo", "1.0.0", { readEnabled: false });
  await lock(app, "repo/demo", "2.0.0", { listEnabled: false });

  for (const path of ["/helm/v1/repo/_blobs/demo-1.0.0.tgz", "/helm/v1/repo/_charts/demo/1.0.0", "/api/repo/charts/demo/1.0.0"]) {
    for (const method of ["GET", "HEAD"]) {
      if (method === "HEAD" && path.includes("_charts")) continue;
      const res = await app.request(method, path);
      assert.equal(res.status, 403, `${method} ${path}`);
    }
  }
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/demo-3.0.0.tgz")).status, 200);

  assert.deepEqual((await indexVersions(app)).demo, ["3.0.0", "1.0.0"], "index.yaml");
  assert.deepEqual((await indexVersions(app, "repo", await servicePrincipal(app, "acrpull", "repo/*"))).demo, ["3.0.0", "1.0.0"], "index.yaml of a scoped reader");
  const museum = (await app.request("GET", "/api/repo/charts")).json() as Record<string, { version: string }[]>;
  assert.deepEqual(museum.demo!.map((v) => v.version), ["3.0.0", "1.0.0"], "ChartMuseum list");
  assert.deepEqual(((await app.request("GET", "/api/repo/charts/demo")).json() as { version: string }[]).map((v) => v.version), ["3.0.0", "1.0.0"], "ChartMuseum versions");
  assert.deepEqual(((await app.request("GET", "/helm/v1/repo/_charts/demo")).json() as { version: string }[]).map((v) => v.version), ["3.0.0", "1.0.0"], "_charts");
  const all = (await app.request("GET", "/api/v1/charts")).json().charts as { version: string }[];
  assert.deepEqual(all.map((c) => c.version), ["3.0.0"], "/api/v1/charts leaves the read-locked version out (a row is its digests and description), as the chart page does");
  // What index.yaml names of the read-locked version (its chart digest, its URL) reaches nothing:
  // the package by that digest under /v2/ and the entry's URL are refused.
  const entry = (parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries: Record<string, { version: string; digest: string; urls: string[] }[]> }).entries.demo!.find((v) => v.version === "1.0.0")!;
  for (const path of [`/v2/repo/demo/blobs/sha256:${entry.digest}`, `/helm/v1/repo/${entry.urls[0]!}`]) {
    for (const method of ["GET", "HEAD"]) assert.equal((await app.request(method, path)).status, 403, `${method} ${path}`);
  }
  // Listing is not reading: the list-locked version still downloads by name, as an OCI tag does.
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/demo-2.0.0.tgz")).status, 200);
});

test("a chart the caller may not read answers exactly as a missing one, on every classic and ChartMuseum route", async (t) => {
  const app = await freshApp(t);
  assert.equal((await push(app, "team-b", await validChart({ name: "secret", version: "1.0.0" }))).status, 201);
  const prov = provenanceFor(chartYamlFor({ name: "secret", version: "1.0.0" }), { "secret-1.0.0.tgz": provenanceSum(await validChart({ name: "secret", version: "1.0.0" })) });
  const missingProv = provenanceFor(chartYamlFor({ name: "nothing", version: "1.0.0" }), { "nothing-1.0.0.tgz": "sha256:00" });
  const outsider = await servicePrincipal(app, "owner", "team-a/*");
  const pairs: [string, string, string, Buffer?][] = [
    ["GET", "/helm/v1/team-b/_blobs/secret-1.0.0.tgz", "/helm/v1/team-b/_blobs/nothing-1.0.0.tgz"],
    ["HEAD", "/helm/v1/team-b/_blobs/secret-1.0.0.tgz", "/helm/v1/team-b/_blobs/nothing-1.0.0.tgz"],
    ["GET", "/helm/v1/repo/_blobs/team-b/secret-1.0.0.tgz", "/helm/v1/repo/_blobs/team-b/nothing-1.0.0.tgz"],
    ["GET", "/helm/v1/team-b/_charts/secret", "/helm/v1/team-b/_charts/nothing"],
    ["GET", "/helm/v1/team-b/_charts/secret/1.0.0", "/helm/v1/team-b/_charts/nothing/1.0.0"],
    ["GET", "/api/team-b/charts/secret", "/api/team-b/charts/nothing"],
    ["HEAD", "/api/team-b/charts/secret/1.0.0", "/api/team-b/charts/nothing/1.0.0"],
    ["DELETE", "/helm/v1/team-b/_blobs/secret-1.0.0.tgz", "/helm/v1/team-b/_blobs/nothing-1.0.0.tgz"],
    ["DELETE", "/helm/v1/team-b/_charts/secret", "/helm/v1/team-b/_charts/nothing"],
    ["DELETE", "/helm/v1/team-b/_charts/secret/1.0.0", "/helm/v1/team-b/_charts/nothing/1.0.0"],
    ["DELETE", "/api/team-b/charts/secret/1.0.0", "/api/team-b/charts/nothing/1.0.0"],
    ["PUT", "/helm/v1/team-b/_blobs/secret-1.0.0.tgz.prov", "/helm/v1/team-b/_blobs/nothing-1.0.0.tgz.prov", prov],
  ];
  for (const [method, existing, missing, body] of pairs) {
    const a = await app.request(method, existing, { auth: outsider, body });
    const b = await app.request(method, missing, { auth: outsider, body });
    assert.equal(a.status, b.status, `${method} ${existing} answers ${a.status}, ${missing} ${b.status}`);
    assert.equal(a.status, 404, `${method} ${existing}`);
  }
  // ChartMuseum's .prov upload names its chart in the body: both are refused before any lookup.
  const a = await app.request("POST", "/api/team-b/prov", { auth: outsider, body: prov });
  const b = await app.request("POST", "/api/team-b/prov", { auth: outsider, body: missingProv });
  assert.equal(a.status, b.status, "POST /api/team-b/prov");
  assert.equal((await app.request("GET", "/helm/v1/team-b/_blobs/secret-1.0.0.tgz")).status, 200, "the admin still reads it");
});

test("a namespace cannot shadow another's chart in the merged view: the name belongs to its first publisher", async (t) => {
  const app = await freshApp(t);
  const theirs = await validChart({ name: "bchart", version: "0.1.0", description: "team-b's" });
  assert.equal((await push(app, "team-b", theirs)).status, 201);
  const intruder = await servicePrincipal(app, "acrpush", "team-a/*");
  for (const version of ["0.1.0", "9.9.9"]) {
    assert.equal((await push(app, "team-a", await validChart({ name: "bchart", version, description: "team-a's" }), { auth: intruder })).status, 201);
  }
  assert.deepEqual((await indexVersions(app)).bchart, ["0.1.0"]);
  const entry = (parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries: Record<string, { urls: string[]; description: string }[]> }).entries.bchart![0]!;
  assert.deepEqual([entry.urls, entry.description], [["_blobs/team-b/bchart-0.1.0.tgz"], "team-b's"]);
  assert.equal(sha256((await app.request("GET", `/helm/v1/repo/${entry.urls[0]}`)).body), sha256(theirs));
  // The intruder's own view still serves its versions, and the merged listings agree with index.yaml.
  assert.deepEqual((await indexVersions(app, "team-a")).bchart, ["9.9.9", "0.1.0"]);
  assert.deepEqual(((await app.request("GET", "/api/repo/charts/bchart")).json() as { description: string }[]).map((v) => v.description), ["team-b's"]);
  // A reader of team-a alone sees no bchart in the merged view: what it holds there is team-b's name.
  assert.deepEqual((await indexVersions(app, "repo", await servicePrincipal(app, "acrpull", "team-a/*"))).bchart, undefined);
});

test("a chart name stays with its first publisher when a later OCI push claims an older creation time", async (t) => {
  const app = await freshApp(t);
  assert.equal((await push(app, "team-b", await validChart({ name: "cchart", version: "1.0.0" }))).status, 201);
  // Helm's `created` comes from the client's annotation; ownership must not.
  const tgz = await validChart({ name: "cchart", version: "2.0.0", description: "forged" });
  const config = Buffer.from(JSON.stringify({ name: "cchart", version: "2.0.0", apiVersion: "v2", description: "forged" }));
  for (const blob of [config, tgz]) {
    assert.equal((await app.request("POST", `/v2/team-a/cchart/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { "content-type": "application/octet-stream" } })).status, 201);
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: sha256(tgz), size: tgz.length }],
    annotations: { "org.opencontainers.image.created": "2001-01-01T00:00:00Z" },
  }));
  assert.equal((await app.request("PUT", "/v2/team-a/cchart/manifests/2.0.0", { body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })).status, 201);
  assert.deepEqual((await indexVersions(app)).cchart, ["1.0.0"]);
});

test("20 concurrent classic pushes of one new version: exactly one 201, the others 409 as a second push gets", async (t) => {
  const app = await freshApp(t);
  const packages = await Promise.all(Array.from({ length: 20 }, (_, i) => validChart({ name: "race", version: "1.0.0", description: `push ${i}` })));
  const answers = await Promise.all(packages.map((tgz) => push(app, "repo", tgz)));
  const statuses = answers.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(" "));
  assert.equal(statuses.filter((s) => s === 409).length, 19, statuses.join(" "));
  const winner = packages[statuses.indexOf(201)]!;
  assert.equal(sha256((await app.request("GET", "/helm/v1/repo/_blobs/race-1.0.0.tgz")).body), sha256(winner), "the winner's package is served");
  for (const refused of answers.filter((r) => r.status === 409)) assert.equal(refused.errorCode(), "CHART_EXISTS");
});

test("concurrent ChartMuseum posts of one new version: exactly one 201; forced posts all succeed", async (t) => {
  const app = await freshApp(t);
  const packages = await Promise.all(Array.from({ length: 10 }, (_, i) => validChart({ name: "museum-race", version: "1.0.0", description: `post ${i}` })));
  const statuses = (await Promise.all(packages.map((tgz) => app.request("POST", "/api/repo/charts", { body: tgz })))).map((r) => r.status);
  assert.deepEqual([statuses.filter((s) => s === 201).length, statuses.filter((s) => s === 409).length], [1, 9], statuses.join(" "));
  const forced = (await Promise.all(packages.map((tgz) => app.request("POST", "/api/repo/charts?force", { body: tgz })))).map((r) => r.status);
  assert.ok(forced.every((s) => s === 201), forced.join(" "));
});

test("concurrent .prov uploads for one version: one 201, the others 409", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "signed", version: "1.0.0" });
  assert.equal((await push(app, "repo", tgz)).status, 201);
  const provs = Array.from({ length: 8 }, (_, i) => provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0", description: `sig ${i}` }), { "signed-1.0.0.tgz": provenanceSum(tgz) }));
  const statuses = (await Promise.all(provs.map((prov) => app.request("PUT", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov", { body: prov })))).map((r) => r.status);
  assert.deepEqual([statuses.filter((s) => s === 201).length, statuses.filter((s) => s === 409).length], [1, 7], statuses.join(" "));
});

test("a mistyped view answers 404 naming the repositories the caller may list and how to push; configured and non-empty views answer as before; nothing hidden is named", async (t) => {
  const app = await freshApp(t, { "helm.views": { repo: ["*"], platform: ["platform/*"] } });
  assert.equal((await push(app, "team-a", await validChart({ name: "web", version: "1.0.0" }))).status, 201);
  assert.equal((await push(app, "secret", await validChart({ name: "vault", version: "1.0.0" }))).status, 201);
  assert.equal((await push(app, "hidden", await validChart({ name: "ghost", version: "1.0.0" }))).status, 201);
  const res = await app.request("PATCH", "/api/v1/repositories/hidden/ghost/attributes", { body: JSON.stringify({ listEnabled: false }), headers: JSON_HEADERS });
  assert.equal(res.status, 200, res.body.toString());

  for (const path of ["/helm/v1/rpeo/index.yaml", "/helm/v1/rpeo/_charts"]) {
    for (const method of path.endsWith("index.yaml") ? ["GET", "HEAD"] : ["GET"]) {
      const typo = await app.request(method, path, { headers: { host: "registry.example.com:5000" } });
      assert.equal(typo.status, 404, `${method} ${path}: ${typo.body.toString()}`);
      if (method === "HEAD") continue;
      const [error] = typo.json().errors;
      assert.equal(error.code, "CLASSIC_REPOSITORY_UNKNOWN");
      assert.deepEqual(error.detail.repositories, ["/helm/v1/repo", "/helm/v1/platform", "/helm/v1/secret", "/helm/v1/team-a"], "configured views, then namespaces with charts; not hidden/");
      assert.match(error.message, /no chart repository \/helm\/v1\/rpeo: the repositories here are \/helm\/v1\/repo, /);
      assert.match(error.message, /helm push mychart-0\.1\.0\.tgz oci:\/\/registry\.example\.com:5000\/rpeo/);
    }
  }
  // Configured views and views with charts answer as before, empty or not.
  assert.deepEqual(await indexVersions(app, "platform"), {});
  assert.deepEqual(await indexVersions(app, "team-a"), { web: ["1.0.0"] });
  assert.deepEqual(await indexVersions(app, "repo"), { vault: ["1.0.0"], web: ["1.0.0"] });
  assert.equal((await app.request("GET", "/helm/v1/team-a/_charts")).status, 200);

  // A reader of team-a/* only: secret/ answers exactly as a typo does, and is not named.
  const reader = await servicePrincipal(app, "acrpull", "team-a/*");
  const unreadable = await app.request("GET", "/helm/v1/secret/index.yaml", { auth: reader });
  const typo = await app.request("GET", "/helm/v1/secreq/index.yaml", { auth: reader });
  assert.equal(unreadable.status, 404);
  assert.equal(unreadable.body.toString().replaceAll("secret", "X"), typo.body.toString().replaceAll("secreq", "X"), "a namespace the caller may not read answers as one that does not exist");
  assert.deepEqual(typo.json().errors[0].detail.repositories, ["/helm/v1/repo", "/helm/v1/platform", "/helm/v1/team-a"]);
  // A view holding only list-hidden charts is no view to anyone, the admin included.
  assert.equal((await app.request("GET", "/helm/v1/hidden/index.yaml")).status, 404);
});

test("a caller who may push nowhere is refused before its package is read: 403, not 413 or 400; a pusher still gets 413", async (t) => {
  const app = await freshApp(t, { "helm.maxUploadBytes": 1024 });
  const reader = await servicePrincipal(app, "acrpull", "repo/*");
  const pusher = await servicePrincipal(app, "acrpush", "repo/*");
  const oversized = Buffer.alloc(64 * 1024, 1);
  for (const [route, send] of [
    ["PUT _blobs", (auth: string) => push(app, "repo", oversized, { auth })],
    ["ChartMuseum POST", (auth: string) => app.request("POST", "/api/repo/charts", { body: oversized, headers: { "content-type": "application/octet-stream" }, auth })],
  ] as const) {
    const refused = await send(reader);
    assert.equal(refused.status, 403, `${route} as a reader: ${refused.body.toString()}`);
    const tooLarge = await send(pusher);
    assert.equal(tooLarge.status, 413, `${route} as a pusher: ${tooLarge.body.toString()}`);
  }
  // Garbage is refused the same way: the reader learns nothing about how the body would have been read.
  const garbage = await push(app, "repo", Buffer.from("not a chart"), { auth: reader });
  assert.equal(garbage.status, 403, garbage.body.toString());
});

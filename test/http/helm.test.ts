import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { build, chartYamlFor, provenanceFor, provenanceSum, validChart } from "../support/chart-fixtures.ts";
import { AUTH, freshApp, OCI_MANIFEST, pushBlob, putManifest, sha256, type TestApp } from "../support/app.ts";

const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

async function classicPush(app: TestApp, view: string, tgz: Buffer, method = "PUT", file = "chart.tgz") {
  return app.request(method, `/helm/v1/${view}/_blobs/${file}`, { body: tgz, headers: { "content-type": "application/octet-stream" } });
}

async function index(app: TestApp, view = "repo") {
  const res = await app.request("GET", `/helm/v1/${view}/index.yaml`);
  assert.equal(res.status, 200, res.body.toString());
  return { raw: res.body, etag: res.headers.etag, doc: parse(res.body.toString()) as { apiVersion: string; entries: Record<string, Record<string, unknown>[]>; generated: string } };
}

/** Pushes a chart the way `helm push` does: config + chart layer, manifest by digest, then by tag. */
async function ociPush(app: TestApp, namespace: string, name: string, version: string) {
  const repo = `${namespace}/${name}`;
  const tgz = await validChart({ name, version, appVersion: "1.16.0", description: `${name} from ${namespace}` });
  const config = Buffer.from(JSON.stringify({ name, version, apiVersion: "v2", appVersion: "1.16.0", description: `${name} from ${namespace}` }));
  const configDigest = await pushBlob(app, repo, config);
  const layerDigest = await pushBlob(app, repo, tgz);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: HELM_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: HELM_LAYER, digest: layerDigest, size: tgz.length }],
    annotations: { "org.opencontainers.image.title": name, "org.opencontainers.image.version": version },
  }));
  assert.equal((await putManifest(app, repo, sha256(manifest), manifest)).status, 201);
  assert.equal((await putManifest(app, repo, version.replaceAll("+", "_"), manifest)).status, 201);
  return { tgz, manifest };
}

async function stored(app: TestApp): Promise<string[]> {
  const files: string[] = [];
  for (const dir of ["blobs", "uploads"]) {
    const list = await readdir(join(app.dataDir, dir), { recursive: true, withFileTypes: true }).catch(() => []);
    files.push(...list.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)));
  }
  return files.sort();
}

test("PUT _blobs/<file>.tgz: 201 saved; index.yaml lists it in Helm's strict format; the package downloads byte for byte", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "mychart", version: "0.1.0", appVersion: "1.0", description: "A chart" });
  const put = await classicPush(app, "repo", tgz, "PUT", "whatever-name.tgz");
  assert.equal(put.status, 201);
  assert.deepEqual(put.json(), { saved: true });
  const { doc } = await index(app);
  assert.equal(doc.apiVersion, "v1");
  assert.ok(!Number.isNaN(Date.parse(doc.generated)));
  const [entry] = doc.entries.mychart!;
  assert.deepEqual(Object.keys(entry!).sort(), ["apiVersion", "appVersion", "created", "description", "digest", "name", "urls", "version"]);
  assert.equal(entry!.appVersion, "1.0", "appVersion stays a string");
  assert.equal(entry!.digest, sha256(tgz).slice(7));
  assert.deepEqual(entry!.urls, ["_blobs/mychart-0.1.0.tgz"]);
  const download = await app.request("GET", "/helm/v1/repo/_blobs/mychart-0.1.0.tgz");
  assert.equal(download.status, 200);
  assert.deepEqual(download.body, tgz);
});

test("a classic push is an OCI chart: repo/<name>:<version> pulls with Helm's media types", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "mychart", version: "1.0.0+build.7" });
  assert.equal((await classicPush(app, "repo", tgz)).status, 201);
  assert.deepEqual((await app.request("GET", "/v2/repo/mychart/tags/list")).json().tags, ["1.0.0_build.7"]);
  const manifest = await app.request("GET", "/v2/repo/mychart/manifests/1.0.0_build.7");
  assert.equal(manifest.headers["content-type"], OCI_MANIFEST);
  const json = manifest.json();
  assert.equal(json.config.mediaType, HELM_CONFIG);
  assert.equal(json.layers[0].mediaType, HELM_LAYER);
  assert.deepEqual((await app.request("GET", `/v2/repo/mychart/blobs/${json.layers[0].digest}`)).body, tgz);
  const config = (await app.request("GET", `/v2/repo/mychart/blobs/${json.config.digest}`)).json();
  assert.deepEqual(Object.keys(config), ["name", "version", "apiVersion"], "Helm's field order");
});

test("a chart pushed the OCI way appears in the classic index; a name in two namespaces lists its first publisher's versions", async (t) => {
  const app = await freshApp(t);
  const charts = await ociPush(app, "charts", "demo", "0.2.0");
  await ociPush(app, "my-helm-charts", "demo", "0.2.0");
  await ociPush(app, "charts", "demo", "0.3.0");
  await ociPush(app, "my-helm-charts", "demo", "0.4.0");
  const { doc } = await index(app);
  assert.deepEqual(doc.entries.demo!.map((e) => [e.version, e.urls, e.description]), [
    ["0.3.0", ["_blobs/charts/demo-0.3.0.tgz"], "demo from charts"],
    ["0.2.0", ["_blobs/charts/demo-0.2.0.tgz"], "demo from charts"],
  ]);
  assert.deepEqual((await app.request("GET", "/helm/v1/repo/_blobs/charts/demo-0.2.0.tgz")).body, charts.tgz);
  // A classic repository named after a namespace shows just that namespace, with short URLs.
  const own = await index(app, "my-helm-charts");
  assert.deepEqual(own.doc.entries.demo!.map((e) => [e.version, e.urls, e.description]), [
    ["0.4.0", ["_blobs/demo-0.4.0.tgz"], "demo from my-helm-charts"],
    ["0.2.0", ["_blobs/demo-0.2.0.tgz"], "demo from my-helm-charts"],
  ]);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/my-helm-charts/demo-0.4.0.tgz")).status, 200, "its explicit URL still serves it");
  const listed = (await app.request("GET", "/api/v1/charts")).json().charts;
  assert.deepEqual(listed.map((c: { reference: string; storedAs: string }) => [c.reference, c.storedAs]), [
    ["charts/demo:0.3.0", "oci"],
    ["charts/demo:0.2.0", "oci"],
    ["my-helm-charts/demo:0.4.0", "oci"],
    ["my-helm-charts/demo:0.2.0", "oci"],
  ]);
});

test("a classic push to repo of a name another namespace published first is stored and served by its URL; the index lists the first publisher's", async (t) => {
  const app = await freshApp(t);
  await ociPush(app, "charts", "demo", "0.1.0");
  const classic = await validChart({ name: "demo", version: "0.1.0", description: "classic" });
  assert.equal((await classicPush(app, "repo", classic)).status, 201);
  const { doc } = await index(app);
  assert.deepEqual(doc.entries.demo!.map((e) => [e.urls, e.description]), [[["_blobs/charts/demo-0.1.0.tgz"], "demo from charts"]]);
  assert.deepEqual((await app.request("GET", "/helm/v1/repo/_blobs/demo-0.1.0.tgz")).body, classic);
});

test("helm.views configures which namespaces a classic repository shows", async (t) => {
  const app = await freshApp(t, { "helm.views": { repo: ["team/*"], all: ["*"] } });
  await ociPush(app, "team/a", "one", "1.0.0");
  await ociPush(app, "other", "two", "1.0.0");
  assert.deepEqual(Object.keys((await index(app, "repo")).doc.entries), ["one"]);
  assert.deepEqual(Object.keys((await index(app, "all")).doc.entries), ["one", "two"]);
});

test("the index is current as soon as a push or delete answers, and its ETag changes", async (t) => {
  const app = await freshApp(t);
  const before = await index(app);
  assert.deepEqual(before.doc.entries, {});
  await classicPush(app, "repo", await validChart({ name: "a", version: "1.0.0" }));
  const after = await index(app);
  assert.notEqual(after.etag, before.etag);
  assert.equal(after.doc.entries.a!.length, 1);
  assert.equal((await app.request("GET", "/helm/v1/repo/index.yaml", { headers: { "if-none-match": String(after.etag) } })).status, 304);
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_blobs/a-1.0.0.tgz")).status, 200);
  assert.deepEqual((await index(app)).doc.entries, {});
  assert.equal((await app.request("GET", "/v2/repo/a/manifests/1.0.0")).status, 404);
});

test("PUT of an existing version is 409; PATCH overwrites", async (t) => {
  const app = await freshApp(t);
  await classicPush(app, "repo", await validChart({ name: "a", version: "1.0.0", description: "first" }));
  const again = await classicPush(app, "repo", await validChart({ name: "a", version: "1.0.0", description: "second" }));
  assert.equal(again.status, 409);
  assert.equal(again.errorCode(), "CHART_EXISTS");
  assert.equal((await classicPush(app, "repo", await validChart({ name: "a", version: "1.0.0", description: "second" }), "PATCH")).status, 201);
  assert.equal((await index(app)).doc.entries.a![0]!.description, "second");
});

test("_charts lists, shows and deletes; unknown charts are 404 CHART_UNKNOWN", async (t) => {
  const app = await freshApp(t);
  for (const version of ["1.0.0", "1.1.0", "0.9.0"]) await classicPush(app, "repo", await validChart({ name: "a", version }));
  const all = (await app.request("GET", "/helm/v1/repo/_charts")).json();
  assert.deepEqual(all.a.map((e: { version: string }) => e.version), ["1.1.0", "1.0.0", "0.9.0"]);
  assert.equal((await app.request("GET", "/helm/v1/repo/_charts/a/1.0.0")).json().version, "1.0.0");
  assert.equal((await app.request("GET", "/helm/v1/repo/_charts/b")).errorCode(), "CHART_UNKNOWN");
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_charts/a/1.0.0")).status, 200);
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_charts/a")).status, 200);
  assert.deepEqual((await app.request("GET", "/helm/v1/repo/_charts")).json(), {});
});

test(".prov files: attached after the chart, served at the package URL + .prov, removed alone", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "signed", version: "1.0.0" });
  const prov = provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0" }), { "signed-1.0.0.tgz": provenanceSum(tgz) });
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov", { body: prov })).status, 404, "no chart yet");
  await classicPush(app, "repo", tgz);
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov", { body: prov })).status, 201);
  assert.deepEqual((await app.request("GET", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov")).body, prov);
  const layers = (await app.request("GET", "/v2/repo/signed/manifests/1.0.0")).json().layers;
  assert.deepEqual(layers.map((l: { mediaType: string }) => l.mediaType), [HELM_LAYER, "application/vnd.cncf.helm.chart.provenance.v1.prov"]);
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov")).status, 200);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov")).status, 404);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/signed-1.0.0.tgz")).status, 200);
});

test("a .prov whose checksum is not the package's (as helm verify compares them) is refused and changes nothing: 409 attached alone, 400 sent with its chart", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "signed", version: "1.0.0" });
  const other = await validChart({ name: "signed", version: "1.0.0", description: "another build" });
  await classicPush(app, "repo", tgz);
  const before = (await app.request("GET", "/v2/repo/signed/manifests/1.0.0")).headers["docker-content-digest"];
  const wrong = provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0" }), { "signed-1.0.0.tgz": provenanceSum(other) });
  const unlisted = provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0" }), { "renamed.tgz": provenanceSum(tgz) });
  for (const prov of [wrong, unlisted]) {
    for (const [method, url] of [["PUT", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov"], ["POST", "/api/repo/prov"]] as const) {
      const res = await app.request(method, url, { body: prov });
      assert.equal(res.status, 409, `${method} ${url}: ${res.body.toString()}`);
      assert.match(res.body.toString(), /signed-1\.0\.0\.tgz/);
    }
    const form = new FormData();
    form.append("chart", new Blob([new Uint8Array(tgz)]), "signed-1.0.0.tgz");
    form.append("prov", new Blob([new Uint8Array(prov)]), "signed-1.0.0.tgz.prov");
    const multipart = new Response(form);
    const res = await app.request("POST", "/api/repo/charts?force", { body: Buffer.from(await multipart.arrayBuffer()), headers: { "content-type": multipart.headers.get("content-type")! } });
    assert.equal(res.status, 400, res.body.toString());
    assert.match(res.json().error, /does not sign the chart sent with it/);
  }
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov")).status, 404, "no .prov attached");
  assert.equal((await app.request("GET", "/v2/repo/signed/manifests/1.0.0")).headers["docker-content-digest"], before, "the version is as it was");
  const right = provenanceFor(chartYamlFor({ name: "signed", version: "1.0.0" }), { "signed-1.0.0.tgz": provenanceSum(tgz) });
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/signed-1.0.0.tgz.prov", { body: right })).status, 201);
});

test("ChartMuseum API: multipart chart + prov, raw body, ?force, {error} bodies", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "museum", version: "1.0.0" });
  const prov = provenanceFor(chartYamlFor({ name: "museum", version: "1.0.0" }), { "museum-1.0.0.tgz": provenanceSum(tgz) });
  const form = new FormData();
  form.append("chart", new Blob([new Uint8Array(tgz)]), "/tmp/museum-1.0.0.tgz");
  form.append("prov", new Blob([new Uint8Array(prov)]), "museum-1.0.0.tgz.prov");
  const multipart = new Response(form);
  const body = Buffer.from(await multipart.arrayBuffer());
  const headers = { "content-type": multipart.headers.get("content-type")! };
  const res = await app.request("POST", "/api/helm/v1/repo/charts", { body, headers });
  assert.equal(res.status, 201, res.body.toString());
  assert.deepEqual(res.json(), { saved: true });
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/museum-1.0.0.tgz.prov")).status, 200);
  const exists = await app.request("POST", "/api/repo/charts", { body: tgz });
  assert.equal(exists.status, 409);
  assert.match(exists.json().error, /already exists/);
  assert.equal((await app.request("POST", "/api/repo/charts?force", { body: tgz })).status, 201);
  assert.equal((await app.request("GET", "/api/repo/charts/museum/1.0.0")).json().version, "1.0.0");
  assert.equal((await app.request("HEAD", "/api/repo/charts/museum")).status, 200);
  assert.equal((await app.request("DELETE", "/api/repo/charts/museum/1.0.0")).status, 200);
  assert.equal((await app.request("GET", "/api/repo/charts/museum")).status, 404);
  assert.deepEqual(Object.keys((await app.request("GET", "/api/repo/charts/museum")).json()), ["error"]);
});

/** Sends the headers and the first `sent` bytes of `body` over a socket, then leaves (destroys it) before the rest. */
async function leaveMidBody(url: URL, path: string, headers: Record<string, string>, body: Buffer, sent: number): Promise<void> {
  await new Promise<void>((done) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.on("error", () => undefined);
    socket.on("close", () => done());
    const head = [`POST ${path} HTTP/1.1`, "host: berth", `authorization: ${AUTH}`, `content-length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
    socket.write(head);
    // Once the bytes are written and the server has had a moment to read them: the cut comes mid-part.
    socket.write(body.subarray(0, sent), () => setImmediate(() => socket.destroy()));
  });
}

test("ChartMuseum API: a client that leaves mid-body (multipart chart, multipart .prov, raw body) is answered 400 \"the request body ended\", as every upload is, and nothing is stored", { timeout: 60_000 }, async (t) => {
  const app = await freshApp(t);
  // The client is gone, so the answer is read where Berth sends it.
  const answers = new Map<string, { status: number; body: string }>();
  let answered: () => void = () => undefined;
  app.berth.app.addHook("onSend", async (request, reply, payload) => {
    answers.set(request.url, { status: reply.statusCode, body: String(payload) });
    answered();
    return payload;
  });
  const url = await app.listen();
  const tgz = await validChart({ name: "leaver", version: "1.0.0", description: randomBytes(64 * 1024).toString("hex") });
  const prov = provenanceFor(chartYamlFor({ name: "leaver", version: "1.0.0" }), { "leaver-1.0.0.tgz": provenanceSum(tgz) });
  const form = async (field: string, bytes: Buffer, file: string) => {
    const data = new FormData();
    data.append(field, new Blob([new Uint8Array(bytes)]), file);
    const response = new Response(data);
    return { body: Buffer.from(await response.arrayBuffer()), type: response.headers.get("content-type")! };
  };
  const chart = await form("chart", tgz, "leaver-1.0.0.tgz");
  const signature = await form("prov", prov, "leaver-1.0.0.tgz.prov");
  const cases = [
    { path: "/api/repo/charts?multipart", type: chart.type, body: chart.body },
    { path: "/api/repo/prov?multipart", type: signature.type, body: signature.body },
    { path: "/api/repo/charts?raw", type: "application/octet-stream", body: tgz },
  ];
  for (const c of cases) {
    const seen = new Promise<void>((resolve) => (answered = () => answers.has(c.path) && resolve()));
    await leaveMidBody(url, c.path, { "content-type": c.type }, c.body, Math.floor(c.body.length / 2));
    await seen;
    const answer = answers.get(c.path)!;
    assert.equal(answer.status, 400, `${c.path}: ${answer.body}`);
    assert.match(answer.body, /the request body ended before it was complete/, c.path);
    assert.doesNotMatch(answer.body, /CHART_INVALID|malformed/, c.path);
  }
  assert.equal((await app.request("GET", "/api/repo/charts/leaver")).status, 404);
});

const HOSTILE: [string, () => Promise<Buffer>][] = [
  ["path traversal", () => build([{ path: "evil/Chart.yaml", content: "apiVersion: v2\nname: evil\nversion: 1.0.0\n" }, { path: "evil/../../etc/x", content: "x" }])],
  ["symlink", () => build([{ path: "evil/Chart.yaml", content: "apiVersion: v2\nname: evil\nversion: 1.0.0\n" }, { path: "evil/link", type: "symlink", linkname: "/etc/passwd" }])],
  ["hard link", () => build([{ path: "evil/Chart.yaml", content: "apiVersion: v2\nname: evil\nversion: 1.0.0\n" }, { path: "evil/link", type: "link", linkname: "evil/Chart.yaml" }])],
  ["YAML bomb", () => validChart({ name: "evil", version: "1.0.0", chartYaml: ["name: evil", "version: 1.0.0", 'a: &a ["x","x","x","x","x","x","x","x","x"]', ...["b", "c", "d", "e", "f", "g", "h", "i"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(",")}]`)].join("\n") + "\n" })],
  ["not a chart", async () => Buffer.from("just some text")],
  ["uppercase name", () => validChart({ name: "Evil", version: "1.0.0" })],
];

for (const [kind, make] of HOSTILE) {
  test(`a hostile package (${kind}) is refused with 400 through both APIs; index and storage unchanged`, async (t) => {
    const app = await freshApp(t);
    await classicPush(app, "repo", await validChart({ name: "good", version: "1.0.0" }));
    const before = await index(app);
    const files = await stored(app);
    const tgz = await make();
    const acr = await classicPush(app, "repo", tgz);
    assert.equal(acr.status, 400, acr.body.toString());
    assert.equal(acr.errorCode(), "CHART_INVALID");
    const museum = await app.request("POST", "/api/repo/charts", { body: tgz });
    assert.equal(museum.status, 400);
    assert.ok(museum.json().error.length > 10);
    assert.deepEqual((await index(app)).raw, before.raw);
    assert.deepEqual(await stored(app), files);
  });
}

test("a package over helm.maxUploadBytes is 413 and leaves nothing", async (t) => {
  const app = await freshApp(t, { "helm.maxUploadBytes": 1024 });
  const files = await stored(app);
  const res = await classicPush(app, "repo", await validChart({ name: "big", version: "1.0.0", files: { "data.bin": randomBytes(64 * 1024) } }));
  assert.equal(res.status, 413);
  assert.deepEqual(await stored(app), files);
});

test("wrong paths say where the repositories are; wrong credentials are 401 for Helm", async (t) => {
  const app = await freshApp(t);
  for (const path of ["/index.yaml", "/helm/index.yaml", "/helm/v2/repo/index.yaml", "/helm/v1/repo/nothing"]) {
    const res = await app.request("GET", path);
    assert.equal(res.status, 404, path);
    assert.match(res.json().errors[0].message, /\/helm\/v1\/<repository>/, path);
  }
  const wrong = await app.request("GET", "/helm/v1/repo/index.yaml", { auth: `Basic ${Buffer.from("admin:wrong").toString("base64")}` });
  assert.equal(wrong.status, 401);
  assert.equal((await app.request("GET", "/helm/v1/repo/index.yaml", { auth: null })).status, 401);
});

test("percent-encoded versions in classic URLs", async (t) => {
  const app = await freshApp(t);
  await classicPush(app, "repo", await validChart({ name: "enc", version: "1.0.0+build.1" }));
  assert.equal((await app.request("GET", "/helm/v1/repo/_charts/enc/1.0.0%2Bbuild.1")).status, 200);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/enc-1.0.0%2Bbuild.1.tgz")).status, 200);
  assert.equal((await app.request("GET", "/helm/v1/repo/_blobs/enc-1.0.0+build.1.tgz")).status, 200);
});

test("a scoped identity's index lists only its charts, is cached, and changes with a push in its scope", async (t) => {
  const app = await freshApp(t);
  await ociPush(app, "team", "mine", "1.0.0");
  await ociPush(app, "other", "theirs", "1.0.0");
  const sp = await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: "reader", role: "acrpull", scope: "team/*" }), headers: { "content-type": "application/json" } });
  assert.equal(sp.status, 201, sp.body.toString());
  const { id, secret } = sp.json();
  const auth = `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
  const first = await app.request("GET", "/helm/v1/repo/index.yaml", { auth });
  assert.deepEqual(Object.keys(parse(first.body.toString()).entries), ["mine"]);
  const again = await app.request("GET", "/helm/v1/repo/index.yaml", { auth });
  assert.equal(again.headers.etag, first.headers.etag);
  await ociPush(app, "team", "mine", "1.1.0");
  const after = await app.request("GET", "/helm/v1/repo/index.yaml", { auth });
  assert.notEqual(after.headers.etag, first.headers.etag);
  assert.deepEqual(parse(after.body.toString()).entries.mine.map((e: { version: string }) => e.version), ["1.1.0", "1.0.0"]);
});

// A NUL in what a client sends (the URL's path or query, a JSON body, Basic credentials) is refused
// where the request is parsed (http/refusals.ts refuseNul), in each protocol's own error shape:
// PostgreSQL's text refuses NUL, so it must never reach a store (attack s8b, findings 2, 3, 8, 9).
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, imageManifest, pushBlob, putManifest, type TestResponse } from "../support/app.ts";
import { usePostgres } from "../support/postgres.ts";
import { validChart } from "../support/chart-fixtures.ts";

const postgres = usePostgres();

const JSON_TYPE = { "content-type": "application/json" };

function codeOf(res: TestResponse): string | undefined {
  return (res.json() as { errors?: { code: string }[] }).errors?.[0]?.code;
}

test("GET /v2 lists: a NUL in `last` is a 400 with the spec's UNSUPPORTED (an invalid set of parameters)", async (t) => {
  const app = await freshApp(t);
  for (const url of ["/v2/_catalog?last=%00", "/v2/team/app/tags/list?n=1&last=a%00b"]) {
    const res = await app.request("GET", url);
    assert.equal(res.status, 400, url);
    assert.equal(codeOf(res), "UNSUPPORTED", url);
  }
});

test("GET /v2/<name>/...: a NUL in the path is a 400 NAME_INVALID", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/v2/team%00/app/tags/list");
  assert.equal(res.status, 400);
  assert.equal(codeOf(res), "NAME_INVALID");
});

test("/api/v1: a NUL in a query, a path or a JSON body is a 400 INVALID_REQUEST, and changes nothing", async (t) => {
  const app = await freshApp(t);
  for (const [method, url, body] of [
    ["GET", "/api/v1/repositories?q=%00", undefined],
    ["GET", "/api/v1/webhooks/%00/deliveries", undefined],
    ["PUT", "/api/v1/scope-maps/sm", { description: "d\u0000", rules: [{ repository: "team/*", actions: ["content/read"] }] }],
    ["PUT", "/api/v1/scope-maps/sm", { description: "d", rules: [{ repository: "team/*", actions: ["content/read"] }], "k\u0000": 1 }],
  ] as const) {
    const res = await app.request(method, url, body === undefined ? {} : { body: JSON.stringify(body), headers: JSON_TYPE });
    assert.equal(res.status, 400, `${method} ${url}`);
    assert.equal(codeOf(res), "INVALID_REQUEST", `${method} ${url}`);
  }
  assert.equal((await app.request("GET", "/api/v1/scope-maps/sm")).status, 404);
});

test("a NUL in the Basic user name is a 401 (bad credentials), on /v2/, /api/v1 and the classic Helm repository", async (t) => {
  const app = await freshApp(t);
  const auth = `Basic ${Buffer.from("adm\u0000in:some-password").toString("base64")}`;
  for (const url of ["/v2/", "/api/v1/repositories", "/helm/v1/charts/index.yaml"]) {
    const res = await app.request("GET", url, { auth });
    assert.equal(res.status, 401, url);
    assert.equal(codeOf(res), "UNAUTHORIZED", url);
  }
});

test("GET /helm/v1/<repository>: a NUL in the path is a 400 in Berth's error body", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/helm/v1/charts%00/index.yaml");
  assert.equal(res.status, 400);
  assert.equal(codeOf(res), "INVALID_REQUEST");
});

test("PUT /v2/<name>/manifests/<ref>: a NUL in an annotation or artifactType is a 400 MANIFEST_INVALID, and nothing is stored", async (t) => {
  const app = await freshApp(t);
  for (const extra of [{ annotations: { "a\u0000": "b" } }, { annotations: { a: "b\u0000" } }, { artifactType: "application/x\u0000" }]) {
    const m = await imageManifest(app, "team/app", extra);
    const res = await putManifest(app, "team/app", "v1", m.body);
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(codeOf(res), "MANIFEST_INVALID", JSON.stringify(extra));
  }
  const tags = (await app.request("GET", "/v2/team/app/tags/list")).json() as { tags: string[] | null };
  assert.deepEqual(tags.tags ?? [], []);
});

test("PUT a manifest whose image config's labels hold a NUL (PostgreSQL): 201, the labels shown with U+FFFD (the config blob itself stays exact)", async (t) => {
  const app = await freshApp(t, { "metadata.driver": "postgres", "metadata.postgres.url": await postgres().database() });
  for (const [tag, labels] of [["v1", { "a\u0000": "b" }], ["v2", { a: "b\u0000" }]] as const) {
    const configBytes = JSON.stringify({ architecture: "amd64", os: "linux", config: { Labels: labels }, rootfs: { type: "layers", diff_ids: [] } });
    const config = await pushBlob(app, "team/app", configBytes);
    const layerBytes = `layer ${tag}`;
    const layer = await pushBlob(app, "team/app", layerBytes);
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: Buffer.byteLength(configBytes) },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: Buffer.byteLength(layerBytes) }],
    }));
    const res = await putManifest(app, "team/app", tag, body);
    assert.equal(res.status, 201, String(res.body));
    const provenance = await app.request("GET", `/api/v1/provenance/team/app/${tag}`);
    assert.equal(provenance.status, 200);
    assert.ok(provenance.body.toString().includes(JSON.stringify(labels).replace("\\u0000", "\ufffd")), provenance.body.toString());
  }
});

test("PUT /helm/v1/<repository>/_blobs/<chart>.tgz: a Chart.yaml holding a NUL is a 400 CHART_INVALID, and nothing is stored", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "demo", version: "1.0.0", description: "d\u0000" });
  const res = await app.request("PUT", "/helm/v1/charts/_blobs/demo-1.0.0.tgz", { body: tgz, headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 400, String(res.body));
  assert.equal(codeOf(res), "CHART_INVALID");
  assert.ok(!(await app.request("GET", "/helm/v1/charts/index.yaml")).body.toString().includes("demo"));
});

// The portal's session and lists beyond what the attack tests cover (review of issue 15): a
// stranger's cookie of the same name, `Origin: null` and cross-site requests on the registry
// routes, no challenge to portal calls on the Helm-served chart list, anonymous lists under
// per-repository anonymous pull, and n=0.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, PASSWORD, pushBlob, type TestApp } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };
const BOGUS = `berth_session=${"A".repeat(43)}`;

async function cookie(app: TestApp): Promise<string> {
  const res = await app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: "admin", password: PASSWORD }), headers: JSON_TYPE, auth: null });
  assert.equal(res.status, 200, String(res.body));
  const header = res.headers["set-cookie"];
  return (Array.isArray(header) ? header[0]! : String(header)).split(";")[0]!;
}

test("a stranger's berth_session cookie (a sibling host's, sent first) does not lock the user out; alone it is a 401", async (t) => {
  const app = await freshApp(t);
  const mine = await cookie(app);
  for (const both of [`${BOGUS}; ${mine}`, `${mine}; ${BOGUS}`]) {
    const me = await app.request("GET", "/api/v1/session", { headers: { cookie: both }, auth: null });
    assert.equal(me.json().identity?.name, "admin", both);
    assert.equal((await app.request("GET", "/api/v1/users", { headers: { cookie: both }, auth: null })).status, 200, both);
  }
  assert.equal((await app.request("GET", "/api/v1/users", { headers: { cookie: BOGUS }, auth: null })).status, 401);
});

test("state-changing requests with Origin: null or a foreign Origin are refused on every route, whatever the credentials; without Origin they work", async (t) => {
  const app = await freshApp(t);
  for (const origin of ["null", "https://evil.example", "http://localhost:81"]) {
    assert.equal((await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "eve", roles: ["owner"], password: "eve-password-1" }), headers: { ...JSON_TYPE, origin } })).status, 403, origin);
    assert.equal((await app.request("POST", "/v2/team/app/blobs/uploads/", { headers: { origin } })).status, 403, origin);
    assert.equal((await app.request("DELETE", "/helm/v1/charts/demo/1.0.0", { headers: { origin } })).status, 403, origin);
  }
  assert.equal((await app.request("GET", "/api/v1/users/eve")).status, 404, "nothing was created");
  // Reads stay open to any Origin (CORS still keeps their answers from another site's script).
  assert.equal((await app.request("GET", "/api/v1/repositories", { headers: { origin: "null" } })).status, 200);
  assert.equal((await app.request("POST", "/v2/team/app/blobs/uploads/")).status, 202);
  assert.equal((await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "eve", roles: ["acrpull"], password: "eve-password-1" }), headers: { ...JSON_TYPE, origin: "http://localhost:80" } })).status, 201);
});

test("the portal's call to the chart list gets no Basic challenge; a client's does", async (t) => {
  const app = await freshApp(t);
  const portal = await app.request("GET", "/api/v1/charts", { headers: { "x-berth-portal": "1" }, auth: null });
  assert.equal(portal.status, 401);
  assert.equal(portal.headers["www-authenticate"], undefined);
  assert.match(String((await app.request("GET", "/api/v1/charts", { auth: null })).headers["www-authenticate"]), /^Basic /);
});

test("with anonymous pull on one repository only, the chart list and the repository list show it to anonymous callers, as its pages do", async (t) => {
  const app = await freshApp(t);
  const tgz = await validChart({ name: "pub", version: "1.0.0" });
  const config = Buffer.from(JSON.stringify({ name: "pub", version: "1.0.0", apiVersion: "v2" }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: await pushBlob(app, "open/pub", config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: await pushBlob(app, "open/pub", tgz), size: tgz.length }],
  });
  assert.equal((await app.request("PUT", "/v2/open/pub/manifests/1.0.0", { body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })).status, 201);
  const closed = await validChart({ name: "priv", version: "1.0.0" });
  assert.equal((await app.request("PUT", "/helm/v1/charts/_blobs/priv.tgz", { body: closed, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.equal((await app.request("GET", "/api/v1/charts", { auth: null })).status, 401, "no anonymous pull anywhere: sign in");
  assert.equal((await app.request("PATCH", "/api/v1/repositories/open/pub/attributes", { body: JSON.stringify({ anonymousPull: true }), headers: JSON_TYPE })).status, 200);

  assert.equal((await app.request("GET", "/api/v1/charts/open/pub", { auth: null })).status, 200);
  const charts = await app.request("GET", "/api/v1/charts", { auth: null });
  assert.equal(charts.status, 200, String(charts.body));
  assert.deepEqual(charts.json().charts.map((c: { repository: string }) => c.repository), ["open/pub"]);
  const repositories = await app.request("GET", "/api/v1/repositories", { auth: null });
  assert.equal(repositories.status, 200, String(repositories.body));
  assert.deepEqual(repositories.json().repositories.map((r: { name: string }) => r.name), ["open/pub"]);
});

test("n=0 is a 400 naming the field, on every paged list", async (t) => {
  const app = await freshApp(t);
  for (const url of ["/api/v1/repositories?n=0", "/api/v1/charts?n=0", "/api/v1/search?unsigned=true&n=0"]) {
    const res = await app.request("GET", url);
    assert.equal(res.status, 400, `${url}: ${res.body}`);
    assert.match(res.body.toString(), /\bn\b/, url);
  }
});

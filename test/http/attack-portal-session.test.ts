// Attacks on the portal's session and the routes around it (review of issue 15): where the session
// cookie must open nothing, cross-site requests riding on credentials the browser keeps, sessions
// outliving the identity that opened them, the shared sign-in limit, and the SPA fallback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, PASSWORD, type TestApp, type TestResponse } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };
const EVIL = "https://evil.example";
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function signIn(app: TestApp, username: string, password: string, remoteAddress?: string): Promise<TestResponse> {
  return app.request("POST", "/api/v1/session", { body: JSON.stringify({ username, password }), headers: JSON_TYPE, auth: null, ...(remoteAddress ? { remoteAddress } : {}) });
}

function cookieOf(res: TestResponse): string {
  const header = res.headers["set-cookie"];
  return (Array.isArray(header) ? header[0]! : String(header)).split(";")[0]!;
}

async function adminCookie(app: TestApp): Promise<string> {
  const res = await signIn(app, "admin", PASSWORD);
  assert.equal(res.status, 200, String(res.body));
  return cookieOf(res);
}

test("attack: the session cookie opens ChartMuseum's /api/<repository>/charts (docs: the cookie authenticates Berth's API only; registry and Helm clients never send cookies)", async (t) => {
  const app = await freshApp(t);
  const cookie = await adminCookie(app);
  for (const url of ["/api/team/charts", "/api/helm/v1/team/charts", "/api/team/charts/demo"]) {
    const without = await app.request("GET", url, { auth: null });
    assert.equal(without.status, 401, `${url} without credentials: ${without.body}`);
    const withCookie = await app.request("GET", url, { headers: { cookie }, auth: null });
    assert.equal(withCookie.status, 401, `${url} with only the portal's cookie must be refused as without it: ${withCookie.status} ${withCookie.body}`);
  }
  // The portal's own chart API keeps taking it.
  assert.equal((await app.request("GET", "/api/v1/charts", { headers: { cookie }, auth: null })).status, 200);
});

test("attack: a cross-site request riding on Basic credentials the browser keeps (typed into its dialog on a 401 challenge) changes state: rotate a secret, upload a chart", async (t) => {
  const app = await freshApp(t);
  const sp = (await app.request("POST", "/api/v1/service-principals", { body: JSON.stringify({ name: "ci-bot", role: "acrpull" }), headers: JSON_TYPE })).json();
  // A browser answers Berth's `WWW-Authenticate: Basic` challenge on /api/ once; it then sends
  // those credentials with every request to Berth, also with a `fetch(…, {mode: "no-cors",
  // credentials: "include", method: "POST"})` from another site, which needs no preflight when it
  // carries no body or a multipart one. Only the Origin tells such a request apart; registry, Helm
  // and CLI clients never send one.
  const challenge = await app.request("GET", "/api/v1/users", { auth: null });
  assert.match(String(challenge.headers["www-authenticate"]), /^Basic /, "a browser opening the API is asked for a password");

  const rotate = await app.request("POST", `/api/v1/service-principals/${sp.id}/secret`, { headers: { origin: EVIL } });
  assert.equal(rotate.status, 403, `a cross-site POST rotated the service principal's secret: ${rotate.status} ${rotate.body}`);
  assert.equal((await app.request("GET", "/v2/", { auth: basic(sp.id, sp.secret) })).status, 200, "the CI secret still works");

  const boundary = "attack";
  const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="chart"; filename="x.tgz"\r\nContent-Type: application/gzip\r\n\r\nnot a chart\r\n--${boundary}--\r\n`;
  const upload = await app.request("POST", "/api/team/charts", { body: multipart, headers: { origin: EVIL, "content-type": `multipart/form-data; boundary=${boundary}` } });
  assert.equal(upload.status, 403, `a cross-site multipart POST reached ChartMuseum's upload: ${upload.status} ${upload.body}`);

  // The same requests without an Origin (as every non-browser client sends them) still work.
  assert.equal((await app.request("POST", `/api/v1/service-principals/${sp.id}/secret`)).status, 200);
});

test("attack: failures through the portal, the token endpoint and /v2/ Basic count against one sign-in limit", async (t) => {
  const app = await freshApp(t, { "auth.failedSignInsPerIdentity": 3 });
  assert.equal((await signIn(app, "admin", "wrong-1")).status, 401);
  const token = await app.request("POST", "/oauth2/token", { body: "grant_type=password&username=admin&password=wrong-2&service=localhost:80", headers: { "content-type": "application/x-www-form-urlencoded" }, auth: null });
  assert.equal(token.status, 401, String(token.body));
  assert.equal((await app.request("GET", "/v2/", { auth: basic("admin", "wrong-3") })).status, 401);
  const limited = await signIn(app, "admin", PASSWORD);
  assert.equal(limited.status, 429, `the fourth attempt, through the portal, is limited: ${limited.body}`);
});

test("attack: a session dies with its identity and does not come back when the name is reused, nor survives a disabled token", async (t) => {
  const app = await freshApp(t);
  const user = (roles: string[]) => app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "dave", roles, password: "dave-password-1" }), headers: JSON_TYPE });
  assert.equal((await user(["acrpull"])).status, 201);
  const cookie = cookieOf(await signIn(app, "dave", "dave-password-1"));
  assert.equal((await app.request("DELETE", "/api/v1/users/dave")).status, 200);
  assert.equal((await user(["owner"])).status, 201, "same name, same password, now an owner");
  assert.equal((await app.request("GET", "/api/v1/users", { headers: { cookie }, auth: null })).status, 401, "the old session must not become an owner's");

  assert.equal((await app.request("PUT", "/api/v1/scope-maps/readers", { body: JSON.stringify({ rules: [{ repository: "team/*", actions: ["content/read"] }] }), headers: JSON_TYPE })).status, 201);
  const created = await app.request("POST", "/api/v1/tokens", { body: JSON.stringify({ name: "ci", scopeMap: "readers" }), headers: JSON_TYPE });
  assert.equal(created.status, 201, String(created.body));
  const tokenSession = await signIn(app, "ci", created.json().passwords[0].password);
  assert.equal(tokenSession.status, 200, String(tokenSession.body));
  const tokenCookie = cookieOf(tokenSession);
  assert.equal((await app.request("GET", "/api/v1/repositories", { headers: { cookie: tokenCookie }, auth: null })).status, 200);
  assert.equal((await app.request("PATCH", "/api/v1/tokens/ci", { body: JSON.stringify({ enabled: false }), headers: JSON_TYPE })).status, 200);
  assert.equal((await app.request("GET", "/api/v1/repositories", { headers: { cookie: tokenCookie }, auth: null })).status, 401);
});

test("attack: the SPA fallback answers registry-shaped paths with a double slash (a client with a trailing-slash base URL pings //v2/ and reads 200 as 'registry here, no auth')", async (t) => {
  const app = await freshApp(t);
  for (const path of ["//v2/", "//v2/_catalog", "//api/v1/repositories", "//helm/v1/repo/index.yaml", "//oauth2/token"]) {
    const res = await app.rawRequest("GET", path, { headers: {} });
    assert.doesNotMatch(String(res.headers["content-type"]), /text\/html/, `${path} answered with the portal's index.html (${res.status})`);
  }
});

test("attack: behind a TLS proxy (http.publicUrl https://…, no trustProxy) the session cookie goes out without Secure, so a plain-HTTP request (SSL strip, a mistyped http:// link) carries it in clear", async (t) => {
  const app = await freshApp(t, { "http.publicUrl": "https://registry.example" });
  const res = await app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: "admin", password: PASSWORD }), headers: { ...JSON_TYPE, origin: "https://registry.example" }, auth: null });
  assert.equal(res.status, 200, String(res.body));
  const line = String(Array.isArray(res.headers["set-cookie"]) ? res.headers["set-cookie"][0] : res.headers["set-cookie"]);
  assert.match(line, /;\s*Secure/i, `clients reach Berth over https (publicUrl), yet: ${line.replace(/=[A-Za-z0-9_-]{43}/, "=…")}`);
  assert.match(line, /^__Host-berth_session=/);
  // and the proxied request that brings it back (plain HTTP on the proxy's leg) is signed in.
  const me = await app.request("GET", "/api/v1/session", { headers: { cookie: line.split(";")[0]! }, auth: null });
  assert.equal(me.json().identity?.name, "admin");
});

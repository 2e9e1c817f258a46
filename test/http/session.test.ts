// The portal's session (POST/GET/DELETE /api/v1/session): an HttpOnly SameSite=Strict cookie
// that authenticates /api/ only, a CSRF token bound to it on every state-changing request, an
// Origin check, sign-out on the server, and failed sign-ins counted by the sign-in rate limit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ZERO_GUID } from "../../src/auth/identity.ts";
import { freshApp, PASSWORD, type TestApp, type TestResponse } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function signIn(app: TestApp, username: string, password: string, headers: Record<string, string> = {}): Promise<TestResponse> {
  return app.request("POST", "/api/v1/session", { body: JSON.stringify({ username, password }), headers: { ...JSON_TYPE, ...headers }, auth: null });
}

/** The `name=value` of the Set-Cookie, and its attributes. */
function cookieOf(res: TestResponse): { pair: string; attributes: string } {
  const header = res.headers["set-cookie"];
  const line = Array.isArray(header) ? header[0]! : String(header);
  const [pair, ...attributes] = line.split(";").map((p) => p.trim());
  return { pair: pair!, attributes: attributes.join("; ") };
}

async function session(app: TestApp): Promise<{ cookie: string; csrf: string }> {
  const res = await signIn(app, "admin", PASSWORD);
  assert.equal(res.status, 200, res.body.toString());
  return { cookie: cookieOf(res).pair, csrf: res.json().csrf };
}

test("POST /api/v1/session: signs in, sets an HttpOnly SameSite=Strict cookie; GET /api/v1/session names the identity", async (t) => {
  const app = await freshApp(t);
  const res = await signIn(app, "admin", PASSWORD);
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(res.headers["cache-control"], "no-store");
  const body = res.json();
  assert.deepEqual(body.identity, { name: "admin", kind: "admin" });
  assert.equal(body.manage, true);
  assert.match(body.csrf, /^[A-Za-z0-9_-]{43}$/);
  const { pair, attributes } = cookieOf(res);
  assert.match(pair, /^berth_session=[A-Za-z0-9_-]{43}$/);
  assert.match(attributes, /HttpOnly/);
  assert.match(attributes, /SameSite=Strict/);
  assert.match(attributes, /Path=\//);
  assert.match(attributes, /Expires=/);
  assert.doesNotMatch(attributes, /Secure/, "plain HTTP: a Secure cookie would never come back");
  // The database keeps a digest of the id, never the id.
  const id = pair.split("=")[1]!;
  assert.equal(await app.berth.stores.metadata.sessions.get(id), null);

  const me = await app.request("GET", "/api/v1/session", { headers: { cookie: pair }, auth: null });
  assert.equal(me.status, 200);
  assert.deepEqual(me.json().identity, { name: "admin", kind: "admin" });
  assert.equal(me.json().csrf, body.csrf);

  const anonymous = await app.request("GET", "/api/v1/session", { auth: null });
  assert.deepEqual(anonymous.json(), { identity: null, anonymousPull: false, manage: false, csrf: null, expires: null });
});

test("the session cookie authenticates /api/v1 reads; never /v2/", async (t) => {
  const app = await freshApp(t);
  const { cookie } = await session(app);
  assert.equal((await app.request("GET", "/api/v1/users", { headers: { cookie }, auth: null })).status, 200);
  assert.equal((await app.request("GET", "/api/v1/users", { auth: null })).status, 401);
  const v2 = await app.request("GET", "/v2/_catalog", { headers: { cookie }, auth: null });
  assert.equal(v2.status, 401, "registry clients never use cookies: a browser's cookie must not open /v2/");
});

test("a state-changing request with the cookie needs the session's X-Berth-CSRF and a same-origin Origin", async (t) => {
  const app = await freshApp(t);
  const { cookie, csrf } = await session(app);
  const user = (name: string, headers: Record<string, string>) =>
    app.request("POST", "/api/v1/users", { body: JSON.stringify({ name, roles: ["acrpull"] }), headers: { ...JSON_TYPE, cookie, ...headers }, auth: null });

  const without = await user("alice", {});
  assert.equal(without.status, 403, without.body.toString());
  assert.equal(without.errorCode(), "DENIED");
  assert.match(without.json().errors[0].message, /X-Berth-CSRF/);
  assert.equal((await user("alice", { "x-berth-csrf": `${csrf.slice(0, -1)}A` === csrf ? `${csrf.slice(0, -1)}B` : `${csrf.slice(0, -1)}A` })).status, 403);
  assert.equal((await user("alice", { "x-berth-csrf": csrf, origin: "https://evil.example" })).status, 403);
  assert.equal(await app.berth.stores.metadata.principals.byName("alice"), null, "nothing changed");

  const created = await user("alice", { "x-berth-csrf": csrf, origin: "http://localhost:80" });
  assert.equal(created.status, 201, created.body.toString());
  // Another session's token does not fit this one.
  const other = await session(app);
  assert.equal((await user("bob", { "x-berth-csrf": other.csrf })).status, 403);
});

test("DELETE /api/v1/session ends the session on the server; the old cookie is then refused", async (t) => {
  const app = await freshApp(t);
  const { cookie, csrf } = await session(app);
  const noCsrf = await app.request("DELETE", "/api/v1/session", { headers: { cookie }, auth: null });
  assert.equal(noCsrf.status, 403);
  const out = await app.request("DELETE", "/api/v1/session", { headers: { cookie, "x-berth-csrf": csrf }, auth: null });
  assert.equal(out.status, 200);
  assert.match(cookieOf(out).attributes, /Max-Age=0/);
  const after = await app.request("GET", "/api/v1/users", { headers: { cookie }, auth: null });
  assert.equal(after.status, 401);
  assert.match(after.json().errors[0].message, /session has ended/);
  assert.equal((await app.request("GET", "/api/v1/session", { headers: { cookie }, auth: null })).json().identity, null);
});

test("a session ends when the password that opened it is reset", async (t) => {
  const app = await freshApp(t);
  const created = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "carol", password: "carol-password-1", roles: ["acrpull"] }), headers: JSON_TYPE });
  assert.equal(created.status, 201, created.body.toString());
  const res = await signIn(app, "carol", "carol-password-1");
  assert.equal(res.status, 200);
  const cookie = cookieOf(res).pair;
  assert.deepEqual(res.json().identity, { name: "carol", kind: "user" });
  assert.equal(res.json().manage, false);
  assert.equal((await app.request("GET", "/api/v1/session", { headers: { cookie }, auth: null })).json().identity?.name, "carol");
  assert.equal((await app.request("POST", "/api/v1/users/carol/password", { body: JSON.stringify({ password: "carol-password-2" }), headers: JSON_TYPE })).status, 200);
  assert.equal((await app.request("GET", "/api/v1/session", { headers: { cookie }, auth: null })).json().identity, null);
});

test("the zero-GUID name with the refresh token of `berth login --expose-token` signs in", async (t) => {
  const app = await freshApp(t);
  const exchange = await app.request("POST", "/oauth2/exchange", {
    body: `grant_type=password&username=admin&password=${PASSWORD}&service=localhost:80`,
    headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost:80" },
    auth: null,
  });
  assert.equal(exchange.status, 200, exchange.body.toString());
  const res = await signIn(app, ZERO_GUID, exchange.json().refresh_token, { host: "localhost:80" });
  assert.equal(res.status, 200, res.body.toString());
  assert.deepEqual(res.json().identity, { name: "admin", kind: "admin" });
  assert.ok(new Date(res.json().expires).getTime() <= Date.now() + 8 * 3600_000);
});

test("every identity Berth knows signs in: a user, a service principal by its ID, a scope-map token by its name; each session reads as that identity", async (t) => {
  const app = await freshApp(t);
  const made = async (path: string, body: unknown) => {
    const res = await app.request(path.startsWith("/api/v1/scope-maps") ? "PUT" : "POST", path, { body: JSON.stringify(body), headers: JSON_TYPE });
    assert.equal(res.status, 201, `${path}: ${res.body}`);
    return res.json();
  };
  await made("/api/v1/users", { name: "erin", roles: ["acrpull"], password: "erin-password-1" });
  const sp = await made("/api/v1/service-principals", { name: "ci-bot", role: "acrpull" });
  await made("/api/v1/scope-maps/readers", { rules: [{ repository: "team/*", actions: ["content/read"] }] });
  const token = await made("/api/v1/tokens", { name: "ci", scopeMap: "readers" });
  for (const [username, password, kind] of [["erin", "erin-password-1", "user"], [sp.id, sp.secret, "sp"], ["ci", token.passwords[0].password, "token"]] as const) {
    const res = await signIn(app, username, password);
    assert.equal(res.status, 200, `${kind}: ${res.body}`);
    assert.equal(res.json().identity.kind, kind);
    assert.equal(res.json().manage, false, `${kind}: no owner`);
    const me = await app.request("GET", "/api/v1/session", { headers: { cookie: cookieOf(res).pair }, auth: null });
    assert.equal(me.json().identity.kind, kind);
    assert.equal((await app.request("GET", "/api/v1/repositories", { headers: { cookie: cookieOf(res).pair }, auth: null })).status, 200, `${kind}: the session reads the API`);
  }
});

test("failed portal sign-ins count against the sign-in rate limit (429 with Retry-After)", async (t) => {
  const app = await freshApp(t, { "auth.failedSignInsPerIdentity": 3 });
  for (let i = 0; i < 3; i++) {
    const res = await signIn(app, "admin", "wrong");
    assert.equal(res.status, 401);
    assert.equal(res.headers["www-authenticate"], undefined, "no Basic challenge: the browser must not pop up its dialog");
  }
  const limited = await signIn(app, "admin", PASSWORD);
  assert.equal(limited.status, 429, limited.body.toString());
  // The same name from another address still signs in: a guesser locks out only itself.
  assert.equal((await signIn(app, "admin", PASSWORD).then(() => app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: "admin", password: PASSWORD }), headers: JSON_TYPE, auth: null, remoteAddress: "10.0.0.9" }))).status, 200);
});

test("POST /api/v1/session: a bad body is a 400 naming the field; a foreign Origin is refused", async (t) => {
  const app = await freshApp(t);
  const foreign = await signIn(app, "admin", PASSWORD, { origin: "https://evil.example" });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.headers["set-cookie"], undefined);
  const bad = await app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: "admin" }), headers: JSON_TYPE, auth: null });
  assert.equal(bad.status, 400);
  assert.match(bad.json().errors[0].message, /password/);
});

test("a portal call refused for want of sign-in carries no Basic challenge (no browser dialog)", async (t) => {
  const app = await freshApp(t);
  for (const path of ["/api/v1/users", "/api/v1/repositories", "/api/v1/search?label=a=b"]) {
    const res = await app.request("GET", path, { headers: { "x-berth-portal": "1" }, auth: null });
    assert.equal(res.status, 401, path);
    assert.equal(res.headers["www-authenticate"], undefined, path);
  }
  const cli = await app.request("GET", "/api/v1/users", { auth: null });
  assert.match(String(cli.headers["www-authenticate"]), /^Basic/);
});

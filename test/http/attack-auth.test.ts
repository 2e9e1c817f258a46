// An outside attack on identity and access control (December 2026): each test is a finding,
// written so that it failed before its fix. The access matrix over every route and credential
// kind is test/e2e/attack-auth-matrix.test.ts; these need an in-process app (many addresses,
// parallel bursts) or a single precise setup.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { AuditLog } from "../../src/auth/audit.ts";
import { verifyPassword } from "../../src/auth/passwords.ts";
import { SignInLimiter } from "../../src/auth/rate-limit.ts";
import { TokenService } from "../../src/auth/token-service.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { freshApp, imageManifest, putManifest, type TestApp, type TestResponse } from "../support/app.ts";

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

async function json(app: TestApp, method: string, url: string, body?: unknown, auth?: string | null): Promise<TestResponse> {
  return app.request(method, url, { body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" }, ...(auth === undefined ? {} : { auth }) });
}

/** Waits (at most 10 s) until `done` holds; the work it waits for runs on the event loop meanwhile. */
async function until(done: () => boolean, what = "the condition"): Promise<void> {
  for (const deadline = Date.now() + 10_000; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) assert.fail(`${what} did not come to hold within 10 s`);
  }
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

test("sign-in limits hold against parallel guesses: a burst checks no more passwords than the limit allows", async (t) => {
  const app = await freshApp(t, { "auth.failedSignInsPerIdentity": 5, "auth.failedSignInsPerAddress": 12 });
  const password = (await json(app, "POST", "/api/v1/users", { name: "victim", roles: ["acrpull"] })).json().password as string;

  // One name from one address: 30 guesses at once. Before the fix every one was checked (30 × 401):
  // each request read the failure count before any of them had added to it.
const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => app.request("GET", "/v2/", { auth: basic("victim", `guess-${i}`), remoteAddress: "10.1.0.1" })));
const byName = tally(burst.map((r) => r.status));
  assert.ok((byName[401] ?? 0) <= 5, `one name: ${JSON.stringify(byName)} (at most 5 passwords checked)`);
  assert.equal((byName[401] ?? 0) + (byName[429] ?? 0), 30, JSON.stringify(byName));
  // The right password is refused too while the name is blocked from there: the guesser learns nothing.
  assert.equal((await app.request("GET", "/v2/", { auth: basic("victim", password), remoteAddress: "10.1.0.1" })).status, 429);

  // One address, many names, through every sign-in path at once: at most the address's 12.
  const paths = (i: number): Promise<TestResponse> => {
    const remoteAddress = "10.2.0.1";
    const name = `name-${i}`;
    const form = new URLSearchParams({ grant_type: "password", username: name, password: "x", service: "localhost:80" }).toString();
    switch (i % 4) {
      case 0:
        return app.request("GET", "/v2/", { auth: basic(name, "x"), remoteAddress });
      case 1:
        return app.request("POST", "/oauth2/token", { body: form, headers: { "content-type": "application/x-www-form-urlencoded" }, auth: null, remoteAddress });
      case 2:
        return app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: name, password: "x" }), headers: { "content-type": "application/json" }, auth: null, remoteAddress });
      default:
        return app.request("GET", "/oauth2/token?service=localhost:80", { auth: basic(name, "x"), remoteAddress });
    }
  };
const spread = tally((await Promise.all(Array.from({ length: 40 }, (_, i) => paths(i)))).map((r) => r.status));
assert.ok((spread[401] ?? 0) <= 12, `one address: ${JSON.stringify(spread)} (at most 12 passwords checked)`);
  assert.equal((spread[401] ?? 0) + (spread[429] ?? 0), 40, JSON.stringify(spread));

  // Successful sign-ins use up nothing: 8 in a row (each checked, none remembered), then the 5 failures the limit allows.
  const form = new URLSearchParams({ grant_type: "password", username: "victim", password, service: "localhost:80" }).toString();
  for (let i = 0; i < 8; i++) {
    const res = await app.request("POST", "/oauth2/token", { body: form, headers: { "content-type": "application/x-www-form-urlencoded" }, auth: null, remoteAddress: "10.3.0.1" });
    assert.equal(res.status, 200, `sign-in ${i + 1} with the right password`);
  }
  const after = [];
  for (let i = 0; i < 6; i++) after.push((await app.request("GET", "/v2/", { auth: basic("victim", `wrong-${i}`), remoteAddress: "10.3.0.1" })).status);
  assert.deepEqual(after, [401, 401, 401, 401, 401, 429]);
});

test("DELETE /api/v1/repositories/<repo>/tags/<tag>: whether <repo>/tags/<tag> is a repository too is no answer for a caller who may not see it", async (t) => {
  const app = await freshApp(t);
  for (const repo of ["solo", "solo/tags/v1"]) {
    const image = await imageManifest(app, repo);
    assert.equal((await putManifest(app, repo, "v1", image.body)).status, 201);
  }
  const sp = (await json(app, "POST", "/api/v1/service-principals", { name: "solo-owner", role: "owner", scope: "solo" })).json() as { id: string; secret: string };
  const auth = basic(sp.id, sp.secret);
  // The scope is the one repository `solo`: `solo/tags/v1` is as unknown to it as `solo/tags/v2`.
  // Before the fix the first answered 400 "ambiguous: solo/tags/v1 is a repository too".
  const deleted = await app.request("DELETE", "/api/v1/repositories/solo/tags/v1", { auth });
  assert.equal(deleted.status, 200, deleted.body.toString());
  const missing = await app.request("DELETE", "/api/v1/repositories/solo/tags/v2", { auth });
  assert.equal(missing.status, 404, missing.body.toString());
  // The admin, who sees both, is still asked to say which one it means.
  const image = await imageManifest(app, "solo");
  assert.equal((await putManifest(app, "solo", "v1", image.body)).status, 201);
  const admin = await app.request("DELETE", "/api/v1/repositories/solo/tags/v1");
  assert.equal(admin.status, 400);
  assert.match(admin.body.toString(), /ambiguous/);
});

test("a valid access token short of the right is 403 DENIED on Berth's API and Helm (no token flow there); 401 insufficient_scope only under /v2/", async (t) => {
  const app = await freshApp(t);
  for (const repo of ["team/app", "other/app"]) {
    const image = await imageManifest(app, repo);
    assert.equal((await putManifest(app, repo, "v1", image.body)).status, 201);
  }
  const host = { host: "localhost:80" };
  const query = new URLSearchParams({ service: "localhost:80", scope: "repository:team/app:pull" });
  const token = (await app.request("GET", `/oauth2/token?${query}`, { headers: host })).json().token as string;
  const bearer = `Bearer ${token}`;
  // Allowed: what the token grants, on every protocol.
  for (const url of ["/v2/team/app/tags/list", "/api/v1/repositories/team/app"]) assert.equal((await app.request("GET", url, { auth: bearer, headers: host })).status, 200, url);
  // Before the fix each of these answered 401 with a Basic challenge: a client that followed it
  // asked for a password, though the token was valid and (for manage) no token could ever do.
  for (const [method, url, body] of [
    ["GET", "/api/v1/users"],
    ["GET", "/api/v1/audit"],
    ["GET", "/api/v1/repositories/other/app"],
    ["GET", "/api/v1/repositories/team/app/attributes"],
    ["PATCH", "/api/v1/repositories/team/app/attributes", JSON.stringify({ listEnabled: true })],
    ["DELETE", "/api/v1/repositories/team/app/tags/v1"],
    ["PUT", "/api/v1/metadata/team/app/approved", JSON.stringify({ value: "yes" })],
  ] as const) {
    const res = await app.request(method, url, { auth: bearer, headers: body ? { ...host, "content-type": "application/json" } : host, ...(body ? { body } : {}) });
    assert.equal(res.status, 403, `${method} ${url}: ${res.body.toString().slice(0, 200)}`);
    assert.equal(res.errorCode(), "DENIED", `${method} ${url}`);
    assert.equal(res.headers["www-authenticate"], undefined, `${method} ${url}: no challenge`);
  }
  // The OCI API keeps distribution's answer: the client asks the token service for the scope.
  for (const url of ["/v2/other/app/tags/list", "/v2/_catalog"]) {
    const res = await app.request("GET", url, { auth: bearer, headers: host });
    assert.equal(res.status, 401, url);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer .*error="insufficient_scope"/, url);
  }
  // An anonymous access token is no sign-in anywhere: 401.
  const anonymous = (await app.request("GET", `/oauth2/token?${query}`, { auth: null, headers: host })).json().token as string;
  assert.equal((await app.request("GET", "/api/v1/users", { auth: `Bearer ${anonymous}`, headers: host })).status, 401);
});

test("a user signs in by name only: its id (the `sub` of every token it holds) is no second name with a sign-in limit of its own", async (t) => {
  const app = await freshApp(t);
  const password = (await json(app, "POST", "/api/v1/users", { name: "carol", roles: ["acrpull"] })).json().password as string;
  const query = new URLSearchParams({ service: "localhost:80", scope: "" });
  const token = (await app.request("GET", `/oauth2/token?${query}`, { auth: basic("carol", password), headers: { host: "localhost:80" } })).json().token as string;
  const id = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sub as string;
  assert.notEqual(id, "carol");
  assert.equal((await app.request("GET", "/v2/", { auth: basic("carol", password) })).status, 200);
  // Before the fix the id signed in as well (200): a guesser holding one of carol's tokens had two names to guess under.
  assert.equal((await app.request("GET", "/v2/", { auth: basic(id, password) })).status, 401);
});

test("parallel requests with one Basic header share one check, but none that began before an identity changed", async (t) => {
  const app = await freshApp(t);
  const password = (await json(app, "POST", "/api/v1/users", { name: "dave", roles: ["acrpull"] })).json().password as string;
  const metadata = app.berth.stores.metadata;
  const tokens = new TokenService(metadata, { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 });
  await tokens.load();
  let checks = 0;
  let release!: () => void;
  let held = new Promise<void>((r) => (release = r));
  const authenticator = new Authenticator(metadata, tokens, new AuditLog(metadata.audit, createLogger("silent")), new SignInLimiter(metadata.signInFailures, { perIdentity: 100, perAddress: 100 }), {
    verify: async (given: string, hash: string) => {
      checks++;
      await held;
      return verifyPassword(given, hash);
    },
  });
  const ctx = { service: "localhost", client: "127.0.0.1" };
  const header = basic("dave", password);
  // Ten at once: one sign-in (two password checks: the secret and the decoy), ten answers.
  const first = Array.from({ length: 10 }, () => authenticator.authenticate(header, ctx));
  await until(() => checks >= 2);
  const checksOfFirst = checks;
  assert.equal(checksOfFirst, 2);
  // The password is reset while that check waits; a request after the reset must not take its answer.
  assert.equal((await json(app, "POST", "/api/v1/users/dave/password", {})).status, 200);
  authenticator.forget(); // what the change feed does in every process
  const afterReset = authenticator.authenticate(header, ctx);
  await until(() => checks > checksOfFirst, "the request after the reset checks the password itself");
  release();
  held = Promise.resolve();
  for (const who of await Promise.all(first)) assert.equal(who?.kind, "user");
  assert.equal(await afterReset, null);
});

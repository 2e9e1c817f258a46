// What an outside tester broke (issue 12 and the sign-in points of issue 13), each as a request
// that must be refused: scoped owners managing identities, access tokens minting tokens, refresh
// tokens outliving their password, lock changes by pushers, lock-outs by strangers, NUL bytes in
// passwords, concurrent sign-ins sharing state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeJwt } from "jose";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { AuditLog } from "../../src/auth/audit.ts";
import { SignInLimiter } from "../../src/auth/rate-limit.ts";
import { TokenService } from "../../src/auth/token-service.ts";
import { verifyPassword } from "../../src/auth/passwords.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { AUTH, freshApp, imageManifest, OCI_INDEX, PASSWORD, pushBlob, putManifest, type TestApp, type TestResponse } from "../support/app.ts";

const ZERO_GUID = "00000000-0000-0000-0000-000000000000";
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const bearer = (token: string) => `Bearer ${token}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function json(app: TestApp, method: string, url: string, body?: unknown, auth?: string | null): Promise<TestResponse> {
  return app.request(method, url, body === undefined ? { auth } : { body: JSON.stringify(body), headers: { "content-type": "application/json" }, auth });
}

function expectStatus(res: TestResponse, status: number, what = "") {
  assert.equal(res.status, status, `${what} answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
}

async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const res = await json(app, "POST", "/api/v1/users", { name, roles });
  expectStatus(res, 201, "POST /api/v1/users");
  return basic(name, res.json().password);
}

async function token(app: TestApp, auth: string | null, scope: string, offline = false): Promise<TestResponse> {
  const query = new URLSearchParams({ service: "localhost:80", scope, ...(offline ? { offline_token: "true" } : {}) });
  return app.request("GET", `/oauth2/token?${query}`, { auth, headers: { host: "localhost:80" } });
}

async function exchange(app: TestApp, username: string, password: string): Promise<TestResponse> {
  const body = new URLSearchParams({ grant_type: "password", service: "localhost:80", username, password }).toString();
  return app.request("POST", "/oauth2/exchange", { body, headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost:80" }, auth: null });
}

/** GET /v2/team/app/tags/list with a header, as a client holding that credential would. */
async function use(app: TestApp, auth: string): Promise<number> {
  return (await app.request("GET", "/v2/_catalog", { auth, headers: { host: "localhost:80" } })).status;
}

test("a service principal that owns team-a/* manages team-a's locks, but no identity, the admin or the audit trail", async (t) => {
  const app = await freshApp(t);
  const created = await json(app, "POST", "/api/v1/service-principals", { name: "team-a-owner", role: "owner", scope: "team-a/*" });
  expectStatus(created, 201, "creating a scoped owner");
  const sp = basic(created.json().id, created.json().secret);
  for (const [method, url, body] of [
    ["GET", "/api/v1/users", undefined],
    ["POST", "/api/v1/users", { name: "escalated", roles: ["owner"] }],
    ["GET", "/api/v1/admin", undefined],
    ["POST", "/api/v1/admin/passwords/2", {}],
    ["GET", "/api/v1/service-principals", undefined],
    ["PUT", "/api/v1/scope-maps/all", { description: "x", rules: [{ repository: "*", actions: ["content/read"] }] }],
    ["POST", "/api/v1/tokens", { name: "t1", scopeMap: "all" }],
    ["GET", "/api/v1/audit", undefined],
  ] as const) {
    expectStatus(await json(app, method, url, body, sp), 403, `${method} ${url} by a scoped owner`);
  }
  assert.equal(await app.berth.stores.metadata.principals.byName("escalated"), null);
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team-a/app/attributes", { writeEnabled: false }, sp), 200, "locking its own repository");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team-b/app/attributes", { writeEnabled: false }, sp), 403, "locking another team's repository");
  // Its scope still bounds its content rights.
  await pushBlob(app, "team-b/app", "team-b secret");
  expectStatus(await app.request("GET", "/v2/team-b/app/tags/list", { auth: sp }), 403, "team-b's tags");
});

test("only owners lift locks or switch anonymous pull; acrpush keeps writing provenance metadata", async (t) => {
  const app = await freshApp(t);
  const pusher = await user(app, "pusher", ["acrpush"]);
  const owner = await user(app, "owner1", ["owner"]);
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/app/attributes", { writeEnabled: false }, owner), 200, "owner locks");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/app/attributes", { writeEnabled: true }, pusher), 403, "acrpush lifts the lock");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/other/attributes", { anonymousPull: true }, pusher), 403, "acrpush opens anonymous pull");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/app/attributes?tag=1.0", { deleteEnabled: true }, pusher), 403, "acrpush changes a tag lock");
  expectStatus(await app.request("GET", "/api/v1/repositories/team/app/attributes", { auth: pusher }), 200, "acrpush reads attributes");
  await pushBlob(app, "team/other", "a layer");
  expectStatus(await json(app, "PUT", "/api/v1/metadata/team/other/owner", { value: "team" }, pusher), 200, "acrpush writes metadata");
  // A scope map grants locks only with attributes/write.
  await json(app, "PUT", "/api/v1/scope-maps/meta", { description: "", rules: [{ repository: "team/*", actions: ["metadata/read", "metadata/write"] }] });
  await json(app, "PUT", "/api/v1/scope-maps/locks", { description: "", rules: [{ repository: "team/*", actions: ["metadata/read", "attributes/write"] }] });
  const meta = (await json(app, "POST", "/api/v1/tokens", { name: "meta", scopeMap: "meta" })).json().passwords[0].password;
  const locks = (await json(app, "POST", "/api/v1/tokens", { name: "locks", scopeMap: "locks" })).json().passwords[0].password;
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/app/attributes", { writeEnabled: true }, basic("meta", meta)), 403, "metadata/write token lifts a lock");
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/team/app/attributes", { writeEnabled: true }, basic("locks", locks)), 200, "attributes/write token lifts a lock");
});

test("an access token never mints tokens: not as Bearer, not as the zero-GUID password, not at the exchange", async (t) => {
  const app = await freshApp(t);
  const pusher = await user(app, "pusher", ["acrpush"]);
  const pull = await token(app, pusher, "repository:team-a/app:pull");
  expectStatus(pull, 200, "a pull token");
  const access = pull.json().token as string;
  for (const auth of [bearer(access), basic(ZERO_GUID, access)]) {
    const minted = await token(app, auth, "repository:team-b/app:pull,push", true);
    expectStatus(minted, 401, `GET /oauth2/token with an access token (${auth.split(" ")[0]})`);
    assert.equal(minted.json().refresh_token, undefined);
    const exchanged = await app.request("POST", "/oauth2/exchange", { body: "grant_type=access_token&service=localhost:80", headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost:80" }, auth });
    expectStatus(exchanged, 401, `POST /oauth2/exchange with an access token (${auth.split(" ")[0]})`);
  }
  expectStatus(await exchange(app, ZERO_GUID, access), 401, "exchange with grant_type=password and the access token");
  // The access token itself still works for what it grants.
  expectStatus(await app.request("GET", "/v2/team-a/app/tags/list", { auth: bearer(access), headers: { host: "localhost:80" } }), 404, "the token's own scope");
});

test("a refresh token minted from a refresh token ends when the first one does", async (t) => {
  const app = await freshApp(t);
  const first = await exchange(app, "admin", PASSWORD);
  expectStatus(first, 200, "exchange");
  const r1 = first.json().refresh_token as string;
  const end = decodeJwt(r1).exp!;
  await sleep(1100);
  const again = await app.request("POST", "/oauth2/exchange", { body: "grant_type=refresh_token&service=localhost:80", headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost:80" }, auth: basic(ZERO_GUID, r1) });
  expectStatus(again, 200, "re-exchange");
  assert.ok(decodeJwt(again.json().refresh_token).exp! <= end, "the re-exchanged refresh token outlives the first");
  assert.ok(again.json().expires_in <= 10_800 - 1);
  const offline = await token(app, basic(ZERO_GUID, r1), "repository:team/app:pull", true);
  expectStatus(offline, 200, "offline_token with a refresh token");
  assert.ok(decodeJwt(offline.json().refresh_token).exp! <= end, "an offline refresh token outlives the one it came from");
});

test("refresh and access tokens die with the credential they came from: password reset, secret reset, token password rotation and expiry", async (t) => {
  const app = await freshApp(t);
  const holders: { name: string; signIn: [string, string]; change: () => Promise<unknown> }[] = [];
  const u = await json(app, "POST", "/api/v1/users", { name: "alice", roles: ["acrpush"] });
  holders.push({ name: "user password reset", signIn: ["alice", u.json().password], change: () => json(app, "POST", "/api/v1/users/alice/password", {}) });
  const sp = (await json(app, "POST", "/api/v1/service-principals", { name: "ci", role: "acrpush" })).json();
  holders.push({ name: "service principal secret reset", signIn: [sp.id, sp.secret], change: () => json(app, "POST", `/api/v1/service-principals/${sp.id}/secret`, {}) });
  await json(app, "PUT", "/api/v1/scope-maps/all", { description: "", rules: [{ repository: "*", actions: ["content/read"] }] });
  const tok = (await json(app, "POST", "/api/v1/tokens", { name: "tok", scopeMap: "all" })).json();
  holders.push({ name: "token password 1 rotated", signIn: ["tok", tok.passwords[0].password], change: () => json(app, "POST", "/api/v1/tokens/tok/passwords/1", {}) });
  await json(app, "POST", "/api/v1/tokens", { name: "short", scopeMap: "all" });
  const shortMade = Date.now();
  const short = (await json(app, "POST", "/api/v1/tokens/short/passwords/2", { expiresIn: 6 })).json();
  holders.push({ name: "token password 2 expired", signIn: ["short", short.password], change: () => sleep(Math.max(0, shortMade + 6100 - Date.now())) });
  holders.push({ name: "admin password 1 regenerated", signIn: ["admin", PASSWORD], change: () => json(app, "POST", "/api/v1/admin/passwords/1", {}) });

  const issued = [];
  for (const holder of holders) {
    const refresh = await exchange(app, ...holder.signIn);
    expectStatus(refresh, 200, `${holder.name}: exchange`);
    const access = await token(app, basic(...holder.signIn), "registry:catalog:*");
    expectStatus(access, 200, `${holder.name}: access token`);
    issued.push({ holder, refresh: refresh.json().refresh_token as string, access: access.json().token as string });
  }
  for (const { holder, refresh, access } of issued) {
    assert.equal(await use(app, basic(ZERO_GUID, refresh)), 200, `${holder.name}: refresh token before`);
    assert.equal(await use(app, bearer(access)), 200, `${holder.name}: access token before`);
  }
  for (const { holder } of issued) await holder.change();
  for (const { holder, refresh, access } of issued) {
    assert.equal(await use(app, basic(ZERO_GUID, refresh)), 401, `${holder.name}: the refresh token still signs in`);
    expectStatus(await token(app, basic(ZERO_GUID, refresh), "registry:catalog:*"), 401, `${holder.name}: the refresh token still mints`);
    const grant = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh, service: "localhost:80" }).toString();
    expectStatus(await app.request("POST", "/oauth2/token", { body: grant, headers: { "content-type": "application/x-www-form-urlencoded", host: "localhost:80" }, auth: null }), 401, `${holder.name}: grant_type=refresh_token`);
    assert.equal(await use(app, bearer(access)), 401, `${holder.name}: the access token still works`);
  }
});

test("a token scoped to team-a cannot mount a team-b blob, though its principal may read team-b", async (t) => {
  const app = await freshApp(t);
  const pusher = await user(app, "pusher", ["acrpush"]);
  const digest = await pushBlob(app, "team-b/app", "team-b layer");
  const scoped = (await token(app, pusher, "repository:team-a/app:pull,push")).json().token as string;
  const mount = await app.request("POST", `/v2/team-a/app/blobs/uploads/?mount=${digest}&from=team-b/app`, { auth: bearer(scoped), headers: { host: "localhost:80" } });
  // As distribution answers: 401 insufficient_scope naming team-b pull. The holder of credentials
  // fetches a token for both; the holder of this token alone cannot (tokens never mint tokens).
  expectStatus(mount, 401, "mount with a token lacking team-b pull");
  assert.match(String(mount.headers["www-authenticate"]), /scope="repository:team-a\/app:pull,push repository:team-b\/app:pull",error="insufficient_scope"/);
  expectStatus(await token(app, bearer(scoped), "repository:team-a/app:pull,push repository:team-b/app:pull"), 401, "the token asks for a wider one");
  expectStatus(await app.request("HEAD", `/v2/team-a/app/blobs/${digest}`, { auth: bearer(scoped), headers: { host: "localhost:80" } }), 404, "the blob through team-a");
  // With team-b in its scope, the same token flow mounts.
  const both = (await token(app, pusher, "repository:team-a/app:pull,push repository:team-b/app:pull")).json().token as string;
  expectStatus(await app.request("POST", `/v2/team-a/app/blobs/uploads/?mount=${digest}&from=team-b/app`, { auth: bearer(both), headers: { host: "localhost:80" } }), 201, "mount with team-b pull");
});

test("credentials with NUL or control characters are refused on every sign-in path", async (t) => {
  const app = await freshApp(t, { "auth.failedSignInsPerIdentity": 1000 });
  for (const bad of [`${PASSWORD}\0`, `${PASSWORD}\n`, `\0${PASSWORD}`]) {
    const auth = basic("admin", bad);
    expectStatus(await app.request("GET", "/v2/", { auth }), 401, "GET /v2/");
    expectStatus(await app.request("GET", "/helm/v1/repo/index.yaml", { auth }), 401, "index.yaml");
    expectStatus(await app.request("GET", "/api/v1/admin", { auth }), 401, "GET /api/v1/admin");
    expectStatus(await token(app, auth, "registry:catalog:*"), 401, "GET /oauth2/token");
    const form = new URLSearchParams({ grant_type: "password", username: "admin", password: bad, service: "localhost:80" }).toString();
    // A NUL in a form body is refused as the malformed request it is (400, refusals.ts) before any sign-in.
    const refusedAs = bad.includes("\0") ? 400 : 401;
    expectStatus(await app.request("POST", "/oauth2/token", { body: form, headers: { "content-type": "application/x-www-form-urlencoded" }, auth: null }), refusedAs, "POST /oauth2/token");
    expectStatus(await exchange(app, "admin", bad), refusedAs, "POST /oauth2/exchange");
  }
  expectStatus(await app.request("GET", "/v2/", { auth: basic("admin\0", PASSWORD) }), 401, "a NUL in the name");
  expectStatus(await app.request("GET", "/v2/", { auth: AUTH }), 200, "the right password");
});

test("failed sign-ins from one address never lock out the holder signing in from another", async (t) => {
  const app = await freshApp(t);
  const alice = await json(app, "POST", "/api/v1/users", { name: "alice", roles: ["acrpull"] });
  const password = alice.json().password as string;
  const refresh = (await exchange(app, "alice", password)).json().refresh_token as string;
  const attacker = "10.0.0.66";
  const holder = "10.0.0.7";
  const attackerStatuses: number[] = [];
  for (let i = 0; i < 25; i++) {
    for (const auth of [basic("alice", `wrong-${i}`), basic("admin", `wrong-${i}`), basic(ZERO_GUID, `not-a-token-${i}`)]) {
      attackerStatuses.push((await app.request("GET", "/v2/", { auth, remoteAddress: attacker })).status);
    }
    // The holders sign in from their own address, with fresh headers each time (nothing remembered).
    app.berth.app.log.level = "silent";
    for (const [what, auth] of [["alice's password", basic("alice", password)], ["the admin's password", AUTH], ["alice's refresh token", basic(ZERO_GUID, refresh)]] as const) {
      const res = await app.request("GET", "/v2/", { auth, remoteAddress: holder });
      expectStatus(res, 200, `round ${i}: ${what} from another address`);
    }
    await forgetSignIns(app);
  }
  assert.ok(attackerStatuses.includes(429), "the attacker is slowed down");
});

/** Drops remembered sign-ins, so each round checks the password again (as a new client would). */
async function forgetSignIns(app: TestApp): Promise<void> {
  await json(app, "PUT", "/api/v1/scope-maps/noop", { description: "", rules: [{ repository: "x", actions: ["content/read"] }] });
}

test("every sign-in costs the same two password checks: unknown name, one password or two", async (t) => {
  const app = await freshApp(t);
  await user(app, "alice", ["acrpull"]);
  await json(app, "POST", "/api/v1/admin/passwords/2", {});
  const verified: string[] = [];
  const metadata = app.berth.stores.metadata;
  const tokens = new TokenService(metadata, { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 });
  await tokens.load();
  const authenticator = new Authenticator(metadata, tokens, new AuditLog(metadata.audit, createLogger("silent")), new SignInLimiter(metadata.signInFailures, { perIdentity: 100, perAddress: 100 }), {
    verify: async (password: string, hash: string) => {
      verified.push(password);
      return hash === "never";
    },
  });
  const ctx = { service: "localhost", client: "127.0.0.1" };
  assert.equal(await authenticator.signIn("alice", "wrong-password", ctx), null);
  assert.equal(verified.length, 2, "a wrong password costs two checks (one padded with a decoy)");
  assert.equal(await authenticator.signIn("nobody-by-this-name", "some-password", ctx), null);
  assert.equal(verified.length, 4, "an unknown name costs the same two checks");
  assert.equal(await authenticator.signIn("admin", "wrong-password", ctx), null);
  assert.equal(verified.length, 6, "so does a name with two live passwords");
});

test("concurrent sign-ins remember each identity exactly until its own expiry", async (t) => {
  const app = await freshApp(t);
  await json(app, "PUT", "/api/v1/scope-maps/all", { description: "", rules: [{ repository: "*", actions: ["content/read"] }] });
  const holders: { auth: string; expires: boolean }[] = [];
  for (let i = 0; i < 8; i++) {
    const created = (await json(app, "POST", "/api/v1/tokens", { name: `t${i}`, scopeMap: "all" })).json();
    holders.push({ auth: basic(`t${i}`, created.passwords[0].password), expires: false });
  }
  // Every other token signs in with a second password that expires in 6 s.
  for (let i = 0; i < 8; i += 2) holders[i] = { auth: basic(`t${i}`, (await json(app, "POST", `/api/v1/tokens/t${i}/passwords/2`, { expiresIn: 6 })).json().password), expires: true };
  const expired = Date.now() + 6500; // every password 2 has expired by then, however slowly they were made
  // Every password check answers at the same moment, so the sign-ins interleave step by step
  // afterwards: state carried across an await from one sign-in would reach another.
  let waiting = 0;
  let release!: () => void;
  const together = new Promise<void>((r) => (release = r));
  const metadata = app.berth.stores.metadata;
  const tokens = new TokenService(metadata, { issuer: "berth", accessLifetimeSeconds: 300, refreshLifetimeSeconds: 3600 });
  await tokens.load();
  const authenticator = new Authenticator(metadata, tokens, new AuditLog(metadata.audit, createLogger("silent")), new SignInLimiter(metadata.signInFailures, { perIdentity: 100, perAddress: 100 }), {
    verify: async (password, hash) => {
      const ok = await verifyPassword(password, hash);
      if (++waiting === holders.length) release();
      await together;
      return ok;
    },
  });
  const ctx = { service: "localhost", client: "127.0.0.1" };
  const first = await Promise.all(holders.map((h) => authenticator.authenticate(h.auth, ctx)));
  for (const [i, who] of first.entries()) assert.notEqual(who, null, `t${i} before expiry`);
  await sleep(expired - Date.now());
  for (const [i, h] of holders.entries()) {
    const who = await authenticator.authenticate(h.auth, ctx);
    assert.equal(who === null, h.expires, `t${i} (${h.expires ? "expired password" : "no expiry"}) after its expiry`);
  }
});

test("a tag lock protects the tag and the content it points at on every route: by digest, ?tag=, blob deletes, index children, referrers, provenance", async (t) => {
  const app = await freshApp(t);
  const repo = "team/app";
  const locked = await imageManifest(app, repo);
  const other = await imageManifest(app, repo);
  const hidden = await imageManifest(app, repo);
  const child = await imageManifest(app, repo);
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: child.digest, size: child.body.length, platform: { architecture: "arm64", os: "linux" } }] }));
  for (const [reference, body, type] of [["1.0", locked.body], ["other", other.body], ["2.0", hidden.body], [child.digest, child.body], ["multi", index, OCI_INDEX]] as const) {
    expectStatus(await putManifest(app, repo, reference, body, type), 201, `push ${reference}`);
  }
  for (const [tag, attributes] of [["1.0", { writeEnabled: false, deleteEnabled: false }], ["2.0", { readEnabled: false }], ["multi", { deleteEnabled: false }]] as const) {
    expectStatus(await json(app, "PATCH", `/api/v1/repositories/${repo}/attributes?tag=${tag}`, attributes), 200, `lock ${tag}`);
  }
  const refused = async (method: string, url: string, what: string, body?: Buffer, type?: string) => {
    const res = await app.request(method, url, body ? { body, headers: { "content-type": type! } } : {});
    expectStatus(res, 403, what);
    if (method !== "HEAD") assert.equal(res.errorCode(), "DENIED", what);
  };
  // Write- and delete-locked 1.0.
  await refused("PUT", `/v2/${repo}/manifests/${other.digest}?tag=1.0`, "?tag= moves a write-locked tag", other.body, "application/vnd.oci.image.manifest.v1+json");
  await refused("DELETE", `/v2/${repo}/manifests/${locked.digest}`, "deleting the locked tag's manifest by digest");
  await refused("DELETE", `/v2/${repo}/blobs/${locked.layer}`, "deleting a layer of the locked image");
  await refused("DELETE", `/v2/${repo}/manifests/${child.digest}`, "deleting a child of a delete-locked index");
  await refused("DELETE", `/v2/${repo}/blobs/${child.layer}`, "deleting a layer of a child of a delete-locked index");
  assert.equal((await app.request("GET", `/v2/${repo}/manifests/1.0`)).headers["docker-content-digest"], locked.digest);
  // Read-locked 2.0: its manifest and its own layer, by digest; referrers and provenance by tag and digest.
  await refused("GET", `/v2/${repo}/manifests/${hidden.digest}`, "the read-locked tag's manifest by digest");
  await refused("HEAD", `/v2/${repo}/manifests/${hidden.digest}`, "HEAD of the read-locked tag's manifest by digest");
  await refused("GET", `/v2/${repo}/blobs/${hidden.layer}`, "a layer only the read-locked tag uses");
  await refused("GET", `/v2/${repo}/referrers/${hidden.digest}`, "referrers of the read-locked manifest");
  await refused("GET", `/api/v1/provenance/${repo}/2.0`, "provenance by the read-locked tag");
  await refused("GET", `/api/v1/provenance/${repo}@${hidden.digest}`, "provenance by the read-locked manifest's digest");
  // What other tags show stays readable: the config all images share, the other tags' content.
  expectStatus(await app.request("GET", `/v2/${repo}/blobs/${hidden.config}`), 200, "the config another tag uses too");
  expectStatus(await app.request("GET", `/v2/${repo}/manifests/${other.digest}`), 200, "an unlocked manifest by digest");
  expectStatus(await app.request("DELETE", `/v2/${repo}/blobs/${other.layer}`), 202, "a layer of an unlocked image");
  // A mount from the repository cannot carry out what a read lock hides.
  const mount = await app.request("POST", `/v2/team/copy/blobs/uploads/?mount=${hidden.layer}&from=${repo}`);
  expectStatus(mount, 202, "mounting a read-locked layer (a plain upload starts instead)");
});

test("catalog and tags pages hold only what the caller may see: no page cut short, no Link lost, nothing shown by page sizes", async (t) => {
  const app = await freshApp(t);
  for (const name of ["r/a", "r/b", "r/c", "r/d", "r/e"]) expectStatus(await putManifest(app, name, "v1", (await imageManifest(app, name)).body), 201, `push ${name}`);
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/r/b/attributes", { listEnabled: false }), 200, "hide r/b");
  // A reader that may not read r/d either: hidden by its grants, where r/b is hidden by an attribute.
  await json(app, "PUT", "/api/v1/scope-maps/some", { description: "", rules: ["r/a", "r/c", "r/e"].map((repository) => ({ repository, actions: ["content/read"] })) });
  const reader = basic("reader", (await json(app, "POST", "/api/v1/tokens", { name: "reader", scopeMap: "some" })).json().passwords[0].password);
  const walk = async (auth: string | undefined, first: string) => {
    const seen: string[][] = [];
    let next: string | null = first;
    while (next) {
      const res = await app.request("GET", next, { auth });
      expectStatus(res, 200, next);
      seen.push(res.json().repositories ?? res.json().tags);
      const link = res.headers.link as string | undefined;
      next = link ? /<([^>]+)>/.exec(link)![1]! : null;
    }
    return seen;
  };
  assert.deepEqual(await walk(undefined, "/v2/_catalog?n=2"), [["r/a", "r/c"], ["r/d", "r/e"]], "the admin pages past a hidden repository");
  assert.deepEqual(await walk(reader, "/v2/_catalog?n=1"), [["r/a"], ["r/c"], ["r/e"]], "a reader pages past repositories it may not read");
  // Page sizes around a guessed name are the same whether or not it exists.
  const around = async (last: string) => (await app.request("GET", `/v2/_catalog?n=5&last=${last}`, { auth: reader })).json().repositories;
  assert.deepEqual(await around("r/b"), await around("r/bb"));
  assert.deepEqual(await around("r/d"), await around("r/dd"));
  // Tags: a hidden tag neither shortens a page nor ends the walk.
  for (const tag of ["t1", "t2", "t3", "t4"]) expectStatus(await putManifest(app, "r/a", tag, (await imageManifest(app, "r/a")).body), 201, `tag ${tag}`);
  expectStatus(await json(app, "PATCH", "/api/v1/repositories/r/a/attributes?tag=t2", { listEnabled: false }), 200, "hide t2");
  assert.deepEqual(await walk(undefined, "/v2/r/a/tags/list?n=2"), [["t1", "t3"], ["t4", "v1"]]);
});

test("GET /metrics behind a credential (metrics.access=signed-in), or only on its own port (metrics.port)", async (t) => {
  const guarded = await freshApp(t, { "metrics.access": "signed-in" });
  const anonymous = await guarded.request("GET", "/metrics", { auth: null });
  expectStatus(anonymous, 401, "anonymous /metrics");
  assert.match(String(anonymous.headers["www-authenticate"]), /^Basic /);
  assert.equal(anonymous.errorCode(), "UNAUTHORIZED");
  expectStatus(await guarded.request("GET", "/metrics", { auth: basic("admin", "wrong-password") }), 401, "/metrics with a wrong password");
  const signedIn = await guarded.request("GET", "/metrics", { auth: AUTH });
  expectStatus(signedIn, 200, "/metrics signed in");
  assert.match(signedIn.body.toString(), /berth_http_requests_total/);
  const elsewhere = await freshApp(t, { "metrics.port": 0 });
  expectStatus(await elsewhere.request("GET", "/metrics", { auth: AUTH }), 404, "/metrics on the registry's port when metrics.port is set");
});

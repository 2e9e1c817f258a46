// The management API: admin, users, service principals, scope maps, tokens, repository
// attributes and the audit trail. Secrets appear once, in the answer that made them, and never
// in a listing, a stored row in clear, or the audit trail.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, PASSWORD, type TestApp, type TestResponse } from "../support/app.ts";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

function send(app: TestApp, method: string, url: string, body?: unknown, auth?: string | null): Promise<TestResponse> {
  const options = body === undefined ? { auth } : { body: JSON.stringify(body), headers: { "content-type": "application/json" }, auth };
  return app.request(method, url, options);
}

function expectStatus(res: TestResponse, status: number, code?: string) {
  assert.equal(res.status, status, res.body.toString());
  if (code) assert.equal(res.errorCode(), code, res.body.toString());
}

async function secretRows(app: TestApp, id: string) {
  return app.berth.stores.metadata.secrets.list(id);
}

async function principalId(app: TestApp, name: string): Promise<string> {
  const p = await app.berth.stores.metadata.principals.byName(name);
  assert.ok(p, `principal ${name}`);
  return p.id;
}

const CHANGE_EVENTS = ["identity.created", "identity.deleted", "identity.changed", "secret.rotated", "attributes.changed"];

/** The audit trail's change events, newest first (sign-ins and denials are the authenticator's). */
async function auditEvents(app: TestApp, auth?: string): Promise<{ event: string; identity: string; action: string; repository: string | null; detail: Record<string, unknown> }[]> {
  const res = await app.request("GET", "/api/v1/audit?limit=1000", { auth });
  expectStatus(res, 200);
  return res.json().events.filter((e: { event: string }) => CHANGE_EVENTS.includes(e.event));
}

/** No answer's secret, and no hash, anywhere in the audit trail. */
async function assertAuditHasNoSecrets(app: TestApp, secrets: string[], auth?: string) {
  const res = await app.request("GET", "/api/v1/audit?limit=1000", { auth });
  expectStatus(res, 200);
  const text = res.body.toString();
  for (const secret of [...secrets, PASSWORD]) assert.ok(!text.includes(secret), "a secret leaked into the audit trail");
  assert.ok(!text.includes("scrypt$"), "a hash leaked into the audit trail");
}

test("GET /api/v1/admin: enabled, with the time of password 1; anonymous is 401, a non-owner 403", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/api/v1/admin");
  expectStatus(res, 200);
  assert.equal(res.json().enabled, true);
  assert.deepEqual(res.json().passwords.map((p: { slot: number }) => p.slot), [1]);
  assert.ok(!Number.isNaN(Date.parse(res.json().passwords[0].created)));
  expectStatus(await app.request("GET", "/api/v1/admin", { auth: null }), 401, "UNAUTHORIZED");

  const puller = (await send(app, "POST", "/api/v1/users", { name: "puller", roles: ["acrpull"] })).json();
  expectStatus(await app.request("GET", "/api/v1/admin", { auth: basic("puller", puller.password) }), 403, "DENIED");
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic("puller", puller.password) }), 403, "DENIED");
});

test("POST /api/v1/admin/passwords/2: a new password shown once; slot 1's row stays; slot 3 is refused", async (t) => {
  const app = await freshApp(t);
  const before = await secretRows(app, "admin");
  const res = await app.request("POST", "/api/v1/admin/passwords/2");
  expectStatus(res, 200);
  assert.equal(res.json().slot, 2);
  assert.ok(typeof res.json().password === "string" && res.json().password.length >= 16);
  const after = await secretRows(app, "admin");
  assert.deepEqual(after.map((s) => s.slot), [1, 2]);
  assert.equal(after[0]!.hash, before[0]!.hash);
  assert.ok(!after[1]!.hash.includes(res.json().password));
  const shown = await app.request("GET", "/api/v1/admin");
  assert.deepEqual(shown.json().passwords.map((p: { slot: number }) => p.slot), [1, 2]);
  assert.ok(!shown.body.toString().includes(res.json().password));

  // Rotating slot 1 retires the configured password at once; slot 2 signs in from here on.
  const again = await app.request("POST", "/api/v1/admin/passwords/1");
  expectStatus(again, 200);
  assert.notEqual((await secretRows(app, "admin"))[0]!.hash, before[0]!.hash);
  expectStatus(await app.request("GET", "/api/v1/admin"), 401, "UNAUTHORIZED");
  const slot2 = basic("admin", res.json().password);
  expectStatus(await app.request("POST", "/api/v1/admin/passwords/3", { auth: slot2 }), 400, "INVALID_REQUEST");
  expectStatus(await app.request("POST", "/api/v1/admin/passwords/x", { auth: slot2 }), 400, "INVALID_REQUEST");
  const rotations = (await auditEvents(app, slot2)).filter((e) => e.event === "secret.rotated").map((e) => e.detail.slot);
  assert.deepEqual(rotations, [1, 2]);
  await assertAuditHasNoSecrets(app, [res.json().password, again.json().password], slot2);
});

test("PATCH /api/v1/admin: refuses to disable the only owner; with another owner it disables and that owner re-enables", async (t) => {
  const app = await freshApp(t);
  expectStatus(await send(app, "PATCH", "/api/v1/admin", { enabled: false }), 400, "INVALID_REQUEST");
  const bad = await send(app, "PATCH", "/api/v1/admin", { enabled: "no" });
  expectStatus(bad, 400, "INVALID_REQUEST");
  assert.equal(bad.json().errors[0].detail.issues[0].path, "enabled");

  const owner = (await send(app, "POST", "/api/v1/users", { name: "root2", roles: ["owner"] })).json();
  const off = await send(app, "PATCH", "/api/v1/admin", { enabled: false });
  expectStatus(off, 200);
  assert.equal(off.json().enabled, false);
  const asOwner = basic("root2", owner.password);
  assert.equal((await app.request("GET", "/api/v1/admin", { auth: asOwner })).json().enabled, false);
  const on = await send(app, "PATCH", "/api/v1/admin", { enabled: true }, asOwner);
  expectStatus(on, 200);
  assert.equal(on.json().enabled, true);
  const changes = (await auditEvents(app)).filter((e) => e.event === "identity.changed" && e.detail.kind === "admin");
  assert.deepEqual(changes.map((e) => [e.action, e.identity]), [["enable", "root2"], ["disable", "admin"]]);
});

test("POST /api/v1/users: 201 with the password once; listed without it; duplicates 409; bad names, roles and bodies 400", async (t) => {
  const app = await freshApp(t);
  const generated = await send(app, "POST", "/api/v1/users", { name: "alice", roles: ["acrpull", "acrdelete", "acrpull"] });
  expectStatus(generated, 201);
  assert.deepEqual(generated.json().roles, ["acrpull", "acrdelete"]);
  assert.ok(generated.json().password.length >= 16);
  const given = await send(app, "POST", "/api/v1/users", { name: "bob.ci", roles: ["acrpush"], password: "bob-secret-1" });
  expectStatus(given, 201);
  assert.equal(given.json().password, "bob-secret-1");

  const list = await app.request("GET", "/api/v1/users");
  expectStatus(list, 200);
  assert.deepEqual(list.json().users.map((u: { name: string }) => u.name), ["alice", "bob.ci"]);
  assert.deepEqual(Object.keys(list.json().users[0]).sort(), ["created", "enabled", "name", "roles"]);
  assert.ok(!list.body.toString().includes(generated.json().password) && !list.body.toString().includes("bob-secret-1"));
  const row = (await secretRows(app, await principalId(app, "alice")))[0]!;
  assert.ok(row.hash.startsWith("scrypt$") && !row.hash.includes(generated.json().password));

  expectStatus(await send(app, "POST", "/api/v1/users", { name: "alice", roles: ["acrpull"] }), 409, "IDENTITY_EXISTS");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "carol", roles: ["superuser"] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "carol", roles: [] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "-carol", roles: ["acrpull"] }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "a".repeat(64), roles: ["acrpull"] }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "admin", roles: ["acrpull"] }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "00000000-0000-0000-0000-000000000000", roles: ["acrpull"] }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/users", { name: "carol", roles: ["acrpull"], password: "short" }), 400, "INVALID_REQUEST");
  const extra = await send(app, "POST", "/api/v1/users", { name: "carol", roles: ["acrpull"], isAdmin: true });
  expectStatus(extra, 400, "INVALID_REQUEST");
  const missing = await send(app, "POST", "/api/v1/users", { roles: "acrpull" });
  expectStatus(missing, 400, "INVALID_REQUEST");
  assert.deepEqual(missing.json().errors[0].detail.issues.map((i: { path: string }) => i.path).sort(), ["name", "roles"]);
  expectStatus(await app.request("POST", "/api/v1/users", { body: "{not json", headers: { "content-type": "application/json" } }), 400, "INVALID_REQUEST");
  expectStatus(await app.request("POST", "/api/v1/users", { body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }), 400, "INVALID_REQUEST");
  const huge = JSON.stringify({ name: "carol", roles: ["acrpull"], password: "x".repeat(70 * 1024) });
  expectStatus(await app.request("POST", "/api/v1/users", { body: huge, headers: { "content-type": "application/json" } }), 400, "INVALID_REQUEST");
  assert.deepEqual((await app.request("GET", "/api/v1/users")).json().users.length, 2);
  await assertAuditHasNoSecrets(app, [generated.json().password, "bob-secret-1"]);
});

test("POST /api/v1/users/{name}/password: replaces the stored hash, the old password stops working; unknown users 404", async (t) => {
  const app = await freshApp(t);
  const first = (await send(app, "POST", "/api/v1/users", { name: "dev", roles: ["owner"] })).json();
  const id = await principalId(app, "dev");
  const before = (await secretRows(app, id))[0]!.hash;
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic("dev", first.password) }), 200);

  const reset = await app.request("POST", "/api/v1/users/dev/password");
  expectStatus(reset, 200);
  assert.equal(reset.json().name, "dev");
  assert.notEqual(reset.json().password, first.password);
  assert.notEqual((await secretRows(app, id))[0]!.hash, before);
  // The `changed` hook makes the authenticator forget the remembered sign-in at once.
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic("dev", first.password) }), 401, "UNAUTHORIZED");
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic("dev", reset.json().password) }), 200);

  const chosen = await send(app, "POST", "/api/v1/users/dev/password", { password: "chosen-password" });
  expectStatus(chosen, 200);
  assert.equal(chosen.json().password, "chosen-password");
  expectStatus(await send(app, "POST", "/api/v1/users/nobody/password", {}), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "POST", "/api/v1/users/admin/password", {}), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "POST", "/api/v1/users/dev/password", { password: 42 }), 400, "INVALID_REQUEST");
  const rotated = (await auditEvents(app)).filter((e) => e.event === "secret.rotated");
  assert.equal(rotated.length, 2);
  await assertAuditHasNoSecrets(app, [first.password, reset.json().password, "chosen-password"]);
});

test("DELETE /api/v1/users/{name}: deletes the user and its secrets; then 404", async (t) => {
  const app = await freshApp(t);
  const created = (await send(app, "POST", "/api/v1/users", { name: "temp", roles: ["acrpull"] })).json();
  const id = await principalId(app, "temp");
  const res = await app.request("DELETE", "/api/v1/users/temp");
  expectStatus(res, 200);
  assert.deepEqual(res.json(), { deleted: true });
  assert.deepEqual(await secretRows(app, id), []);
  assert.deepEqual((await app.request("GET", "/api/v1/users")).json().users, []);
  expectStatus(await app.request("DELETE", "/api/v1/users/temp"), 404, "IDENTITY_UNKNOWN");
  expectStatus(await app.request("DELETE", "/api/v1/users/admin"), 404, "IDENTITY_UNKNOWN");
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic("temp", created.password) }), 401, "UNAUTHORIZED");
  const events = (await auditEvents(app)).map((e) => `${e.event} ${e.detail.kind}:${e.detail.name}`);
  assert.deepEqual(events, ["identity.deleted user:temp", "identity.created user:temp"]);
});

test("POST /api/v1/service-principals: 201 with id and secret once; listed without it; reset and delete by id", async (t) => {
  const app = await freshApp(t);
  const res = await send(app, "POST", "/api/v1/service-principals", { name: "ci-bot", role: "acrpush", scope: "team/*", expiresIn: 3600 });
  expectStatus(res, 201);
  const sp = res.json();
  assert.match(sp.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual([sp.name, sp.role, sp.scope], ["ci-bot", "acrpush", "team/*"]);
  assert.ok(Math.abs(Date.parse(sp.expires) - Date.now() - 3600_000) < 60_000);
  assert.ok(sp.secret.length >= 16);
  const unscoped = await send(app, "POST", "/api/v1/service-principals", { name: "reader", role: "acrpull" });
  expectStatus(unscoped, 201);
  assert.equal(unscoped.json().scope, null);
  assert.equal(unscoped.json().expires, null);

  const list = await app.request("GET", "/api/v1/service-principals");
  expectStatus(list, 200);
  const listed = list.json().servicePrincipals.find((p: { id: string }) => p.id === sp.id);
  assert.deepEqual(Object.keys(listed).sort(), ["created", "enabled", "expires", "id", "name", "role", "scope"]);
  assert.ok(!list.body.toString().includes(sp.secret));
  // The appId is the username.
  expectStatus(await app.request("GET", "/api/v1/users", { auth: basic(sp.id, sp.secret) }), 403, "DENIED");

  const before = (await secretRows(app, sp.id))[0]!.hash;
  const reset = await app.request("POST", `/api/v1/service-principals/${sp.id}/secret`);
  expectStatus(reset, 200);
  assert.equal(reset.json().id, sp.id);
  assert.notEqual(reset.json().secret, sp.secret);
  assert.notEqual((await secretRows(app, sp.id))[0]!.hash, before);

  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x", role: "admin" }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x", role: ["acrpull", "acrpush"] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x", role: "acrpull", scope: "Team/App" }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x", role: "acrpull", scope: "team/*/x" }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x", role: "acrpull", expiresIn: -5 }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "x y", role: "acrpull" }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/service-principals", { name: "ci-bot", role: "acrpull" }), 409, "IDENTITY_EXISTS");

  expectStatus(await app.request("DELETE", `/api/v1/service-principals/${sp.id}`), 200);
  assert.deepEqual(await secretRows(app, sp.id), []);
  expectStatus(await app.request("DELETE", `/api/v1/service-principals/${sp.id}`), 404, "IDENTITY_UNKNOWN");
  expectStatus(await app.request("POST", `/api/v1/service-principals/${sp.id}/secret`), 404, "IDENTITY_UNKNOWN");
  expectStatus(await app.request("DELETE", "/api/v1/service-principals/admin"), 404, "IDENTITY_UNKNOWN");
  await assertAuditHasNoSecrets(app, [sp.secret, reset.json().secret, unscoped.json().secret]);
});

test("PUT /api/v1/scope-maps/{name}: 201 then 200 on replace; GET, list; bad actions and patterns 400; unknown 404", async (t) => {
  const app = await freshApp(t);
  const rules = [{ repository: "team/app", actions: ["content/read", "content/write"] }, { repository: "team/*", actions: ["metadata/read"] }];
  const created = await send(app, "PUT", "/api/v1/scope-maps/ci", { description: "CI pushes", rules });
  expectStatus(created, 201);
  assert.deepEqual(created.json(), { name: "ci", description: "CI pushes", rules });
  const replaced = await send(app, "PUT", "/api/v1/scope-maps/ci", { rules: [{ repository: "*", actions: ["content/read"] }] });
  expectStatus(replaced, 200);
  assert.deepEqual(replaced.json(), { name: "ci", description: "CI pushes", rules: [{ repository: "*", actions: ["content/read"] }] });
  assert.deepEqual((await app.request("GET", "/api/v1/scope-maps/ci")).json(), replaced.json());
  assert.deepEqual((await app.request("GET", "/api/v1/scope-maps")).json(), { scopeMaps: [replaced.json()] });

  expectStatus(await app.request("GET", "/api/v1/scope-maps/nope"), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/m", { rules: [{ repository: "a", actions: ["content/pull"] }] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/m", { rules: [{ repository: "a", actions: [] }] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/m", { rules: [{ repository: "a/**", actions: ["content/read"] }] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/m", { rules: [] }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/m", { rules: "all" }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/bad%20name", { rules }), 400, "NAME_INVALID");
  expectStatus(await app.request("DELETE", "/api/v1/scope-maps/nope"), 404, "IDENTITY_UNKNOWN");
  const events = (await auditEvents(app)).filter((e) => e.detail.kind === "scope-map").map((e) => `${e.event} ${e.action}`);
  assert.deepEqual(events, ["identity.changed update", "identity.created create"]);
});

test("POST /api/v1/tokens: 201 with password 1 once; bound to an existing scope map; names shared with users 409", async (t) => {
  const app = await freshApp(t);
  expectStatus(await send(app, "PUT", "/api/v1/scope-maps/pull-team", { rules: [{ repository: "team/*", actions: ["content/read"] }] }), 201);
  const res = await send(app, "POST", "/api/v1/tokens", { name: "deploy", scopeMap: "pull-team" });
  expectStatus(res, 201);
  const token = res.json();
  assert.deepEqual([token.name, token.scopeMap, token.enabled], ["deploy", "pull-team", true]);
  assert.equal(token.passwords.length, 1);
  assert.deepEqual([token.passwords[0].slot, token.passwords[0].expires], [1, null]);
  assert.ok(token.passwords[0].password.length >= 16);

  const list = await app.request("GET", "/api/v1/tokens");
  expectStatus(list, 200);
  const [listed] = list.json().tokens;
  assert.deepEqual([listed.name, listed.scopeMap, listed.enabled], ["deploy", "pull-team", true]);
  assert.deepEqual(Object.keys(listed.passwords[0]).sort(), ["created", "expires", "slot"]);
  assert.ok(!list.body.toString().includes(token.passwords[0].password));

  const disabled = await send(app, "POST", "/api/v1/tokens", { name: "later", scopeMap: "pull-team", enabled: false, expiresIn: 86400 });
  expectStatus(disabled, 201);
  assert.equal(disabled.json().enabled, false);
  assert.ok(Date.parse(disabled.json().passwords[0].expires) > Date.now());

  expectStatus(await send(app, "POST", "/api/v1/tokens", { name: "x", scopeMap: "missing" }), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "POST", "/api/v1/tokens", { name: "deploy", scopeMap: "pull-team" }), 409, "IDENTITY_EXISTS");
  await send(app, "POST", "/api/v1/users", { name: "shared", roles: ["acrpull"] });
  expectStatus(await send(app, "POST", "/api/v1/tokens", { name: "shared", scopeMap: "pull-team" }), 409, "IDENTITY_EXISTS");
  expectStatus(await send(app, "POST", "/api/v1/tokens", { name: "a/b", scopeMap: "pull-team" }), 400, "NAME_INVALID");
  expectStatus(await send(app, "POST", "/api/v1/tokens", { name: "x", scopeMap: "pull-team", enabled: "yes" }), 400, "INVALID_REQUEST");
  await assertAuditHasNoSecrets(app, [token.passwords[0].password, disabled.json().passwords[0].password]);
});

test("PATCH /api/v1/tokens/{name}, passwords/{slot}: disable, rebind, rotate slot 2 keeping slot 1's row, delete a slot, delete the token", async (t) => {
  const app = await freshApp(t);
  await send(app, "PUT", "/api/v1/scope-maps/a", { rules: [{ repository: "a", actions: ["content/read"] }] });
  await send(app, "PUT", "/api/v1/scope-maps/b", { rules: [{ repository: "b", actions: ["content/read"] }] });
  const created = (await send(app, "POST", "/api/v1/tokens", { name: "tk", scopeMap: "a" })).json();
  const id = await principalId(app, "tk");

  const patched = await send(app, "PATCH", "/api/v1/tokens/tk", { enabled: false, scopeMap: "b" });
  expectStatus(patched, 200);
  assert.deepEqual([patched.json().name, patched.json().scopeMap, patched.json().enabled], ["tk", "b", false]);
  expectStatus(await send(app, "PATCH", "/api/v1/tokens/tk", { scopeMap: "missing" }), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "PATCH", "/api/v1/tokens/nobody", { enabled: true }), 404, "IDENTITY_UNKNOWN");
  expectStatus(await send(app, "PATCH", "/api/v1/tokens/tk", { name: "other" }), 400, "INVALID_REQUEST");

  const slot1 = (await secretRows(app, id))[0]!;
  const rotated = await send(app, "POST", "/api/v1/tokens/tk/passwords/2", { expiresIn: 7200 });
  expectStatus(rotated, 200);
  assert.equal(rotated.json().slot, 2);
  assert.ok(Math.abs(Date.parse(rotated.json().expires) - Date.now() - 7200_000) < 60_000);
  const rows = await secretRows(app, id);
  assert.deepEqual(rows.map((r) => r.slot), [1, 2]);
  assert.equal(rows[0]!.hash, slot1.hash);
  assert.ok(rows[1]!.expiresAt && rows[1]!.expiresAt.getTime() > Date.now());
  const listed = (await app.request("GET", "/api/v1/tokens")).json().tokens[0];
  assert.deepEqual(listed.passwords.map((p: { slot: number }) => p.slot), [1, 2]);
  const noBody = await app.request("POST", "/api/v1/tokens/tk/passwords/1");
  expectStatus(noBody, 200);
  assert.equal(noBody.json().expires, null);
  assert.notEqual((await secretRows(app, id))[0]!.hash, slot1.hash);
  expectStatus(await app.request("POST", "/api/v1/tokens/tk/passwords/0"), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "POST", "/api/v1/tokens/tk/passwords/2", { expiresIn: "1d" }), 400, "INVALID_REQUEST");

  expectStatus(await app.request("DELETE", "/api/v1/tokens/tk/passwords/2"), 200);
  assert.deepEqual((await secretRows(app, id)).map((r) => r.slot), [1]);
  expectStatus(await app.request("DELETE", "/api/v1/tokens/tk/passwords/2"), 404, "IDENTITY_UNKNOWN");

  // A scope map in use cannot be deleted; once the token is gone it can.
  expectStatus(await app.request("DELETE", "/api/v1/scope-maps/b"), 409, "IDENTITY_EXISTS");
  expectStatus(await app.request("DELETE", "/api/v1/scope-maps/a"), 200);
  expectStatus(await app.request("DELETE", "/api/v1/tokens/tk"), 200);
  assert.deepEqual(await secretRows(app, id), []);
  expectStatus(await app.request("DELETE", "/api/v1/tokens/tk"), 404, "IDENTITY_UNKNOWN");
  expectStatus(await app.request("DELETE", "/api/v1/scope-maps/b"), 200);

  const events = (await auditEvents(app)).filter((e) => e.detail.kind === "token").map((e) => `${e.event} ${e.action}${e.detail.slot ? ` ${e.detail.slot}` : ""}`);
  assert.deepEqual(events, ["identity.deleted delete", "secret.rotated delete-password 2", "secret.rotated rotate-password 1", "secret.rotated rotate-password 2", "identity.changed update", "identity.created create"]);
  await assertAuditHasNoSecrets(app, [created.passwords[0].password, rotated.json().password, noBody.json().password]);
});

test("GET/PATCH /api/v1/repositories/{name}/attributes: defaults, repository and tag level, audited; bad input 400", async (t) => {
  const app = await freshApp(t);
  const base = "/api/v1/repositories/team/app/attributes";
  const defaults = await app.request("GET", base);
  expectStatus(defaults, 200);
  assert.deepEqual(defaults.json(), { repository: "team/app", readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: true, anonymousPull: false });

  const locked = await send(app, "PATCH", base, { writeEnabled: false, deleteEnabled: false, anonymousPull: true });
  expectStatus(locked, 200);
  assert.deepEqual(locked.json(), { repository: "team/app", readEnabled: true, writeEnabled: false, deleteEnabled: false, listEnabled: true, anonymousPull: true });
  assert.deepEqual((await app.request("GET", base)).json(), locked.json());

  const tag = await send(app, "PATCH", `${base}?tag=v1`, { listEnabled: false });
  expectStatus(tag, 200);
  assert.deepEqual(tag.json(), { repository: "team/app", tag: "v1", readEnabled: true, writeEnabled: true, deleteEnabled: true, listEnabled: false });
  assert.deepEqual((await app.request("GET", `${base}?tag=v1`)).json(), tag.json());
  assert.equal((await app.request("GET", `${base}?tag=v2`)).json().listEnabled, true);

  expectStatus(await send(app, "PATCH", `${base}?tag=v1`, { anonymousPull: true }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PATCH", base, { writeEnabled: "false" }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PATCH", base, { locked: true }), 400, "INVALID_REQUEST");
  expectStatus(await send(app, "PATCH", `${base}?tag=-bad`, { listEnabled: true }), 400, "TAG_INVALID");
  expectStatus(await app.request("GET", "/api/v1/repositories/Team/App/attributes"), 400, "NAME_INVALID");
  // Since the portal API, /api/v1/repositories/<name> is the repository's summary (none: no manifest pushed).
  expectStatus(await app.request("GET", "/api/v1/repositories/team/app"), 404, "NAME_UNKNOWN");
  expectStatus(await app.request("PATCH", "/api/v1/repositories/team/app"), 405, "UNSUPPORTED");

  const events = (await auditEvents(app)).filter((e) => e.event === "attributes.changed");
  assert.deepEqual(events.map((e) => [e.repository, e.detail]), [
    ["team/app", { tag: "v1", listEnabled: false }],
    ["team/app", { tag: null, writeEnabled: false, deleteEnabled: false, anonymousPull: true }],
  ]);
  // A PATCH that changes nothing records nothing.
  expectStatus(await send(app, "PATCH", base, { writeEnabled: false }), 200);
  assert.equal((await auditEvents(app)).filter((e) => e.event === "attributes.changed").length, 2);
});

test("GET /api/v1/audit: newest first, limited; bad limits 400; owners only", async (t) => {
  const app = await freshApp(t);
  for (const name of ["u1", "u2", "u3"]) await send(app, "POST", "/api/v1/users", { name, roles: ["acrpull"] });
  const res = await app.request("GET", "/api/v1/audit?limit=2");
  expectStatus(res, 200);
  assert.equal(res.json().events.length, 2);
  const changes = await auditEvents(app);
  assert.deepEqual(changes.map((e) => e.detail.name), ["u3", "u2", "u1"]);
  const times = changes.map((e: any) => Date.parse(e.at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
  const [newest] = (await app.request("GET", "/api/v1/audit")).json().events.filter((e: { event: string }) => e.event === "identity.created");
  assert.deepEqual(Object.keys(newest).sort(), ["action", "at", "client", "detail", "event", "id", "identity", "outcome", "repository"]);
  assert.deepEqual([newest.identity, newest.action, newest.outcome, newest.repository], ["admin", "create", "success", null]);
  expectStatus(await app.request("GET", "/api/v1/audit?limit=0"), 400, "INVALID_REQUEST");
  expectStatus(await app.request("GET", "/api/v1/audit?limit=abc"), 400, "INVALID_REQUEST");
  expectStatus(await app.request("GET", "/api/v1/audit?limit=5000"), 400, "INVALID_REQUEST");
  expectStatus(await app.request("GET", "/api/v1/audit", { auth: null }), 401, "UNAUTHORIZED");
});

test("GET /api/v1/charts and /api/<repository>/charts still reach the Helm plugin beside the management routes", async (t) => {
  const app = await freshApp(t);
  const charts = await app.request("GET", "/api/v1/charts");
  expectStatus(charts, 200);
  assert.deepEqual(charts.json(), { charts: [], next: null });
  const museum = await app.request("GET", "/api/myrepo/charts");
  expectStatus(museum, 200);
  assert.deepEqual(museum.json(), {});
  // An /api/v1 path no management route claims still falls through to ChartMuseum's parser.
  assert.equal((await app.request("GET", "/api/v1/nothing-here")).status, 404);
});

// The grants each kind of identity carries, asked the three ways the authorizer asks them.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Identity } from "../../src/auth/identity.ts";
import { permits, permitsAll, permitsSomewhere, pullPatterns } from "../../src/auth/policy.ts";
import { coversPattern } from "../../src/domain/names.ts";

const pull = (name: string) => ({ type: "repository" as const, name, action: "pull" as const });
const catalog = { type: "registry" as const, name: "catalog", action: "catalog" as const };
const user: Identity = { kind: "user", id: "u", name: "u", roles: ["acrpull"] };
const deleter: Identity = { kind: "user", id: "d", name: "d", roles: ["acrdelete"] };
const scoped: Identity = { kind: "sp", id: "s", name: "s", roles: ["acrpush"], scope: "team/*" };
const token: Identity = { kind: "token", id: "t", name: "t", rules: [{ repository: "team/app", actions: ["content/read"] }] };

test("permits: roles everywhere, a scope bounds repositories and leaves the catalog, a scope map grants its rules", () => {
  assert.ok(permits(user, pull("any/thing")));
  assert.ok(!permits(user, { type: "repository", name: "any", action: "push" }));
  assert.ok(permits({ kind: "admin", id: "a", name: "admin" }, { type: "registry", name: "identities", action: "manage" }));
  assert.ok(!permits({ kind: "anonymous" }, pull("x")));
  assert.ok(permits(scoped, pull("team")) && permits(scoped, pull("team/app")) && !permits(scoped, pull("teams/app")));
  assert.ok(permits(scoped, catalog));
  assert.ok(!permits(scoped, { type: "registry", name: "identities", action: "manage" }));
  assert.ok(permits(token, pull("team/app")) && !permits(token, pull("team/other")));
  assert.ok(permits(token, catalog));
  assert.ok(!permits({ kind: "token", id: "e", name: "e", rules: [] }, catalog));
});

test("an access token's names are names: `repository:*:pull` grants the repository named `*` only", () => {
  const bearer: Identity = { kind: "bearer", subject: "u", name: "u", access: [pull("*")], principal: user };
  assert.ok(permits(bearer, pull("*")));
  assert.ok(!permits(bearer, pull("team/app")));
  assert.deepEqual(pullPatterns(bearer), ["*"]);
});

test("permitsSomewhere and pullPatterns", () => {
  assert.ok(permitsSomewhere(scoped, "push"));
  assert.ok(!permitsSomewhere(user, "push"));
  const bearer: Identity = { kind: "bearer", subject: "t", name: "t", access: [{ type: "repository", name: "team/app", action: "push" }], principal: token };
  assert.ok(!permitsSomewhere(bearer, "push"), "a token's push is bounded by its principal, who may push nowhere");
  assert.equal(pullPatterns(user), null);
  assert.deepEqual(pullPatterns(deleter), [], "an identity that may pull nowhere is shown nothing");
  assert.deepEqual(pullPatterns(scoped), ["team/*"]);
  assert.deepEqual(pullPatterns(token), ["team/app"]);
  assert.equal(pullPatterns({ kind: "anonymous" }), null);
  const narrowed: Identity = { kind: "bearer", subject: "t", name: "t", access: [pull("team/app"), pull("other")], principal: token };
  assert.deepEqual(pullPatterns(narrowed), ["team/app"]);
});

test("coversPattern: every repository the inner pattern names is one the outer names", () => {
  const cases: [string, string, boolean][] = [
    ["*", "*", true], ["*", "team/*", true], ["*", "team/app", true],
    ["team/*", "*", false], ["team/*", "team/*", true], ["team/*", "team/app/*", true], ["team/*", "team/app", true], ["team/*", "team", true],
    ["team/*", "teams/*", false], ["team/*", "team0", false], ["team/app/*", "team/*", false],
    ["team/app", "team/app", true], ["team/app", "team/*", false], ["team/app", "team/app/*", false], ["team", "team/*", false],
  ];
  for (const [outer, inner, expected] of cases) assert.equal(coversPattern(outer, inner), expected, `${outer} covers ${inner}`);
});

test("permitsAll (who is told a quota's figures): grants that cover the whole scope; a bearer as its principal; anonymous never", () => {
  assert.ok(permitsAll({ kind: "admin", id: "a", name: "admin" }, "pull", "*"));
  assert.ok(permitsAll(user, "pull", "*") && permitsAll(user, "pull", "team/*"));
  assert.ok(!permitsAll(deleter, "pull", "team/app"), "delete grants no pull");
  assert.ok(permitsAll(scoped, "pull", "team/*") && permitsAll(scoped, "pull", "team/app") && !permitsAll(scoped, "pull", "*"));
  assert.ok(permitsAll(token, "pull", "team/app") && !permitsAll(token, "pull", "team/*"));
  assert.ok(!permitsAll({ kind: "anonymous" }, "pull", "team/app"));
  const bearer: Identity = { kind: "bearer", subject: "s", name: "s", access: [pull("team/app")], principal: scoped };
  assert.ok(permitsAll(bearer, "pull", "team/*") && !permitsAll(bearer, "pull", "*"));
});

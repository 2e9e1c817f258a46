// The wire contract holds the route tables, docs/api.md and the answer check together: a route
// without a declared endpoint, an endpoint no route serves, or a stale docs/api.md fails here.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { renderApiDoc } from "../../src/api-contract/document.ts";
import { ENDPOINTS, findEndpoint } from "../../src/api-contract/endpoints.ts";
import { API_ROUTES } from "../../src/handlers/api/routes.ts";
import { MUSEUM_ROUTES } from "../../src/handlers/helm/routes.ts";
import { checkApiAnswer } from "../support/api-contract.ts";

/** `/api/v1/users/{name}` as Fastify spells it, `/api/v1/users/:name`; `{x...}` as `*`. */
const fastifyUrl = (path: string) => path.replace(/\{[a-z]+\.\.\.\}.*$/i, "*").replace(/\{([a-z]+)\}/gi, ":$1");

test("docs/api.md is what the contract renders (node scripts/api-doc.ts)", async () => {
  assert.equal(await readFile(new URL("../../docs/api.md", import.meta.url), "utf8"), renderApiDoc());
});

test("every /api/v1 route of handlers/api/routes.ts is a declared endpoint, and every declared one has its route", () => {
  const routes = new Set(API_ROUTES.map((r) => `${r.method} ${r.url}`));
  const declared = new Set(ENDPOINTS.filter((e) => e.path.startsWith("/api/v1/") && e.path !== "/api/v1/charts").map((e) => `${e.method} ${fastifyUrl(e.path)}`));
  assert.deepEqual([...routes].filter((r) => !declared.has(r)), [], "routes without a declared endpoint");
  assert.deepEqual([...declared].filter((d) => !routes.has(d)), [], "declared endpoints no route serves");
});

test("every ChartMuseum route (kind × method) is a declared endpoint, and GET /api/v1/charts too", () => {
  for (const route of MUSEUM_ROUTES) {
    for (const method of route.methods) {
      assert.ok(ENDPOINTS.some((e) => e.method === method && e.path.includes(`/${route.kind}`) && !e.path.startsWith("/api/v1/")), `${method} ${route.kind}`);
    }
  }
  assert.ok(findEndpoint("GET", "/api/v1/charts"));
});

test("findEndpoint: /api/v1/ is Berth's alone; ChartMuseum paths also under /api/helm/v1/", () => {
  assert.equal(findEndpoint("DELETE", "/api/v1/users/alice")?.path, "/api/v1/users/{name}");
  assert.equal(findEndpoint("GET", "/api/v1/metadata/team/app@sha256:ab/_history?key=x")?.path, "/api/v1/metadata/{target...}/_history");
  assert.equal(findEndpoint("GET", "/api/team/charts/demo/0.1.0")?.path, "/api/{repository...}/charts/{name}/{version}");
  assert.equal(findEndpoint("POST", "/api/helm/v1/team/x/charts")?.path, "/api/{repository...}/charts");
  assert.equal(findEndpoint("GET", "/api/v1/team/charts"), undefined);
});

test("checkApiAnswer: a declared body passes; an undeclared field, a missing one, an undeclared status or error shape fail", () => {
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));
  const admin = { enabled: true, passwords: [{ slot: 1, created: "2026-01-31T12:00:00.000Z" }] };
  checkApiAnswer("GET", "/api/v1/admin", 200, body(admin));
  assert.throws(() => checkApiAnswer("GET", "/api/v1/admin", 200, body({ ...admin, extra: 1 })), /outside the contract/);
  assert.throws(() => checkApiAnswer("GET", "/api/v1/admin", 200, body({ enabled: true })), /outside the contract/);
  assert.throws(() => checkApiAnswer("GET", "/api/v1/admin", 201, body(admin)), /does not declare/);
  assert.throws(() => checkApiAnswer("GET", "/api/v1/nothing-here", 200, body({})), /declares no such endpoint/);
  checkApiAnswer("GET", "/api/v1/admin", 401, body({ errors: [{ code: "UNAUTHORIZED", message: "sign in", detail: null }] }));
  assert.throws(() => checkApiAnswer("GET", "/api/v1/admin", 401, body({ error: "sign in" })), /error body outside the contract/);
  checkApiAnswer("POST", "/api/repo/charts", 409, body({ error: "exists" }));
});

// /api has one owner: Berth's explicit /api/v1/ routes (and Berth's 404 for the rest of /api/v1/),
// then ChartMuseum's routes; any other /api path is Berth's 404, never ChartMuseum's body.
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp } from "../support/app.ts";

test("GET|POST|DELETE /api/v1/<unknown>: 404 ENDPOINT_UNKNOWN in Berth's body, even where a ChartMuseum path would match", async (t) => {
  const app = await freshApp(t);
  for (const [method, url] of [["GET", "/api/v1/nope"], ["DELETE", "/api/v1/users"], ["POST", "/api/v1/team/charts"], ["GET", "/api/v1/team/charts/demo"], ["PUT", "/api/v1/webhooks/x"]] as const) {
    const res = await app.request(method, url, { body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(res.status, 404, `${method} ${url}`);
    assert.equal(res.errorCode(), "ENDPOINT_UNKNOWN", `${method} ${url}`);
    assert.match(res.json().errors[0].message, /docs\/api\.md/);
  }
});

test("GET /api/<not ChartMuseum>: Berth's 404; GET /api/<repository>/charts and /api/helm/v1/<repository>/charts: ChartMuseum's", async (t) => {
  const app = await freshApp(t); // the default view "repo"
  const unknown = await app.request("GET", "/api/repo/nothing");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.errorCode(), "ENDPOINT_UNKNOWN");
  for (const url of ["/api/repo/charts", "/api/helm/v1/repo/charts"]) {
    const listing = await app.request("GET", url);
    assert.equal(listing.status, 200, url);
    assert.deepEqual(listing.json(), {}, url);
  }
});

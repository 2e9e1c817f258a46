// Berth serves the portal (portal/dist, built by scripts/build.mjs) at `/`: index.html with the
// strict CSP and never stored, hashed assets cached as immutable, index.html for page paths, and
// never an HTML page under the protocol prefixes.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { PORTAL_CSP, PORTAL_DIST } from "../../src/handlers/portal/plugin.ts";
import { freshApp } from "../support/app.ts";

const built = existsSync(`${PORTAL_DIST}index.html`);

test("the portal is built (scripts/build.mjs runs vite; npm test builds before testing)", () => {
  assert.ok(built, `no ${PORTAL_DIST}index.html: run npm run build`);
});

test("GET / and every page path answer index.html with the strict CSP, no-store, DENY framing; no inline script", async (t) => {
  const app = await freshApp(t);
  for (const path of ["/", "/r/team/app/-/tags", "/r/a/b/c/-/manifest/sha256:00", "/charts/team/demo?version=1.0.0", "/sign-in"]) {
    const res = await app.request("GET", path, { auth: null });
    assert.equal(res.status, 200, path);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    assert.equal(res.headers["content-security-policy"], PORTAL_CSP);
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(res.headers["x-frame-options"], "DENY");
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    const html = res.body.toString();
    assert.equal((html.match(/<script(?![^>]*\ssrc=)[^>]*>/g) ?? []).length, 0, "no inline script");
  }
  assert.match(PORTAL_CSP, /script-src 'self'(;|$)/);
  assert.match(PORTAL_CSP, /frame-ancestors 'none'/);
  assert.doesNotMatch(PORTAL_CSP, /unsafe-inline|unsafe-eval/);
});

test("hashed assets are immutable for a year and revalidate by ETag; the initial JavaScript is below 100 KiB gzipped", async (t) => {
  const app = await freshApp(t);
  const html = (await app.request("GET", "/", { auth: null })).body.toString();
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  assert.ok(assets.some((a) => a.endsWith(".js")), "index.html loads a script");
  let gzippedJs = 0;
  for (const asset of assets) {
    const res = await app.request("GET", asset, { auth: null, headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200, asset);
    assert.equal(res.headers["cache-control"], "public, max-age=31536000, immutable");
    if (asset.endsWith(".js")) {
      assert.equal(res.headers["content-encoding"], "gzip");
      assert.ok(gunzipSync(res.body).length > res.body.length);
      gzippedJs += res.body.length;
    }
    const again = await app.request("GET", asset, { auth: null, headers: { "if-none-match": String(res.headers.etag) } });
    assert.equal(again.status, 304);
  }
  assert.ok(gzippedJs < 100 * 1024, `initial JavaScript ${gzippedJs} bytes gzipped`);
});

test("no index.html under /v2/, /helm/, /api/, /oauth2/ or for a missing asset: each keeps its protocol's 404", async (t) => {
  const app = await freshApp(t);
  for (const path of ["/v2/nothing/here", "/api/v1/nothing", "/api/nothing/else", "/helm/v1", "/helm/nothing", "/oauth2/nothing", "/token", "/assets/missing.js", "/robots.txt"]) {
    const res = await app.request("GET", path, { auth: null });
    assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
    assert.doesNotMatch(String(res.headers["content-type"]), /html/, path);
  }
});

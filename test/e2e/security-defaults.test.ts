// A real `berth serve` names the quick-start defaults that trust the request when it starts, and
// serves /metrics on a port of its own when asked (docs/security.md, "Production settings").
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort, startBerth } from "../support/berth.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("berth serve warns about a Host-derived token realm and public /metrics, and serves metrics.port apart", async (t) => {
  const quick = await startBerth();
  t.after(() => quick.dispose());
  // The warnings reach us through the server's stdout pipe after it answers /healthz: until both
  // are there (at most 30 s), not for a fixed 200 ms.
  const warned = () => /http\.publicUrl is not set/.test(quick.output()) && /GET \/metrics answers anyone/.test(quick.output());
  for (const deadline = Date.now() + 30_000; !warned() && Date.now() < deadline; ) await sleep(50);
  assert.match(quick.output(), /http\.publicUrl is not set/);
  assert.match(quick.output(), /GET \/metrics answers anyone/);

  const metricsPort = await freePort();
  const production = await startBerth({ env: { BERTH_HTTP_PUBLIC_URL: "http://registry.example.com", BERTH_METRICS_PORT: String(metricsPort) } });
  t.after(() => production.dispose());
  await sleep(200);
  assert.doesNotMatch(production.output(), /http\.publicUrl is not set|GET \/metrics answers anyone/);
  const apart = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(apart.status, 200);
  assert.equal(apart.headers.get("x-content-type-options"), "nosniff", "the metrics port sends nosniff too");
  assert.match(await apart.text(), /berth_http_requests_total/);
  const onRegistryPort = await fetch(`${production.url}/metrics`);
  await onRegistryPort.body?.cancel();
  assert.equal(onRegistryPort.status, 404);
});

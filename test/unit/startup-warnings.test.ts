// The quick-start defaults that trust the request each warn at start, and stop warning once set.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load.ts";
import { startupWarnings } from "../../src/config/warnings.ts";

test("startupWarnings: Host-derived realm and public /metrics warn; publicUrl and metrics.access or metrics.port silence them", () => {
  const defaults = startupWarnings(loadConfig({ overrides: {} }));
  assert.equal(defaults.length, 2);
  assert.match(defaults[0]!, /http\.publicUrl/);
  assert.match(defaults[1]!, /\/metrics/);
  const production = { "http.publicUrl": "https://registry.example.com", "http.trustProxy": "10.0.0.2" };
  assert.deepEqual(startupWarnings(loadConfig({ overrides: { ...production, "metrics.access": "signed-in" } })), []);
  assert.deepEqual(startupWarnings(loadConfig({ overrides: { ...production, "metrics.port": 9090 } })), []);
  // A public URL suggests a proxy in front: without trustProxy, every client would share its address.
  assert.match(startupWarnings(loadConfig({ overrides: { "http.publicUrl": "https://registry.example.com", "metrics.port": 9090 } }))[0]!, /http\.trustProxy/);
  // auth.service alone still takes the realm from the Host header: still a warning.
  assert.match(startupWarnings(loadConfig({ overrides: { "auth.service": "registry.example.com", "metrics.port": 9090 } }))[0]!, /http\.publicUrl is not set/);
});

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
  assert.deepEqual(startupWarnings(loadConfig({ overrides: { "http.publicUrl": "https://registry.example.com", "metrics.access": "signed-in" } })), []);
  assert.deepEqual(startupWarnings(loadConfig({ overrides: { "auth.service": "registry.example.com", "metrics.port": 9090 } })), []);
});

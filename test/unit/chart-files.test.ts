// chartTexts reads README.md and values.yaml out of a stored package for the portal's chart page.
// Found by CI: when both were found early and much of the package was left, the feeder waited for
// a "drain" of a tar stream that the reader had already destroyed, so the request never ended and
// the server could not shut down.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "node:test";
import { chartTexts, MAX_CHART_TEXT_BYTES } from "../../src/services/catalog/chart-files.ts";
import { build } from "../support/chart-fixtures.ts";

/** The package as a store hands it out: in 16 KiB pieces, each a turn of the event loop later. */
function source(bytes: Buffer): Readable {
  return Readable.from((async function* () {
    for (let at = 0; at < bytes.length; at += 16 * 1024) {
      await new Promise((resolve) => setImmediate(resolve));
      yield bytes.subarray(at, at + 16 * 1024);
    }
  })());
}

test("chartTexts: both files found early, then 8 MiB more of the package: it answers, without reading on", { timeout: 20_000 }, async () => {
  const tgz = await build([
    { path: "demo/Chart.yaml", content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n" },
    { path: "demo/README.md", content: "# Demo\n" },
    { path: "demo/values.yaml", content: "a: 1\n" },
    // Random bytes do not compress: the gunzip has megabytes to hand the tar after the reader stopped.
    ...Array.from({ length: 8 }, (_, i) => ({ path: `demo/files/blob-${i}`, content: randomBytes(1024 * 1024) })),
  ]);
  for (let i = 0; i < 5; i++) {
    const texts = await chartTexts(source(tgz));
    assert.deepEqual(texts, { readme: "# Demo\n", values: "a: 1\n", readmeBytes: 7, valuesBytes: 5 });
  }
});

test("chartTexts: a file past the cut is cut there with its whole size; a subchart's README is not the chart's; a missing file is null", async () => {
  const big = "x".repeat(MAX_CHART_TEXT_BYTES + 10);
  const tgz = await build([
    { path: "demo/Chart.yaml", content: "apiVersion: v2\nname: demo\nversion: 1.0.0\n" },
    { path: "demo/charts/sub/README.md", content: "# Sub\n" },
    { path: "demo/README.md", content: big },
  ]);
  const texts = await chartTexts(source(tgz));
  assert.equal(texts.readme?.length, MAX_CHART_TEXT_BYTES);
  assert.equal(texts.readmeBytes, big.length);
  assert.equal(texts.values, null);
  assert.equal(texts.valuesBytes, null);
});

test("chartTexts: a broken package answers with what was found, never throws or hangs", { timeout: 20_000 }, async () => {
  const tgz = await build([
    { path: "demo/README.md", content: "# Demo\n" },
    { path: "demo/files/blob", content: randomBytes(2 * 1024 * 1024) },
  ]);
  const texts = await chartTexts(source(tgz.subarray(0, tgz.length - 5000)));
  assert.equal(texts.readme, "# Demo\n");
  const garbage = await chartTexts(source(randomBytes(100_000)));
  assert.deepEqual(garbage, { readme: null, values: null, readmeBytes: null, valuesBytes: null });
});

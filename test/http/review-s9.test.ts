// What a review of session 8's diff found (2026-12-07), each as a test that failed before its fix,
// through the real handlers and stores (inject()); where a race needs a moment between two reads,
// the store's method is wrapped to act in that moment and then answer as it would.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CatalogRows } from "../../src/metadata/catalog-types.ts";
import { freshApp, imageManifest, putManifest, type TestApp } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };
const pause = () => new Promise((r) => setTimeout(r, 5)); // each push its own millisecond

async function tagMany(app: TestApp, count: number): Promise<Buffer> {
  const m = await imageManifest(app, "team/app");
  for (let i = 0; i < count; i++) assert.equal((await putManifest(app, "team/app", `t${String(i).padStart(4, "0")}`, m.body)).status, 201);
  return m.body;
}

test("a per-caller repository summary counts a tag pushed again while its tags are read once, and names the newest push as newest", async (t) => {
  const app = await freshApp(t);
  const body = await tagMany(app, 1001); // more than one page of the summary's walk (1000)
  await pause();
  // Attributes on a tag make the summary per caller (summaryFor reads the tags).
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=t0000", { body: JSON.stringify({ deleteEnabled: false }), headers: JSON_TYPE })).status, 200);
  const rows: CatalogRows = app.berth.stores.metadata.catalog;
  const tags = rows.tags.bind(rows);
  let moved = "";
  let armed = true;
  rows.tags = async (repository, options, after, limit) => {
    const page = await tags(repository, options, after, limit);
    if (armed && options.sort === "time_desc" && after === null) {
      armed = false; // after the first page: one tag it listed pushed again, one moved
      assert.equal((await putManifest(app, "team/app", "t1000", body)).status, 201);
      await pause();
      const m = await imageManifest(app, "team/app");
      assert.equal((await putManifest(app, "team/app", "t0999", m.body)).status, 201);
      moved = m.digest;
    }
    return page;
  };
  const summary = (await app.request("GET", "/api/v1/repositories/team/app")).json() as { tags: number; newest: { tag: string; digest: string } };
  assert.equal(armed, false, "the walk read a first page");
  assert.equal(summary.tags, 1001, "each tag counted once");
  assert.deepEqual({ tag: summary.newest.tag, digest: summary.newest.digest }, { tag: "t0999", digest: moved }, "the newest is the last push, where it points now");
});

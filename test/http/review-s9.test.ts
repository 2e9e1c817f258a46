// What a review of session 8's diff found (2026-12-07), each as a test that failed before its fix,
// through the real handlers and stores (inject()); where a race needs a moment between two reads,
// the store's method is wrapped to act in that moment and then answer as it would.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { CatalogRows } from "../../src/metadata/catalog-types.ts";
import { freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, putManifest, type TestApp } from "../support/app.ts";

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

test("a per-caller repository summary reads a bounded part of the manifests when many newer ones are covered only by a hidden tag, and states the shown tag's push", async (t) => {
  const app = await freshApp(t);
  const shown = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", shown.body)).status, 201);
  await pause();
  // 450 manifests, pushed by digest after v1, that only the hidden tag `secret` (an index) reaches.
  const base = JSON.parse(shown.body.toString()) as Record<string, unknown>;
  const children: { mediaType: string; digest: string; size: number }[] = [];
  for (let i = 0; i < 450; i++) {
    const body = Buffer.from(JSON.stringify({ ...base, annotations: { n: String(i) } }));
    const res = await putManifest(app, "team/app", `sha256:${createHash("sha256").update(body).digest("hex")}`, body);
    assert.equal(res.status, 201);
    children.push({ mediaType: OCI_MANIFEST, digest: String(res.headers["docker-content-digest"]), size: body.length });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }));
  assert.equal((await putManifest(app, "team/app", "secret", index, OCI_INDEX)).status, 201);
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=secret", { body: JSON.stringify({ listEnabled: false }), headers: JSON_TYPE })).status, 200);
  const rows: CatalogRows = app.berth.stores.metadata.catalog;
  const manifests = rows.manifests.bind(rows);
  let read = 0;
  rows.manifests = async (repository, options, after, limit) => {
    const page = await manifests(repository, options, after, limit);
    read += page.length;
    return page;
  };
  const summary = (await app.request("GET", "/api/v1/repositories/team/app")).json() as { tags: number; pushed: string };
  assert.ok(read <= 300, `the summary read ${read} manifest rows`);
  const tags = (await app.request("GET", "/api/v1/repositories/team/app/tags")).json() as { tags: { name: string; pushed: string }[] };
  assert.deepEqual(tags.tags.map((x) => x.name), ["v1"]);
  assert.equal(summary.tags, 1);
  assert.equal(summary.pushed, tags.tags[0]!.pushed, "the last push the caller's listings name");
});

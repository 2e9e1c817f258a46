// A classic chart push (PUT /helm/v1/<repo>/_blobs/…, ChartMuseum's POST /api/<repo>/charts,
// `berth helm push`) is one metadata transaction: package, config, manifest, tag and chart row,
// all or nothing (issue 14.4). A failure injected at each step after the first write must leave
// no chart row, no manifest, no tag, no blob link and no repository, and fsck clean; the same
// push then succeeds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import type { MetadataParts } from "../../src/metadata/types.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, type TestApp } from "../support/app.ts";

type Part = "blobLinks" | "manifests" | "tags" | "charts";

/**
 * Makes the next call of one store method throw, in every transaction: the parts of a
 * transaction are new objects over the same classes, so the class's method is replaced.
 */
function failOnce(app: TestApp, part: Part, method: string): () => void {
  const proto = Object.getPrototypeOf(app.berth.stores.metadata[part]) as Record<string, unknown>;
  const original = proto[method] as (...args: unknown[]) => Promise<unknown>;
  let armed = true;
  proto[method] = async function (this: MetadataParts[Part], ...args: unknown[]) {
    const result = await original.apply(this, args);
    if (armed) {
      armed = false;
      throw new Error(`injected failure after ${part}.${method}`);
    }
    return result;
  };
  return () => void (proto[method] = original);
}

const PUSHES = {
  "PUT /helm/v1/repo/_blobs": (app: TestApp, tgz: Buffer) => app.request("PUT", "/helm/v1/repo/_blobs/demo-0.1.0.tgz", { body: tgz, headers: { "content-type": "application/octet-stream" } }),
  "POST /api/repo/charts": (app: TestApp, tgz: Buffer) => app.request("POST", "/api/repo/charts", { body: tgz, headers: { "content-type": "application/octet-stream" } }),
};

/** Steps of the push, in the order it writes them: the package's link, the manifest, the tag, the chart row. */
const STEPS: [Part, string][] = [["blobLinks", "link"], ["manifests", "put"], ["tags", "set"], ["charts", "record"]];

for (const [how, push] of Object.entries(PUSHES)) {
  for (const [part, method] of STEPS) {
    test(`${how}: a failure after ${part}.${method} leaves no chart, manifest, tag, link or repository; fsck clean; the push then works`, async (t) => {
      const app = await freshApp(t);
      const tgz = await validChart({ name: "demo", version: "0.1.0" });
      const restore = failOnce(app, part, method);
      t.after(restore);
      const failed = await push(app, tgz);
      restore();
      assert.equal(failed.status, 500, failed.body.toString());

      const metadata = app.berth.stores.metadata;
      assert.equal(await metadata.charts.get("repo/demo" as never, "0.1.0"), null, "chart row");
      assert.equal(await metadata.repositories.exists("repo/demo" as never), false, "the repository was created");
      const links: string[] = [];
      for await (const link of metadata.blobLinks.all()) links.push(`${link.repository}@${link.digest}`);
      assert.deepEqual(links, [], "blob links");
      const manifests: string[] = [];
      for await (const m of metadata.manifests.all()) manifests.push(`${m.repository}@${m.digest}`);
      assert.deepEqual(manifests, [], "manifests");
      assert.equal((await app.request("GET", "/v2/repo/demo/manifests/0.1.0")).status, 404);
      assert.deepEqual((await app.request("GET", "/v2/_catalog")).json().repositories, []);
      const kinds = (await metadata.changes.since(0, 1000)).map((e) => e.change.kind).filter((k) => k !== "identity.changed" && k !== "signing-key.added");
      assert.deepEqual(kinds, [], "the change log");
      assert.deepEqual((await checkIntegrity(metadata, app.berth.stores.blobs)).problems, []);

      const again = await push(app, tgz);
      assert.equal(again.status, 201, again.body.toString());
      const index = parse((await app.request("GET", "/helm/v1/repo/index.yaml")).body.toString()) as { entries: Record<string, { version: string }[]> };
      assert.deepEqual(index.entries.demo?.map((v) => v.version), ["0.1.0"]);
      assert.equal((await app.request("GET", "/v2/repo/demo/manifests/0.1.0")).status, 200);
      assert.deepEqual((await checkIntegrity(metadata, app.berth.stores.blobs)).problems, []);
    });
  }
}

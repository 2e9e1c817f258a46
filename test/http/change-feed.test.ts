// The change log and its feed (issue 14): a change is recorded if and only if it commits, the
// process that made it has caught up before its request answers, consumers claim and ack under
// a lease, and a chart deleted either way is gone both ways.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import type { ChangeEntry } from "../../src/domain/changes.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, pushBlob, type TestApp } from "../support/app.ts";

async function classicPush(app: TestApp, view: string, name: string, version: string) {
  const res = await app.request("PUT", `/helm/v1/${view}/_blobs/${name}-${version}.tgz`, { body: await validChart({ name, version }), headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 201, res.body.toString());
}

async function listed(app: TestApp, view: string, name: string): Promise<string[]> {
  const res = await app.request("GET", `/helm/v1/${view}/index.yaml`);
  // An unconfigured view with no chart left answers 404 (it may be a typo: docs/helm.md).
  if (res.status === 404) return [];
  assert.equal(res.status, 200);
  const index = parse(res.body.toString()) as { entries: Record<string, { version: string }[]> | null };
  return (index.entries?.[name] ?? []).map((v) => v.version);
}

test("a classic chart deleted over the OCI API, by tag or by digest, is gone from index.yaml and its download", async (t) => {
  const app = await freshApp(t);
  await classicPush(app, "charts", "demo", "0.1.0");
  await classicPush(app, "charts", "demo", "0.2.0");
  assert.deepEqual(await listed(app, "charts", "demo"), ["0.2.0", "0.1.0"]);
  assert.equal((await app.request("DELETE", "/v2/charts/demo/manifests/0.1.0")).status, 202);
  assert.deepEqual(await listed(app, "charts", "demo"), ["0.2.0"], "index.yaml still lists the version whose tag was deleted");
  assert.equal((await app.request("GET", "/helm/v1/charts/_blobs/demo-0.1.0.tgz")).status, 404);
  const digest = (await app.request("HEAD", "/v2/charts/demo/manifests/0.2.0")).headers["docker-content-digest"] as string;
  assert.equal((await app.request("DELETE", `/v2/charts/demo/manifests/${digest}`)).status, 202);
  assert.deepEqual(await listed(app, "charts", "demo"), []);
  assert.equal((await app.request("GET", "/helm/v1/charts/_blobs/demo-0.2.0.tgz")).status, 404);
});

test("a chart version's tag moved to another manifest takes the version out of index.yaml", async (t) => {
  const app = await freshApp(t);
  await classicPush(app, "charts", "demo", "0.1.0");
  const configDigest = await pushBlob(app, "charts/demo", "{}");
  const other = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: 2 }, layers: [] }));
  assert.equal((await app.request("PUT", "/v2/charts/demo/manifests/0.1.0", { body: other, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })).status, 201);
  assert.deepEqual(await listed(app, "charts", "demo"), []);
});

test("the change log records a change if and only if its transaction commits, in order", async (t) => {
  const app = await freshApp(t);
  const metadata = app.berth.stores.metadata;
  const start = await metadata.changes.latest();
  await assert.rejects(
    metadata.transaction(async (tx) => {
      await tx.changes.append({ kind: "tag.deleted", repository: "a/b", tag: "rolled-back" });
      throw new Error("no");
    }),
  );
  await metadata.transaction(async (tx) => {
    await tx.changes.append({ kind: "tag.deleted", repository: "a/b", tag: "one" });
    await tx.changes.append({ kind: "tag.deleted", repository: "a/b", tag: "two" });
  });
  const entries = await metadata.changes.since(start, 10);
  assert.deepEqual(entries.map((e) => (e.change as { tag: string }).tag), ["one", "two"]);
  assert.ok(entries[0]!.id < entries[1]!.id);
  assert.equal(await metadata.changes.latest(["tag.deleted"]), entries[1]!.id);
});

test("a push and a lock are in the log, and in force in this process before their requests answer", async (t) => {
  const app = await freshApp(t);
  const metadata = app.berth.stores.metadata;
  const start = await metadata.changes.latest();
  await classicPush(app, "charts", "demo", "0.1.0");
  assert.deepEqual(await listed(app, "charts", "demo"), ["0.1.0"]);
  const lock = await app.request("PATCH", "/api/v1/repositories/charts/demo/attributes", { body: JSON.stringify({ writeEnabled: false }), headers: { "content-type": "application/json" } });
  assert.equal(lock.status, 200);
  const push = await app.request("PUT", "/helm/v1/charts/_blobs/demo-0.2.0.tgz", { body: await validChart({ name: "demo", version: "0.2.0" }), headers: { "content-type": "application/octet-stream" } });
  assert.equal(push.status, 403);
  const kinds = (await metadata.changes.since(start, 100)).map((e: ChangeEntry) => e.change.kind);
  for (const kind of ["manifest.pushed", "tag.set", "chart.recorded", "attributes.changed"]) assert.ok(kinds.includes(kind as ChangeEntry["change"]["kind"]), `${kind} in ${kinds.join(", ")}`);
});

test("claim and ack: one owner at a time, a lease that expires, a cursor that moves only on ack", async (t) => {
  const app = await freshApp(t);
  const changes = app.berth.stores.metadata.changes;
  assert.deepEqual(await changes.claim("hooks", "a", 10, 60_000), [], "a new consumer starts at the end of the log");
  await changes.ack("hooks", "a", await changes.latest());
  for (const tag of ["1", "2", "3"]) await changes.append({ kind: "tag.deleted", repository: "r/x", tag });
  const first = await changes.claim("hooks", "a", 2, 60_000);
  assert.deepEqual(first.map((e) => (e.change as { tag: string }).tag), ["1", "2"]);
  assert.deepEqual(await changes.claim("hooks", "b", 10, 60_000), [], "b waits while a holds the lease");
  assert.equal(await changes.ack("hooks", "b", first.at(-1)!.id), false, "b cannot ack a's claim");
  assert.equal(await changes.ack("hooks", "a", first.at(-1)!.id), true);
  const rest = await changes.claim("hooks", "b", 10, 50);
  assert.deepEqual(rest.map((e) => (e.change as { tag: string }).tag), ["3"]);
  await new Promise((r) => setTimeout(r, 80));
  const retaken = await changes.claim("hooks", "a", 10, 60_000);
  assert.deepEqual(retaken.map((e) => (e.change as { tag: string }).tag), ["3"], "b's lease expired unacked: a gets the same entry");
});

test("prune drops old entries, but never one a consumer has not acknowledged", async (t) => {
  const app = await freshApp(t);
  const changes = app.berth.stores.metadata.changes;
  await changes.claim("hooks", "a", 10, 60_000);
  await changes.ack("hooks", "a", await changes.latest());
  for (const tag of ["1", "2", "3"]) await changes.append({ kind: "tag.deleted", repository: "r/x", tag });
  const [first] = await changes.claim("hooks", "a", 1, 60_000);
  await changes.ack("hooks", "a", first!.id);
  const future = new Date(Date.now() + 60_000);
  assert.equal(await changes.prune(future) > 0, true);
  const left = (await changes.since(0, 100)).filter((e) => e.change.kind === "tag.deleted");
  assert.deepEqual(left.map((e) => (e.change as { tag: string }).tag), ["2", "3"], "unacknowledged entries stay");
  assert.equal(await changes.prune(new Date(0)), 0, "nothing is older than the epoch");
});

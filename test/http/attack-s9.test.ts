// Outside attack on session 9's summary counts (repository summaries kept by deltas, migration
// 031): after each operation, the summary /api/v1/repositories/<name> gives is compared with a
// recount from the rows (tags, manifests, the manifests' bytes plus each named blob once).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Kysely } from "kysely";
import type { Database } from "../../src/metadata/schema.ts";
import { freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256, type TestApp } from "../support/app.ts";

const JSON_TYPE = { "content-type": "application/json" };

function dbOf(app: TestApp): Kysely<Database> {
  return (app.berth.stores.metadata as unknown as { db: Kysely<Database> }).db;
}

async function recount(app: TestApp, repository: string): Promise<{ tags: number; manifests: number; size: number } | null> {
  const db = dbOf(app);
  const m = await db.selectFrom("manifests").select((eb) => [eb.fn.countAll<number>().as("n"), eb.fn.sum<number>("size").as("bytes")]).where("repository", "=", repository).executeTakeFirstOrThrow();
  const t = await db.selectFrom("tags").select((eb) => eb.fn.countAll<number>().as("n")).where("repository", "=", repository).executeTakeFirstOrThrow();
  if (Number(m.n) === 0 && Number(t.n) === 0) return null;
  const b = await db
    .selectFrom("blobs")
    .select((eb) => eb.fn.sum<number>("size").as("bytes"))
    .where("digest", "in", (eb) => eb.selectFrom("manifest_refs").select("target_digest").where("repository", "=", repository).where("kind", "=", "blob"))
    .executeTakeFirstOrThrow();
  return { tags: Number(t.n), manifests: Number(m.n), size: Number(m.bytes ?? 0) + Number(b.bytes ?? 0) };
}

async function shown(app: TestApp, repository: string): Promise<{ tags: number; manifests: number; size: number } | null> {
  const res = await app.request("GET", `/api/v1/repositories/${repository}`);
  if (res.status === 404) return null;
  assert.equal(res.status, 200, res.body.toString());
  const s = res.json() as { tags: number; manifests: number; size: number };
  return { tags: s.tags, manifests: s.manifests, size: s.size };
}

async function same(app: TestApp, repository: string, step: string): Promise<void> {
  assert.deepEqual(await shown(app, repository), await recount(app, repository), `after ${step}: the summary of ${repository} is the recount`);
}

function indexOf(children: { digest: string; size: number }[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: { architecture: "amd64", os: "linux" } })) }));
}

test("summary counts stay the recount through pushes, moves, shared layers, indexes, referrers and deletes", async (t) => {
  const app = await freshApp(t);
  const R = "team/app";
  const m1 = await imageManifest(app, R);
  assert.equal((await putManifest(app, R, "v1", m1.body)).status, 201);
  await same(app, R, "push by tag");
  assert.equal((await putManifest(app, R, "v1", m1.body)).status, 201);
  await same(app, R, "the same manifest again");
  assert.equal((await putManifest(app, R, m1.digest, m1.body)).status, 201);
  await same(app, R, "the same manifest by digest");
  assert.equal((await putManifest(app, R, "v2", m1.body)).status, 201);
  await same(app, R, "two tags on one manifest");
  // A second manifest sharing m1's layer (another config).
  const cfg2 = await pushBlob(app, R, JSON.stringify({ architecture: "arm64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const shared = Buffer.from(JSON.stringify({ ...JSON.parse(m1.body.toString()), config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfg2, size: Buffer.byteLength(JSON.stringify({ architecture: "arm64", os: "linux", rootfs: { type: "layers", diff_ids: [] } })) } }));
  assert.equal((await putManifest(app, R, "v1", shared)).status, 201);
  await same(app, R, "a tag moved to a manifest sharing the layer");
  // The same layer listed twice, and the config named again as a layer.
  const twice = JSON.parse(m1.body.toString());
  twice.layers = [twice.layers[0], twice.layers[0], { ...twice.config, mediaType: "application/vnd.oci.image.layer.v1.tar" }];
  const twiceBody = Buffer.from(JSON.stringify(twice));
  assert.equal((await putManifest(app, R, "twice", twiceBody)).status, 201);
  await same(app, R, "a layer named twice and the config as a layer");
  // An index of two children pushed by digest, then its children.
  const c1 = await imageManifest(app, R);
  const c2 = await imageManifest(app, R);
  for (const c of [c1, c2]) assert.equal((await putManifest(app, R, c.digest, c.body)).status, 201);
  await same(app, R, "children by digest");
  const index = indexOf([{ digest: c1.digest, size: c1.body.length }, { digest: c2.digest, size: c2.body.length }]);
  assert.equal((await putManifest(app, R, "multi", index, OCI_INDEX)).status, 201);
  await same(app, R, "an index");
  // A referrer of m1.
  const empty = await pushBlob(app, R, "{}");
  const referrer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sbom", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 }, layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 }], subject: { mediaType: OCI_MANIFEST, digest: m1.digest, size: m1.body.length } }));
  assert.equal((await putManifest(app, R, sha256(referrer), referrer)).status, 201);
  await same(app, R, "a referrer");
  // A second repository with m1's layer.
  assert.equal((await app.request("POST", `/v2/other/app/blobs/uploads/?mount=${m1.layer}&from=${R}`)).status, 201);
  assert.equal((await app.request("POST", `/v2/other/app/blobs/uploads/?mount=${m1.config}&from=${R}`)).status, 201);
  assert.equal((await putManifest(app, "other/app", "v1", m1.body)).status, 201);
  await same(app, "other/app", "the layer in a second repository");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/v2`)).status, 202);
  await same(app, R, "delete by tag");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/${m1.digest}`)).status, 202);
  await same(app, R, "delete by digest (with a referrer)");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/${sha256(index)}`)).status, 202);
  await same(app, R, "delete of an index");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/${sha256(twiceBody)}`)).status, 202);
  await same(app, R, "delete of the twice-naming manifest");
  await same(app, "other/app", "deletes in the first repository");
  // A manifest PUT that fails validation: nothing counted.
  const bad = Buffer.from(JSON.stringify({ ...JSON.parse(m1.body.toString()), layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256("absent"), size: 6 }] }));
  assert.equal((await putManifest(app, R, "bad", bad)).status, 400);
  await same(app, R, "a refused manifest");
  // The whole repository, then pushed again from scratch: nothing left over from before.
  assert.equal((await app.request("DELETE", `/api/v1/repositories/${R}`)).status, 200);
  assert.equal(await shown(app, R), null);
  const left = await dbOf(app).selectFrom("repository_blob_refs").selectAll().where("repository", "=", R).execute();
  assert.deepEqual(left, [], "no blob reference counts left for a deleted repository");
  const again = await imageManifest(app, R);
  assert.equal((await putManifest(app, R, "v1", again.body)).status, 201);
  await same(app, R, "a push after the repository's delete");
});

test("summary counts stay the recount through soft delete and restore, refusals (quota, immutable tag, write lock), classic charts with --force, and retention", async (t) => {
  const app = await freshApp(t, { "deletion.restorableFor": 3600, "retention.gracePeriod": 0 });
  const R = "team/app";
  const m1 = await imageManifest(app, R);
  assert.equal((await putManifest(app, R, "v1", m1.body)).status, 201);
  assert.equal((await putManifest(app, R, "v2", m1.body)).status, 201);
  const m2 = await imageManifest(app, R);
  assert.equal((await putManifest(app, R, "v3", m2.body)).status, 201);
  await same(app, R, "three pushes");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/v2`)).status, 202);
  await same(app, R, "a soft delete by tag");
  assert.equal((await app.request("DELETE", `/v2/${R}/manifests/${m2.digest}`)).status, 202);
  await same(app, R, "a soft delete by digest");
  for (const reference of ["v2", m2.digest]) {
    const res = await app.request("POST", `/api/v1/deleted/${R}`, { body: JSON.stringify({ reference }), headers: JSON_TYPE });
    assert.equal(res.status, 200, res.body.toString());
    await same(app, R, `a restore of ${reference}`);
  }
  // Refusals count nothing: a quota, an immutable tag, a write lock.
  const m3 = await imageManifest(app, R);
  assert.equal((await app.request("PUT", "/api/v1/quotas", { body: JSON.stringify({ scope: R, limit: 1 }), headers: JSON_TYPE })).status, 200);
  assert.equal((await putManifest(app, R, "v4", m3.body)).status, 403);
  await same(app, R, "a push over quota");
  assert.equal((await app.request("DELETE", `/api/v1/quotas/${R}`)).status < 300, true);
  const rule = await app.request("POST", "/api/v1/tag-rules", { body: JSON.stringify({ repository: "team/*", tags: "v1" }), headers: JSON_TYPE });
  assert.equal(rule.status, 201, rule.body.toString());
  assert.equal((await putManifest(app, R, "v1", m3.body)).status, 403);
  await same(app, R, "a push refused by an immutable tag");
  assert.equal((await app.request("PATCH", `/api/v1/repositories/${R}/attributes`, { body: JSON.stringify({ writeEnabled: false }), headers: JSON_TYPE })).status, 200);
  assert.equal((await putManifest(app, R, "v5", m3.body)).status, 403);
  await same(app, R, "a push refused by a write lock");
  assert.equal((await app.request("PATCH", `/api/v1/repositories/${R}/attributes`, { body: JSON.stringify({ writeEnabled: true }), headers: JSON_TYPE })).status, 200);
  // Classic charts: a push, a --force replace of the version, a second version, a delete.
  const { validChart } = await import("../support/chart-fixtures.ts");
  const classic = (tgz: Buffer, force = false) => app.request(force ? "PATCH" : "PUT", "/helm/v1/repo/_blobs/chart.tgz", { body: tgz, headers: { "content-type": "application/octet-stream" } });
  assert.equal((await classic(await validChart({ name: "demo", version: "1.0.0", description: "one" }))).status, 201);
  await same(app, "repo/demo", "a classic chart push");
  assert.equal((await classic(await validChart({ name: "demo", version: "1.0.0", description: "replaced" }), true)).status, 201);
  await same(app, "repo/demo", "a classic --force replace");
  const v11 = await validChart({ name: "demo", version: "1.1.0" });
  assert.equal((await classic(v11)).status, 201);
  await same(app, "repo/demo", "a second version");
  const { chartYamlFor, provenanceFor, provenanceSum } = await import("../support/chart-fixtures.ts");
  const prov = provenanceFor(chartYamlFor({ name: "demo", version: "1.1.0" }), { "demo-1.1.0.tgz": provenanceSum(v11) });
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/demo-1.1.0.tgz.prov", { body: prov })).status, 201);
  await same(app, "repo/demo", "a .prov attached");
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_blobs/demo-1.1.0.tgz.prov")).status, 200);
  await same(app, "repo/demo", "a .prov removed");
  assert.equal((await app.request("DELETE", "/helm/v1/repo/_charts/demo/1.0.0")).status, 200);
  await same(app, "repo/demo", "a classic delete");
  // Retention keeping the newest tag of team/app.
  for (let i = 0; i < 3; i++) {
    const m = await imageManifest(app, R);
    assert.equal((await putManifest(app, R, `r${i}`, m.body)).status, 201);
  }
  assert.equal((await app.request("POST", "/api/v1/retention-policies", { body: JSON.stringify({ repository: R, keepNewest: 1, tags: "r*" }), headers: JSON_TYPE })).status, 201);
  const run = await app.request("POST", "/api/v1/retention-runs", { body: JSON.stringify({ dryRun: false }), headers: JSON_TYPE });
  assert.equal(run.status < 300, true, run.body.toString());
  await same(app, R, "a retention run");
  assert.equal((await app.request("DELETE", `/api/v1/tag-rules/${rule.json().id}`)).status < 300, true);
  // The whole repository, soft.
  assert.equal((await app.request("DELETE", `/api/v1/repositories/${R}`)).status, 200);
  await same(app, R, "a soft repository delete");
});

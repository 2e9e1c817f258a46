// Migration 010 on a database written before it: the repository summaries and the search index
// are filled from the rows already there (manifests, tags, blobs, provenance), so an upgraded
// registry lists and finds what it held without a push.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import type { Digest } from "../../src/domain/digest.ts";
import type { RepositoryName } from "../../src/domain/names.ts";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { migrations } from "../../src/metadata/migrations/index.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;

test("migration 010 fills repository summaries and search entries from an existing database", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-backfill-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const db = new Kysely<Database>({ dialect: openSqlite(join(dir, "berth.db")).dialect });
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "010"));
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest();
  assert.equal(error, undefined);

  const [config, layer, manifest] = [digest("a"), digest("b"), digest("c")];
  const body = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 10 }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: 1000 }] });
  await db.insertInto("repositories").values({ name: "team/app", created_at: 1 }).execute();
  await db.insertInto("blobs").values([{ digest: config, size: 10, created_at: 1 }, { digest: layer, size: 1000, created_at: 1 }]).execute();
  await db.insertInto("manifests").values({ repository: "team/app", digest: manifest, media_type: "application/vnd.oci.image.manifest.v1+json", size: body.length, body: Buffer.from(body), subject: null, artifact_type: null, annotations: null, created_at: 1000 }).execute();
  await db.insertInto("manifest_refs").values([{ repository: "team/app", manifest_digest: manifest, target_digest: config, kind: "blob" }, { repository: "team/app", manifest_digest: manifest, target_digest: layer, kind: "blob" }]).execute();
  await db.insertInto("tags").values({ repository: "team/app", tag: "v1", digest: manifest, updated_at: 2000 }).execute();
  const facts = { kind: "image", annotations: {}, layers: 1, config: { digest: config, mediaType: "application/vnd.oci.image.config.v1+json", size: 10, read: true, labels: { "build.sha": "E80E6EF0123", "build.user": "octocat" }, history: [] } };
  await db.insertInto("provenance").values({ repository: "team/app", digest: manifest, kind: "image", media_type: "application/vnd.oci.image.manifest.v1+json", artifact_type: null, size: body.length, subject: null, facts: JSON.stringify(facts), recorded_at: 1000 }).execute();

  const store = await KyselyMetadataStore.open(db);
  t.after(() => store.close());
  const summary = await store.catalog.summary("team/app" as RepositoryName);
  assert.deepEqual(summary, {
    name: "team/app", kind: "image", artifactType: null, tags: 1, manifests: 1, size: body.length + 1010, pushed: new Date(2000),
    newest: { tag: "v1", digest: manifest as Digest, build: { user: "octocat", sha: "E80E6EF0123", dockerfile: null } },
  });
  const hits = await store.search.find({ terms: [{ source: "label", key: "build.sha", match: "equals", value: "e80e6ef" }], unsigned: true }, null, 10);
  assert.deepEqual(hits.map((h) => [h.repository, h.digest]), [["team/app", manifest]]);
  assert.equal((await store.catalog.list({ sort: "size", order: "desc" }, null, 10)).length, 1);
});

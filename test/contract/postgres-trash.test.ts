// Soft delete on PostgreSQL, where instances' transactions run side by side: gc unlinks blobs only
// deleted content names, and a restore links them again and references them in its own
// transaction (services/trash.ts). gc's unlinking re-checks each link under the digest's lock,
// which the restore holds until it commits, so a link the restore needs is never dropped under it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Kysely } from "kysely";
import pg from "pg";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { usePostgres } from "../support/postgres.ts";
import { digestOf, manifestRecord, pause, repo, tag } from "./metadata-fixtures.ts";

const cluster = usePostgres();

const open = (url: string) => KyselyMetadataStore.open(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 4 }).dialect }));

/** Sessions waiting for a lock (the digest's advisory lock, or a row). */
async function waitingLocks(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>("select count(*)::int as n from pg_locks where not granted")).rows[0]!.n;
  } finally {
    await client.end();
  }
}

test("gc unlinking while a restore links and references the same blob: gc waits for the restore's commit and keeps the link", async (t) => {
  const url = await cluster().database();
  const [restoring, collecting] = [await open(url), await open(url)];
  t.after(async () => {
    await restoring.close();
    await collecting.close();
  });
  const layer = digestOf("layer");
  await restoring.blobs.record(layer, 5);
  await restoring.blobLinks.link(repo("team/app"), layer);
  const manifest = manifestRecord("team/app", "restored");
  await restoring.trash.put({ id: "r", repository: repo("team/app"), digest: manifest.digest, kind: "manifest", tags: [tag("v1")], mediaType: manifest.mediaType, artifactType: null, size: manifest.size, body: manifest.body, storedAs: null, deletedAt: new Date(), expiresAt: new Date(Date.now() + 3_600_000), deletedBy: null }, [layer]);
  await pause(5);

  // The restore's transaction, as put runs it: the blob's lock, the link, the manifest's references; held open.
  let inside!: () => void;
  const entered = new Promise<void>((resolve) => (inside = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const restore = restoring.transaction(async (tx) => {
    await tx.blobs.hold(layer);
    await tx.blobLinks.link(repo("team/app"), layer);
    await tx.manifests.put(manifest, { blobs: [layer], children: [] });
    await tx.trash.update("r", "tag", []);
    inside();
    await gate;
  });
  await entered;
  // gc reads the link as unreferenced (the restore has not committed) and waits on its lock.
  let settled = false;
  const pruning = collecting.blobLinks.pruneUnreferenced(new Date(Date.now() + 60_000)).finally(() => (settled = true));
  // Without the lock gc would not wait: it would end first, having dropped the link.
  while (!settled && (await waitingLocks(url)) === 0) await pause(5);
  release();
  await restore;
  assert.equal(await pruning, 0, "the link is referenced by then");
  assert.equal(await collecting.blobLinks.isLinked(repo("team/app"), layer), true);
  assert.deepEqual(await collecting.blobs.collectable(new Date(Date.now() + 60_000), { limit: 10 }), []);
});

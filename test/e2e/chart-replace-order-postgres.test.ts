// A classic chart pushed again with --force (ChartMuseum's ?force) records the new package's
// manifest and deletes the one it replaces, in one transaction. Both move the repository's blob
// counter rows (repository_blob_refs, migration 031); every other manifest push or delete takes
// them in digest order (locks.ts), so the replace must too: it took the new package's rows and
// then the old one's, and beside a transaction taking the same two rows in digest order (a delete
// of a manifest naming both) PostgreSQL ended one with a deadlock. Driven deterministically: the
// other transaction holds the old package's row while the push waits for it, then asks for the
// new package's row, which the push must not be holding.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import pg from "pg";
import { digestBytes } from "../../src/domain/digest.ts";
import { startBerth } from "../support/berth.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { OciClient } from "../support/oci-client.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { until } from "../support/until.ts";

const cluster = usePostgres();

test("PostgreSQL: a forced classic chart push takes the blob counter rows in digest order, so beside a transaction taking the old and new packages' rows in digest order neither deadlocks; the summary is the recount", { timeout: 120_000 }, async (t) => {
  const url = await cluster().database();
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url } });
  t.after(() => berth.dispose());
  const oci = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const repo = "repo/demo";
  // Two packages of one version whose digests order old < new: a transaction in digest order takes the old one's row first.
  let old: Buffer, fresh: Buffer;
  do {
    old = await validChart({ name: "demo", version: "1.0.0", files: { "notes.txt": randomBytes(16).toString("hex") } });
    fresh = await validChart({ name: "demo", version: "1.0.0", files: { "notes.txt": randomBytes(16).toString("hex") } });
  } while (!(digestBytes(old) < digestBytes(fresh)));
  const [lo, hi] = [digestBytes(old), digestBytes(fresh)];
  const push = (body: Buffer, force: boolean) => fetch(`${berth.url}/api/repo/charts${force ? "?force" : ""}`, { method: "POST", headers: { authorization: berth.basicAuth }, body: new Uint8Array(body) });
  assert.equal((await push(old, false)).status, 201);
  // Another manifest in the repository names the new package, so its counter row is there to take.
  const config = Buffer.from("{}");
  await oci.pushBlob(repo, config);
  await oci.pushBlob(repo, fresh);
  const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: digestBytes(config), size: config.length }, layers: [{ mediaType: "application/octet-stream", digest: hi, size: fresh.length }] };
  await oci.putManifest(repo, "other", Buffer.from(JSON.stringify(manifest)));

  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.after(() => other.end());
  const take = (digest: string) => other.query("update repository_blob_refs set refs = refs where repository = $1 and digest = $2", [repo, digest]);
  await other.query("begin");
  assert.equal((await take(lo)).rowCount, 1);
  const forced = push(fresh, true);
  const waiting = async () => (await query<{ n: number }>(url, "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1", [(other as unknown as { processID: number }).processID]))[0]!.n > 0;
  await until("the forced push waiting for the old package's counter row", waiting);
  const taken = await take(hi).then(() => null, (err: Error) => err.message);
  await other.query(taken === null ? "commit" : "rollback");
  const answer = await forced;
  const logged = berth.output().match(/"message":"[^"]*deadlock[^"]*"/g) ?? [];
  assert.deepEqual({ taken, status: answer.status }, { taken: null, status: 201 }, `${await answer.text()} ${logged.join("; ")}`);

  const [m] = await query<{ n: number; bytes: string }>(url, "select count(*)::int as n, coalesce(sum(size), 0) as bytes from manifests where repository = $1", [repo]);
  const [b] = await query<{ bytes: string }>(url, "select coalesce(sum(size), 0) as bytes from blobs where digest in (select target_digest from manifest_refs where repository = $1 and kind = 'blob')", [repo]);
  const shown = (await (await fetch(`${berth.url}/api/v1/repositories/${repo}`, { headers: { authorization: berth.basicAuth } })).json()) as { manifests: number; size: number };
  assert.deepEqual({ manifests: shown.manifests, size: shown.size }, { manifests: m!.n, size: Number(m!.bytes) + Number(b!.bytes) });
});

// A push that moves several tags off a manifest, beside a delete of that manifest by digest, on
// PostgreSQL. The push moved its tags' rows in the order the request named them; the delete
// deleted the manifest's tag rows in the table's order. Each held a row the other wanted and
// PostgreSQL ended one with a deadlock: a 500 (found by attack-s8b's fsck beside moving tags, once
// in a CI run). Both now lock the rows in the tags' order first (TagRows.lockRows, deleteAllFor).
// Driven deterministically: a transaction of the test's own holds tag c, the push waits for it
// (holding a), the delete waits for it too (holding b, the table's first row); then it rolls back.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { startBerth } from "../support/berth.ts";
import { OCI_MANIFEST, OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { until } from "../support/until.ts";

const cluster = usePostgres();

test("PostgreSQL: a push moving tags a, c, b off a manifest and a delete of that manifest by digest, both waiting for tag c's row, end without a deadlock: 201 and 202, every tag on the new manifest", { timeout: 120_000 }, async (t) => {
  const url = await cluster().database();
  const berth = await startBerth({ env: { BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: url } });
  t.after(() => berth.dispose());
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const repo = "team/app";
  const layer = randomLayer(512);
  const [old, fresh] = [buildImage([layer], "old"), buildImage([layer], "fresh")];
  await pushImage(client, repo, old.digest, old);
  await client.pushBlob(repo, fresh.config.data);
  // Rows written b, c, a: the order a plain delete of the old manifest's tags meets them in.
  const put = (reference: string, body: Buffer) => client.raw("PUT", `/v2/${repo}/manifests/${reference}`, { headers: { "content-type": OCI_MANIFEST }, body });
  assert.equal((await put("b?tag=c&tag=a", old.manifest)).status, 201);
  assert.deepEqual((await query<{ tag: string }>(url, "select tag from tags where repository = $1 order by ctid", [repo])).map((r) => r.tag), ["b", "c", "a"]);

  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.after(() => other.end());
  const pid = (other as unknown as { processID: number }).processID;
  const waiters = async () => (await query<{ n: number }>(url, "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1", [pid]))[0]!.n;
  await other.query("begin");
  await other.query("select tag from tags where repository = $1 and tag = 'c' for update", [repo]);
  const pushing = put("a?tag=c&tag=b", fresh.manifest);
  let early: string | null = null;
  void pushing.then(async (r) => (early = `${r.status} ${await r.clone().text()}`));
  await until("the push waiting for tag c's row", async () => { if (early) throw new Error(`answered: ${early}`); return (await waiters()) >= 1; });
  const deleting = client.raw("DELETE", `/v2/${repo}/manifests/${old.digest}`);
  await until("the delete waiting too", async () => (await waiters()) >= 2);
  await other.query("rollback");
  const [pushed, deleted] = await Promise.all([pushing, deleting]);
  const logged = berth.output().match(/"message":"[^"]*deadlock[^"]*"/g) ?? [];
  assert.deepEqual({ push: pushed.status, delete: deleted.status }, { push: 201, delete: 202 }, `${await pushed.text()} ${await deleted.text()} ${logged.join("; ")}`);
  const tags = await query<{ tag: string; digest: string }>(url, "select tag, digest from tags where repository = $1 order by tag", [repo]);
  assert.deepEqual(tags, ["a", "b", "c"].map((tag) => ({ tag, digest: fresh.digest })));
  assert.deepEqual((await query<{ digest: string }>(url, "select digest from manifests where repository = $1", [repo])).map((r) => r.digest), [fresh.digest]);
});

// How many database queries a blob HEAD and GET cost on S3 + PostgreSQL, counted by the server
// (pg_stat_statements, loaded into a throwaway cluster): the repository link check reads the blob
// row's object key in the same query (a chunked push's blob is published in place, under
// uploads/<id>: migration 032), so the read asks the database once, not again for where the
// bytes are (BlobStore.keyOf). One instance answers GET with a redirect to the store, another
// serves the bytes itself; both read the blob back from where its row says.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { startBerth } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, sha256 } from "../support/oci-client.ts";
import { chunkedUpload, MiB } from "../support/publish-attack.ts";
import { query } from "../support/postgres.ts";
import { startStoreCluster } from "../support/store-cluster.ts";

const missing = missingStore("s3");
if (missing && process.env.CI === "true") throw new Error(missing);

test("HEAD and GET /v2/<name>/blobs/<digest> on S3 + PostgreSQL: one database query each (the link check reads where the bytes are), redirect or served, and the bytes read back from the upload's object", { timeout: 300_000, skip: missing ?? false }, async (t) => {
  const cluster = await startStoreCluster("s3", 1, {
    postgresSettings: { shared_preload_libraries: "pg_stat_statements" },
    // The webhook worker looks for events every 0.25 s by default: queries beside the ones counted.
    env: { BERTH_WEBHOOKS_INTERVAL: "3600" },
  });
  t.after(() => cluster.stop());
  const redirecting = cluster.instances[0]!;
  const serving = await startBerth({ dataDir: redirecting.dataDir, password: redirecting.password, env: { ...cluster.env, BERTH_STORAGE_S3_REDIRECT: "false" } });
  t.after(() => serving.kill());
  const maintenance = cluster.postgres.url;
  await query(maintenance, "create extension pg_stat_statements");
  const database = new URL(cluster.env.BERTH_METADATA_POSTGRES_URL!).pathname.slice(1);

  const client = new OciClient({ baseUrl: redirecting.url, authorization: redirecting.basicAuth, timeoutMs: 120_000 });
  const data = randomBytes(2 * MiB + 5);
  const digest = sha256(data);
  await client.finishUpload(await chunkedUpload(client, "q/app", data), digest);
  const [row] = await query<{ object_key: string | null }>(cluster.env.BERTH_METADATA_POSTGRES_URL!, "select object_key from blobs where digest = $1", [digest]);
  assert.match(row?.object_key ?? "", /^uploads\//, "published in place: the row names the upload's object");

  const url = (berth: { url: string }) => `${berth.url}/v2/q/app/blobs/${digest}`;
  const ask = (berth: typeof redirecting, method: "HEAD" | "GET") => fetch(url(berth), { method, headers: { authorization: berth.basicAuth }, redirect: "manual" });
  /**
   * The statements Berth's database ran while `work` ran, with their calls. The change feed polls
   * its log every 0.25 s (events/feed.ts) whatever the requests do: left out.
   */
  const counted = async (work: () => Promise<void>): Promise<{ calls: number; statements: string[] }> => {
    await query(maintenance, "select pg_stat_statements_reset()");
    await work();
    const rows = await query<{ query: string; calls: string }>(
      maintenance,
      `select s.query, s.calls from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = $1 and s.query not like '%"changes"%'`,
      [database],
    );
    return { calls: rows.reduce((sum, r) => sum + Number(r.calls), 0), statements: rows.map((r) => `${r.calls}× ${r.query}`) };
  };

  // Each instance's first request authenticates the admin (the password's check is cached after).
  for (const berth of [redirecting, serving]) assert.equal((await ask(berth, "HEAD")).status, 200);

  const head = await counted(async () => {
    const res = await ask(redirecting, "HEAD");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(data.length));
  });
  assert.equal(head.calls, 1, `HEAD: one query, not:\n${head.statements.join("\n")}`);

  let location = "";
  const redirected = await counted(async () => {
    const res = await ask(redirecting, "GET");
    assert.equal(res.status, 307);
    location = res.headers.get("location") ?? "";
  });
  assert.equal(redirected.calls, 1, `GET (307 to the store): one query, not:\n${redirected.statements.join("\n")}`);
  const fromStore = await fetch(location);
  assert.equal(fromStore.status, 200);
  assert.equal(sha256(Buffer.from(await fromStore.arrayBuffer())), digest, "the redirect names the upload's object");

  let body = Buffer.alloc(0);
  const served = await counted(async () => {
    const res = await ask(serving, "GET");
    assert.equal(res.status, 200);
    body = Buffer.from(await res.arrayBuffer());
  });
  assert.equal(served.calls, 1, `GET (served by Berth): one query, not:\n${served.statements.join("\n")}`);
  assert.equal(sha256(body), digest);

  const ranged = await counted(async () => {
    const res = await fetch(url(serving), { headers: { authorization: serving.basicAuth, range: "bytes=5-14" } });
    assert.equal(res.status, 206);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(5, 15)));
  });
  assert.equal(ranged.calls, 1, `GET with a range: one query, not:\n${ranged.statements.join("\n")}`);

  // A blob not linked to the repository is still unknown there, in one query.
  const elsewhere = await counted(async () => {
    const res = await fetch(`${serving.url}/v2/q/other/blobs/${digest}`, { method: "HEAD", headers: { authorization: serving.basicAuth } });
    assert.equal(res.status, 404);
  });
  assert.equal(elsewhere.calls, 1, `HEAD of a blob another repository holds: one query, not:\n${elsewhere.statements.join("\n")}`);
});

// Outside attack on session 9's summary counts, on PostgreSQL with two `berth serve` processes
// over one database: pushes and deletes of manifests naming the same layers, side by side in one
// repository, then the summary the API gives is compared with a recount from the rows.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { stringify } from "yaml";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, type TestBlob, type TestImage } from "../support/oci-images.ts";
import { usePostgres } from "../support/postgres.ts";

const cluster = usePostgres();

async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

async function recount(url: string, repo: string) {
  const [m] = await query<{ n: string; bytes: string | null }>(url, "select count(*) as n, sum(size) as bytes from manifests where repository = $1", [repo]);
  const [t] = await query<{ n: string }>(url, "select count(*) as n from tags where repository = $1", [repo]);
  const [b] = await query<{ bytes: string | null }>(url, "select sum(size) as bytes from blobs where digest in (select target_digest from manifest_refs where repository = $1 and kind = 'blob')", [repo]);
  if (Number(m!.n) === 0 && Number(t!.n) === 0) return null;
  return { tags: Number(t!.n), manifests: Number(m!.n), size: Number(m!.bytes ?? 0) + Number(b!.bytes ?? 0) };
}

async function shown(berth: RunningBerth, repo: string) {
  const res = await fetch(`${berth.url}/api/v1/repositories/${repo}`, { headers: { authorization: berth.basicAuth } });
  if (res.status === 404) return null;
  const s = (await res.json()) as { tags: number; manifests: number; size: number };
  return { tags: s.tags, manifests: s.manifests, size: s.size };
}

test("PostgreSQL, two instances: deletes and pushes of manifests naming the same two layers in opposite orders, side by side: every request answers as alone would (no deadlock 500) and the summary is the recount", { timeout: 300_000 }, async (t) => {
  const url = await cluster().database();
  const dataDir = await mkdtemp(join(tmpdir(), "berth-attack-s9-"));
  const config = join(dataDir, "berth.yaml");
  await writeFile(config, stringify({ storage: { data: dataDir }, metadata: { driver: "postgres", postgres: { url, poolSize: 8 } } }));
  const berths = await Promise.all([0, 1].map(() => startBerth({ dataDir, args: ["--config", config] })));
  t.after(async () => {
    await Promise.all(berths.map((b) => b.stop()));
    await rm(dataDir, { recursive: true, force: true });
  });
  const [a, b] = berths.map((x) => new OciClient({ baseUrl: x.url, authorization: x.basicAuth })) as [OciClient, OciClient];
  const repo = "race/shared";
  const [lo, hi] = [randomLayer(2048), randomLayer(2048)].sort((x, y) => (x.digest < y.digest ? -1 : 1)) as [TestBlob, TestBlob];
  const statuses: string[] = [];
  for (let round = 0; round < 6; round++) {
    // Ascending order (the order a delete's RETURNING gives them) for what is deleted; descending for what is pushed.
    const old: TestImage[] = [];
    for (let i = 0; i < 6; i++) old.push(buildImage([lo, hi], `old-${round}-${i}`));
    for (const [i, image] of old.entries()) await pushImage(a, repo, `old-${round}-${i}`, image);
    const fresh: TestImage[] = [];
    for (let i = 0; i < 6; i++) fresh.push(buildImage([hi, lo], `new-${round}-${i}`));
    // The configs first, so the race below is the manifests alone.
    for (const image of fresh) await b.pushBlob(repo, image.config.data);
    const answers = await Promise.all([
      ...old.map((image, i) => (i % 2 === 0 ? a : b).deleteManifest(repo, image.digest).then((s) => `DELETE ${s}`)),
      ...fresh.map((image, i) => (i % 2 === 0 ? b : a).raw("PUT", `/v2/${repo}/manifests/new-${round}-${i}`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: image.manifest }).then(async (res) => `PUT ${res.status} ${res.status >= 300 ? await res.text() : ""}`.trim())),
    ]);
    statuses.push(...answers.filter((s) => s !== "DELETE 202" && s !== "PUT 201").map((s) => `round ${round}: ${s}`));
    assert.deepEqual(await shown(berths[round % 2]!, repo), await recount(url, repo), `round ${round}: the summary is the recount`);
  }
  const causes = [...new Set(berths.flatMap((x) => x.output().match(/"message":"[^"]*(deadlock|could not|violates)[^"]*"/g) ?? []))];
  assert.deepEqual(statuses, [], `every delete 202 and every push 201; the servers logged ${causes.join("; ")}`);
});

// Outside attack on session 9's summary counts, on PostgreSQL with two `berth serve` processes
// over one database: pushes and deletes of manifests naming the same layers, side by side in one
// repository, then the summary the API gives is compared with a recount from the rows.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { stringify } from "yaml";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, type TestBlob, type TestImage } from "../support/oci-images.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { helmClient, packageChart, plainHttp, registryLogin } from "../support/helm.ts";
import { buildMultiPlatformLayout } from "../support/oci-layout.ts";
import { requireTool, runOk } from "../support/tools.ts";

const cluster = usePostgres();

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

async function twoInstances(t: { after(fn: () => Promise<void>): void }) {
  const url = await cluster().database();
  const dataDir = await mkdtemp(join(tmpdir(), "berth-attack-s9-"));
  const config = join(dataDir, "berth.yaml");
  await writeFile(config, stringify({ storage: { data: dataDir }, metadata: { driver: "postgres", postgres: { url, poolSize: 8 } } }));
  const berths = await Promise.all([0, 1].map(() => startBerth({ dataDir, args: ["--config", config] })));
  t.after(async () => {
    await Promise.all(berths.map((b) => b.stop()));
    await rm(dataDir, { recursive: true, force: true });
  });
  const clients = berths.map((x) => new OciClient({ baseUrl: x.url, authorization: x.basicAuth })) as [OciClient, OciClient];
  return { url, berths, clients };
}

test("PostgreSQL, two instances: a new repository's first pushes side by side, then it emptied while pushed again: the summary is the recount each time", { timeout: 300_000 }, async (t) => {
  const { url, berths, clients } = await twoInstances(t);
  const shared = randomLayer(1024);
  const failures: string[] = [];
  for (let round = 0; round < 5; round++) {
    const repo = `fresh/r${round}`;
    const images = Array.from({ length: 6 }, (_, i) => buildImage([shared, randomLayer(512 + i)], `${repo}-${i}`));
    // Blobs first, one at a time; then every manifest at once through both instances.
    for (const image of images) for (const blob of [image.config, ...image.layers]) await clients[0].pushBlob(repo, blob.data);
    const put = (image: TestImage, i: number, tag: string) =>
      clients[i % 2]!.raw("PUT", `/v2/${repo}/manifests/${tag}`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: image.manifest }).then(async (res) => `PUT ${res.status} ${res.status >= 300 ? await res.text() : ""}`.trim());
    failures.push(...(await Promise.all(images.map((image, i) => put(image, i, `t${i}`)))).filter((s) => s !== "PUT 201").map((s) => `${repo}: ${s}`));
    assert.deepEqual(await shown(berths[0]!, repo), await recount(url, repo), `${repo}: first pushes side by side`);
    // Every manifest deleted while three are pushed again under new tags.
    const answers = await Promise.all([
      ...images.map((image, i) => clients[(i + 1) % 2]!.deleteManifest(repo, image.digest).then((s) => `DELETE ${s}`)),
      ...images.slice(0, 3).map((image, i) => put(image, i, `again${i}`)),
    ]);
    failures.push(...answers.filter((s) => s !== "DELETE 202" && s !== "DELETE 404" && s !== "PUT 201" && !s.startsWith("PUT 400")).map((s) => `${repo}: ${s}`));
    assert.deepEqual(await shown(berths[1]!, repo), await recount(url, repo), `${repo}: emptied while pushed again`);
  }
  assert.deepEqual(failures, []);
});

test("PostgreSQL, two instances: deletes and pushes of manifests naming the same two layers in opposite orders, side by side: every request answers as alone would (no deadlock 500) and the summary is the recount", { timeout: 300_000 }, async (t) => {
  const { url, berths, clients: [a, b] } = await twoInstances(t);
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

test("PostgreSQL, two instances, real clients (oras push and attach, crane push, copy, tag, delete, helm push oci): each repository's summary is the recount after each step", { timeout: 300_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  const crane = requireTool(t, "crane");
  if (!oras || !crane) return;
  const helm = await helmClient(t, "v3");
  if (!helm) return;
  const { url, berths } = await twoInstances(t);
  const [one, two] = berths as [RunningBerth, RunningBerth];
  const dir = await mkdtemp(join(tmpdir(), "berth-attack-s9-clients-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { HOME: dir, DOCKER_CONFIG: join(dir, ".docker") };
  const orasAt = (b: RunningBerth, args: string[]) => runOk(oras, [...args, "--plain-http", "--username", b.username, "--password", b.password], { env, cwd: dir });
  const craneAt = (args: string[]) => runOk(crane, [...args, "--insecure"], { env, cwd: dir });
  await craneAt(["auth", "login", one.host, "-u", one.username, "-p", one.password]);
  await craneAt(["auth", "login", two.host, "-u", two.username, "-p", two.password]);
  const check = async (repo: string, step: string) => assert.deepEqual(await shown(berths[step.length % 2]!, repo), await recount(url, repo), `after ${step}: ${repo}`);

  await writeFile(join(dir, "a.bin"), randomBytes(40_000));
  await writeFile(join(dir, "b.txt"), "shared text\n");
  await orasAt(one, ["push", `${one.host}/art/x:v1`, "--artifact-type", "application/vnd.example", "a.bin", "b.txt:text/plain"]);
  await check("art/x", "oras push");
  await orasAt(two, ["push", `${two.host}/art/x:v2`, "--artifact-type", "application/vnd.example", "b.txt:text/plain"]);
  await check("art/x", "oras push of a shared layer");
  await writeFile(join(dir, "sbom.json"), "{}");
  await orasAt(two, ["attach", `${two.host}/art/x:v1`, "--artifact-type", "application/vnd.example.sbom", "sbom.json:application/json"]);
  await check("art/x", "oras attach");
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  await craneAt(["push", layout.dir, `${one.host}/img/src:v1`]);
  await check("img/src", "crane push of an index");
  await craneAt(["copy", `${one.host}/img/src:v1`, `${two.host}/img/dst:v1`]);
  await check("img/dst", "crane copy");
  await craneAt(["tag", `${two.host}/img/dst:v1`, "stable"]);
  await check("img/dst", "crane tag");
  await craneAt(["delete", `${one.host}/img/dst@${layout.index.digest}`]);
  await check("img/dst", "crane delete of the index by digest");
  await check("img/src", "a delete in the copy");
  await registryLogin(helm, one);
  for (const version of ["1.0.0", "1.1.0"]) {
    const chart = await packageChart(helm, { name: "demo", version });
    await helm.run(["push", chart.path, `oci://${one.host}/charts`, ...plainHttp]);
    await check("charts/demo", `helm push ${version}`);
  }
  await craneAt(["delete", `${two.host}/charts/demo:1.0.0`]).catch(() => undefined);
  await check("charts/demo", "a chart version deleted by tag");
});

test("PostgreSQL: kill -9 of an instance whose push waits at the summary (its manifest and blob counts written, not committed): nothing of it counted; the other instance's push after is", { timeout: 300_000 }, async (t) => {
  const { url, berths, clients } = await twoInstances(t);
  const [one, two] = berths as [RunningBerth, RunningBerth];
  const repo = "crash/app";
  const first = buildImage([randomLayer(1000)], "first");
  await pushImage(clients[1], repo, "v1", first);
  const next = buildImage([first.layers[0]!, randomLayer(3000)], "next");
  for (const blob of [next.config, ...next.layers]) await clients[0].pushBlob(repo, blob.data);
  // The summary row held by another session: the push's transaction writes its rows and waits there.
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  t.after(() => holder.end());
  await holder.query("begin");
  await holder.query("select * from repository_summaries where name = $1 for update", [repo]);
  const put = clients[0].raw("PUT", `/v2/${repo}/manifests/v2`, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: next.manifest }).then((r) => r.status, () => "no answer");
  for (;;) {
    const waiting = await query<{ n: string }>(url, "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like 'update \"repository_summaries\"%'");
    if (Number(waiting[0]!.n) > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await one.kill();
  assert.equal(await put, "no answer");
  await holder.query("commit");
  assert.deepEqual(await shown(two, repo), await recount(url, repo), "after the kill");
  await pushImage(clients[1], repo, "v2", next);
  assert.deepEqual(await shown(two, repo), await recount(url, repo), "after the push again through the other instance");
  assert.deepEqual(await query(url, "select digest, refs from repository_blob_refs where repository = $1 and digest = $2", [repo, first.layers[0]!.digest]), [{ digest: first.layers[0]!.digest, refs: 2 }]);
});

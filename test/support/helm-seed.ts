// The README's walk-through, with Helm 3 or Helm 4: two charts pushed the classic way
// (helm-test-chart-v2, a Chart.yaml apiVersion v1 chart; helm-test-chart-v3, apiVersion v2),
// a newer helm-test-chart-v3 pushed the OCI way into two namespaces, then `helm search repo`
// shows every version of the repository that published the name first (repo/, the classic
// push; the copy in `charts` stays in /helm/v1/charts, docs/helm.md) and `berth chart list`
// shows all four stored chart versions with how each came. Run against one Berth
// (test/e2e/helm-seed.test.ts) and through two instances on S3 and Azure (clients-object-store).
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { runBerthCli } from "./berth.ts";
import { berthFetch, berthHelmPush, fetchIndex, packageChart, plainHttp, registryLogin, repoAdd, type ClientRunner, type HelmServer } from "./helm.ts";

interface SearchHit { name: string; version: string; app_version: string }
interface IndexEntry { name: string; version: string; apiVersion?: string; appVersion?: string; urls: string[]; digest: string; created: string }
interface ListedChart { repository: string; namespace: string; name: string; version: string; appVersion?: string; chartDigest: string; storedAs: string }

export async function seedWalkThrough(helm: ClientRunner, berth: HelmServer): Promise<void> {
  const v2 = await packageChart(helm, { name: "helm-test-chart-v2", version: "0.1.0", appVersion: "1.0", apiVersion: "v1" });
  const v3 = await packageChart(helm, { name: "helm-test-chart-v3", version: "0.1.0", appVersion: "1.16.0" });
  const v3next = await packageChart(helm, { name: "helm-test-chart-v3", version: "0.2.0", appVersion: "1.16.0" });

  assert.deepEqual(await berthHelmPush(berth, v2.path), { saved: true });
  assert.deepEqual(await berthHelmPush(berth, v3.path), { saved: true });
  await registryLogin(helm, berth);
  for (const namespace of ["repo", "charts"]) await helm.run(["push", v3next.path, `oci://${berth.host}/${namespace}`, ...plainHttp]);

  await repoAdd(helm, berth);
  const hits = await helm.json<SearchHit[]>(["search", "repo", "helm-test-chart", "--versions", "-o", "json"]);
  assert.deepEqual(
    hits.map((h) => `${h.name} ${h.version} ${h.app_version}`),
    ["berth/helm-test-chart-v2 0.1.0 1.0", "berth/helm-test-chart-v3 0.2.0 1.16.0", "berth/helm-test-chart-v3 0.1.0 1.16.0"],
  );

  // The index behind it: the repository's own charts at _blobs/<file>, 0.2.0 pushed the OCI way
  // into the same repository, digests of the exact bytes.
  const index = await fetchIndex(berth);
  assert.equal(index.status, 200);
  const doc = parse(index.bytes.toString()) as { apiVersion: string; entries: Record<string, IndexEntry[]> };
  assert.equal(doc.apiVersion, "v1");
  assert.deepEqual(Object.keys(doc.entries).sort(), ["helm-test-chart-v2", "helm-test-chart-v3"]);
  const [old] = doc.entries["helm-test-chart-v2"] ?? [];
  assert.equal(old?.apiVersion, "v1");
  assert.deepEqual(old?.urls, ["_blobs/helm-test-chart-v2-0.1.0.tgz"]);
  assert.equal(old?.digest, v2.sha256);
  const v3s = doc.entries["helm-test-chart-v3"] ?? [];
  assert.deepEqual(v3s.map((e) => [e.version, e.urls, e.digest]), [
    ["0.2.0", ["_blobs/helm-test-chart-v3-0.2.0.tgz"], v3next.sha256],
    ["0.1.0", ["_blobs/helm-test-chart-v3-0.1.0.tgz"], v3.sha256],
  ]);

  for (const chart of [v2, v3, v3next]) {
    const out = await mkdtemp(join(helm.dir, "pull-"));
    await helm.run(["pull", `berth/${chart.name}`, "--version", chart.version, "--destination", out]);
    assert.ok((await readFile(join(out, chart.file))).equals(chart.bytes), `${chart.file} came back different`);
  }
  // An apiVersion v1 chart still renders with both clients.
  const rendered = (await helm.run(["template", "seed", "berth/helm-test-chart-v2"])).stdout;
  assert.match(rendered, /^# Source: helm-test-chart-v2\/templates\/service\.yaml$/m);
  assert.match(rendered, /app\.kubernetes\.io\/version: "1\.0"/);

  const expected = [
    "charts/helm-test-chart-v3:0.2.0 oci",
    "repo/helm-test-chart-v2:0.1.0 classic",
    "repo/helm-test-chart-v3:0.1.0 classic",
    "repo/helm-test-chart-v3:0.2.0 oci",
  ];
  const listed = await runBerthCli(["chart", "list", "--server", berth.url, "--username", berth.username, "--password", berth.password, "--output", "json"]);
  assert.equal(listed.code, 0, `berth chart list exited ${listed.code}:\n${listed.stdout}\n${listed.stderr}`);
  const parsed = JSON.parse(listed.stdout) as ListedChart[] | { charts: ListedChart[] };
  const charts = Array.isArray(parsed) ? parsed : parsed.charts;
  assert.deepEqual(charts.map((c) => `${c.repository}:${c.version} ${c.storedAs}`).sort(), expected);
  const api = (await (await berthFetch(berth, "/api/v1/charts")).json()) as { charts: ListedChart[] };
  assert.deepEqual(api.charts.map((c) => `${c.repository}:${c.version} ${c.storedAs}`).sort(), expected);
  assert.equal(api.charts.find((c) => c.repository === "repo/helm-test-chart-v2")?.chartDigest, `sha256:${v2.sha256}`);
}


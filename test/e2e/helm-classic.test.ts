// Helm 3 and Helm 4 use Berth as a classic chart repository (`helm repo add
// http://host/helm/v1/repo`): charts uploaded three ways (`berth helm push`, ACR's PUT
// _blobs, the ChartMuseum API through the real cm-push plugin and through its exact
// multipart request) come back through `helm repo update`, `search repo`, `pull` and
// `template`, signed ones with --verify; and the two ways meet: a chart pushed only with
// `helm push oci://` is in `helm search repo`, one pushed only classically is pullable with
// oci://. Each scenario runs per client against its own Berth. Server side: src/handlers/helm/;
// client behaviour: shared/research/helm.md §1, §4.3.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { RunningBerth } from "../support/berth.ts";
import { validChart } from "../support/chart-fixtures.ts";
import {
  berthFetch, berthFor, berthHelmPush, chartMuseumPost, helmClient, helmPluginsDir, HELM_VERSIONS, packageChart, plainHttp,
  putBlob, registryLogin, repoAdd, throwawayGpgKey, type ClientRunner, type GpgKey, type PackagedChart,
} from "../support/helm.ts";

interface SearchHit { name: string; version: string; app_version: string; description: string }

async function expectStatus(res: Response, status: number, what: string): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status} ${body}`);
  return body;
}

async function pullClassic(helm: ClientRunner, chart: string, version: string, extra: string[] = []): Promise<{ file: string; output: string }> {
  const out = await mkdtemp(join(helm.dir, "pull-"));
  const result = await helm.run(["pull", `berth/${chart}`, "--version", version, "--destination", out, ...extra]);
  return { file: join(out, `${chart}-${version}.tgz`), output: result.stdout + result.stderr };
}

async function assertPullsSameBytes(helm: ClientRunner, chart: PackagedChart): Promise<void> {
  const { file } = await pullClassic(helm, chart.name, chart.version);
  assert.ok((await readFile(file)).equals(chart.bytes), `helm pull berth/${chart.name} --version ${chart.version} came back different`);
}

/** Uploads through every classic API, then reads everything back with helm. */
export async function classicWay(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const viaCli = await packageChart(helm, { name: "via-cli", version: "0.1.0", appVersion: "1.0" });
  const viaBlobs = await packageChart(helm, { name: "via-blobs", version: "1.0.0", appVersion: "1.1" });
  const viaMultipart = await packageChart(helm, { name: "via-multipart", version: "2.0.0", appVersion: "2.0" });
  const mixedClassic = await packageChart(helm, { name: "mixed", version: "0.1.0", appVersion: "0.1" });
  const mixedOci = await packageChart(helm, { name: "mixed", version: "0.2.0", appVersion: "0.2" });

  assert.deepEqual(await berthHelmPush(berth, viaCli.path), { saved: true });
  assert.deepEqual(JSON.parse(await expectStatus(await putBlob(berth, viaBlobs.file, viaBlobs.bytes), 201, `PUT _blobs/${viaBlobs.file}`)), { saved: true });
  assert.deepEqual(JSON.parse(await expectStatus(await chartMuseumPost(berth, { chart: viaMultipart.bytes, file: viaMultipart.file }), 201, "POST /api/helm/v1/repo/charts")), { saved: true });
  await expectStatus(await putBlob(berth, mixedClassic.file, mixedClassic.bytes), 201, `PUT _blobs/${mixedClassic.file}`);
  // The same version again is a conflict, however it comes.
  await expectStatus(await putBlob(berth, viaBlobs.file, viaBlobs.bytes), 409, `PUT _blobs/${viaBlobs.file} again`);
  assert.equal((await chartMuseumPost(berth, { chart: viaMultipart.bytes, file: viaMultipart.file })).status, 409);

  await registryLogin(helm, berth);
  // Into the repository the classic pushes went to (repo/mixed): a name belongs to one repository
  // in a view, so versions pushed to another namespace would not join it (docs/helm.md).
  await helm.run(["push", mixedOci.path, `oci://${berth.host}/repo`, ...plainHttp]);

  await repoAdd(helm, berth);
  // Through the real plugin: cm-push re-packages the chart, so its bytes are its own.
  const cmPushed = await packageChart(helm, { name: "via-cm-push", version: "3.0.0", appVersion: "3.0" });
  const viaPlugin = existsSync(join(helmPluginsDir, "cm-push/plugin.yaml"));
  if (viaPlugin) {
    const pushed = await helm.run(["cm-push", cmPushed.path, "berth"]);
    assert.match(pushed.stdout + pushed.stderr, /Done\./);
  } else {
    await expectStatus(await chartMuseumPost(berth, { chart: cmPushed.bytes, file: cmPushed.file }), 201, "POST (cm-push's request)");
  }

  await helm.run(["repo", "update"]);
  const hits = await helm.json<SearchHit[]>(["search", "repo", "berth/", "--versions", "-o", "json"]);
  assert.deepEqual(
    hits.map((h) => `${h.name} ${h.version} ${h.app_version}`).sort(),
    ["berth/mixed 0.1.0 0.1", "berth/mixed 0.2.0 0.2", "berth/via-blobs 1.0.0 1.1", "berth/via-cli 0.1.0 1.0", "berth/via-cm-push 3.0.0 3.0", "berth/via-multipart 2.0.0 2.0"],
  );
  const mixed = await helm.json<SearchHit[]>(["search", "repo", "mixed", "--versions", "-o", "json"]);
  assert.deepEqual(mixed.map((h) => h.version), ["0.2.0", "0.1.0"], "search repo mixed: the OCI-pushed 0.2.0 and the classic 0.1.0, newest first");

  for (const chart of [viaCli, viaBlobs, viaMultipart, mixedClassic, mixedOci]) await assertPullsSameBytes(helm, chart);
  const { file } = await pullClassic(helm, "via-cm-push", "3.0.0");
  assert.match((await helm.run(["show", "chart", file])).stdout, /^version: 3\.0\.0$/m);

  const rendered = (await helm.run(["template", "rel", "berth/via-blobs"])).stdout;
  assert.match(rendered, /^# Source: via-blobs\/templates\/deployment\.yaml$/m);
  assert.match(rendered, /app\.kubernetes\.io\/instance: rel/);
  assert.match(rendered, /app\.kubernetes\.io\/version: "1\.1"/);
}

/** A signed chart: PUT the .tgz, then its .prov; helm verifies it on pull. */
export async function classicSigned(helm: ClientRunner, berth: RunningBerth, key: GpgKey): Promise<void> {
  const chart = await packageChart(helm, { name: "signed-classic", version: "0.5.0" }, key);
  assert.ok(chart.prov);
  // A .prov for a chart that is not there has nothing to attach to.
  await expectStatus(await putBlob(berth, `${chart.file}.prov`, chart.prov.bytes), 404, "PUT .prov before its chart");
  await expectStatus(await putBlob(berth, chart.file, chart.bytes), 201, `PUT _blobs/${chart.file}`);
  await expectStatus(await putBlob(berth, `${chart.file}.prov`, chart.prov.bytes), 201, `PUT _blobs/${chart.file}.prov`);

  await repoAdd(helm, berth);
  const { file, output } = await pullClassic(helm, chart.name, chart.version, ["--verify", "--keyring", key.pubring]);
  assert.match(output, /Signed by: Berth Test Signer/);
  assert.ok((await readFile(file)).equals(chart.bytes));
  const prov = await berthFetch(berth, `/helm/v1/repo/_blobs/${chart.file}.prov`);
  assert.equal(prov.status, 200);
  assert.ok(Buffer.from(await prov.arrayBuffer()).equals(chart.prov.bytes), "the served .prov differs from the uploaded one");

  // The same chart over OCI carries the .prov as a layer.
  await registryLogin(helm, berth);
  const out = await mkdtemp(join(helm.dir, "oci-verify-"));
  const verified = await helm.run(["pull", `oci://${berth.host}/repo/${chart.name}`, "--version", chart.version, "--verify", "--keyring", key.pubring, "--destination", out, ...plainHttp]);
  assert.match(verified.stdout + verified.stderr, /Signed by: Berth Test Signer/);
}

/** One chart only over OCI, one only classically; each is found the other way. */
export async function joins(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const ociOnly = await packageChart(helm, { name: "oci-only", version: "1.4.0", appVersion: "9.9" });
  const classicOnly = await packageChart(helm, { name: "classic-only", version: "0.7.0" });
  await registryLogin(helm, berth);
  await helm.run(["push", ociOnly.path, `oci://${berth.host}/team`, ...plainHttp]);
  await expectStatus(await putBlob(berth, classicOnly.file, classicOnly.bytes), 201, `PUT _blobs/${classicOnly.file}`);

  await repoAdd(helm, berth);
  const hits = await helm.json<SearchHit[]>(["search", "repo", "oci-only", "-o", "json"]);
  assert.deepEqual(hits.map((h) => [h.name, h.version, h.app_version]), [["berth/oci-only", "1.4.0", "9.9"]]);
  await assertPullsSameBytes(helm, ociOnly);

  const out = await mkdtemp(join(helm.dir, "oci-pull-"));
  await helm.run(["pull", `oci://${berth.host}/repo/classic-only`, "--version", "0.7.0", "--destination", out, ...plainHttp]);
  assert.ok((await readFile(join(out, "classic-only-0.7.0.tgz"))).equals(classicOnly.bytes), "oci:// pull of a classic push came back different");

  // Build metadata: `+` in the index and file names, `_` in OCI tags, both ways round.
  const ociBuild = await packageChart(helm, { name: "oci-only", version: "1.5.0+build.3" });
  const classicBuild = await packageChart(helm, { name: "classic-only", version: "0.8.0+meta.1" });
  await helm.run(["push", ociBuild.path, `oci://${berth.host}/team`, ...plainHttp]);
  await expectStatus(await putBlob(berth, classicBuild.file, classicBuild.bytes), 201, `PUT _blobs/${classicBuild.file}`);
  await helm.run(["repo", "update"]);
  const builds = await helm.json<SearchHit[]>(["search", "repo", "berth/", "--versions", "-o", "json"]);
  assert.deepEqual(builds.map((h) => `${h.name} ${h.version}`).sort(), [
    "berth/classic-only 0.7.0", "berth/classic-only 0.8.0+meta.1", "berth/oci-only 1.4.0", "berth/oci-only 1.5.0+build.3",
  ]);
  await assertPullsSameBytes(helm, ociBuild);
  await helm.run(["pull", `oci://${berth.host}/repo/classic-only`, "--version", "0.8.0+meta.1", "--destination", out, ...plainHttp]);
  assert.ok((await readFile(join(out, classicBuild.file))).equals(classicBuild.bytes), "oci:// pull of 0.8.0+meta.1 came back different");

  // Dependencies by range, one from the OCI side (tags/list), one from the classic index.
  const parent = await mkdtemp(join(helm.dir, "parent-"));
  await helm.run(["create", "parent"], { cwd: parent });
  const chartYaml = join(parent, "parent/Chart.yaml");
  await writeFile(chartYaml, `${await readFile(chartYaml, "utf8")}dependencies:
  - name: oci-only
    version: "^1.4.0"
    repository: "oci://${berth.host}/team"
  - name: classic-only
    version: "~0.7.0"
    repository: "@berth"
`);
  await helm.run(["dependency", "update", join(parent, "parent"), ...plainHttp]);
  assert.deepEqual((await readdir(join(parent, "parent/charts"))).sort(), ["classic-only-0.7.0.tgz", "oci-only-1.5.0+build.3.tgz"]);
  assert.ok((await readFile(join(parent, "parent/charts/classic-only-0.7.0.tgz"))).equals(classicOnly.bytes));
  assert.ok((await readFile(join(parent, "parent/charts/oci-only-1.5.0+build.3.tgz"))).equals(ociBuild.bytes));
}

/**
 * Overwriting a version (az acr helm push --force = PATCH; berth helm push --force) serves
 * the new bytes under a new digest after `helm repo update`; Helm 4 keys its content cache
 * by that digest, so an unchanged digest would hand back the old chart.
 */
export async function overwrite(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const first = await packageChart(helm, { name: "overwritten", version: "1.0.0", description: "first upload" });
  const second = await packageChart(helm, { name: "overwritten", version: "1.0.0", description: "second upload" });
  const third = await packageChart(helm, { name: "overwritten", version: "1.0.0", description: "third upload" });
  assert.notEqual(first.sha256, second.sha256);
  await expectStatus(await putBlob(berth, first.file, first.bytes), 201, "PUT the first upload");
  await repoAdd(helm, berth);
  await assertPullsSameBytes(helm, first);

  await expectStatus(await putBlob(berth, second.file, second.bytes, { method: "PATCH" }), 201, "PATCH (overwrite)");
  await helm.run(["repo", "update"]);
  const [hit] = await helm.json<SearchHit[]>(["search", "repo", "berth/overwritten", "-o", "json"]);
  assert.equal(hit?.description, "second upload");
  await assertPullsSameBytes(helm, second);

  assert.deepEqual(await berthHelmPush(berth, third.path, ["--force"]), { saved: true });
  await helm.run(["repo", "update"]);
  await assertPullsSameBytes(helm, third);
  await registryLogin(helm, berth);
  const out = await mkdtemp(join(helm.dir, "oci-pull-"));
  await helm.run(["pull", `oci://${berth.host}/repo/overwritten`, "--version", "1.0.0", "--destination", out, ...plainHttp]);
  assert.ok((await readFile(join(out, "overwritten-1.0.0.tgz"))).equals(third.bytes), "oci:// still serves an overwritten version");
}

/**
 * Chart.yaml strings that YAML 1.1 (Go's yaml.v2 under sigs.k8s.io/yaml, which helm parses
 * the index with) would read as booleans, numbers or null must stay strings in index.yaml:
 * helm rejects the whole index when one typed field comes back as a bool.
 */
export async function lookAlikeStrings(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const looks = ["yes", "no", "on", "off", "y", "n", "True", "NULL", "~", "1.0", "1.10", "010", "0x10", "1e3", "2", ".inf", "2024-01-01"];
  for (const [i, look] of looks.entries()) {
    const name = `look-${i}`;
    // JSON is YAML whose strings are quoted, so helm itself reads these values as strings.
    const chartYaml = JSON.stringify({ apiVersion: "v2", name, version: "0.1.0", appVersion: look, description: look, keywords: [look, "on"], annotations: { "example.com/look": look } });
    const bytes = await validChart({ name, version: "0.1.0", chartYaml });
    await expectStatus(await putBlob(berth, `${name}-0.1.0.tgz`, bytes), 201, `PUT _blobs/${name}-0.1.0.tgz (appVersion ${look})`);
  }
  await repoAdd(helm, berth);
  const hits = await helm.json<SearchHit[]>(["search", "repo", "berth/look-", "-o", "json"]);
  const seen = Object.fromEntries(hits.map((h) => [h.name, [h.app_version, h.description]]));
  assert.deepEqual(seen, Object.fromEntries(looks.map((look, i) => [`berth/look-${i}`, [look, look]])));
}

/** A wrong password is refused where helm first meets the repository. */
export async function wrongPassword(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const result = await helm.attempt(["repo", "add", "bad", `${berth.url}/helm/v1/repo`, "--username", berth.username, "--password", "not-the-password"]);
  assert.notEqual(result.code, 0, `repo add with a wrong password succeeded:\n${result.stdout}`);
  assert.match(result.stderr, /401/);
  const list = await helm.attempt(["repo", "list", "-o", "json"]);
  assert.doesNotMatch(list.stdout, /"bad"/, "the refused repository was saved anyway");
}

/**
 * A mistyped repository URL fails at `helm repo add` (404), instead of adding an empty repository
 * whose typo shows up only as "no results found" at the next search; the right URL still works.
 */
export async function mistypedRepository(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  await expectStatus(await putBlob(berth, "typo-check-0.1.0.tgz", await validChart({ name: "typo-check", version: "0.1.0" })), 201, "PUT _blobs/typo-check-0.1.0.tgz");
  const typo = await helm.attempt(["repo", "add", "typo", `${berth.url}/helm/v1/rpeo`, "--username", berth.username, "--password", berth.password]);
  assert.notEqual(typo.code, 0, `repo add of a mistyped repository succeeded:\n${typo.stdout}${typo.stderr}`);
  assert.match(typo.stderr, /404/, `helm names the 404: ${typo.stderr}`);
  assert.match(typo.stderr, /helm\/v1\/rpeo/, `helm names the URL: ${typo.stderr}`);
  assert.doesNotMatch((await helm.attempt(["repo", "list", "-o", "json"])).stdout, /"typo"/, "the mistyped repository was saved anyway");
  await repoAdd(helm, berth);
  const hits = await helm.json<SearchHit[]>(["search", "repo", "berth/typo-check", "-o", "json"]);
  assert.equal(hits[0]?.version, "0.1.0");
}

for (const version of HELM_VERSIONS) {
  const name = version === "v3" ? "helm3" : "helm4";

  test(`${name} repo add of a mistyped repository fails with 404; the right one lists the chart`, { timeout: 60_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await mistypedRepository(helm, await berthFor(t));
  });

  test(`${name} reads charts uploaded by berth helm push, PUT _blobs and the ChartMuseum API, next to OCI pushes`, { timeout: 120_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await classicWay(helm, await berthFor(t));
  });

  test(`${name} pulls a signed classic chart with --verify, over the repository and over oci://`, { timeout: 90_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    const key = await throwawayGpgKey(t);
    if (!key) return;
    await classicSigned(helm, await berthFor(t), key);
  });

  test(`${name} finds an OCI-only chart with search repo, pulls a classic-only chart over oci://, resolves dependencies from both`, { timeout: 90_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await joins(helm, await berthFor(t));
  });

  test(`${name} sees an overwritten version (PATCH, berth helm push --force) after repo update`, { timeout: 90_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await overwrite(helm, await berthFor(t));
  });

  test(`${name} reads an index whose strings look like YAML 1.1 booleans, numbers and null`, { timeout: 60_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await lookAlikeStrings(helm, await berthFor(t));
  });

  test(`${name} repo add with a wrong password fails with 401`, { timeout: 60_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await wrongPassword(helm, await berthFor(t));
  });
}

test("GET /index.yaml at the root and unknown /helm/ paths answer 404 naming /helm/v1/<repository>", { timeout: 30_000 }, async (t) => {
  const berth = await berthFor(t);
  for (const path of ["/index.yaml", "/helm/v2/whatever", "/helm/index.yaml"]) {
    const res = await berthFetch(berth, path);
    const body = await res.text();
    assert.equal(res.status, 404, `GET ${path}: ${res.status} ${body}`);
    assert.match(body, /\/helm\/v1\//, `GET ${path}: the message does not name /helm/v1/<repository>: ${body}`);
  }
});

test("classic routes without credentials answer 401 with a Basic challenge", { timeout: 30_000 }, async (t) => {
  const berth = await berthFor(t);
  for (const path of ["/helm/v1/repo/index.yaml", "/helm/v1/repo/_blobs/x-1.0.0.tgz", "/api/helm/v1/repo/charts", "/api/repo/charts"]) {
    const res = await fetch(`${berth.url}${path}`);
    await res.arrayBuffer();
    assert.equal(res.status, 401, `GET ${path} without credentials`);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Basic realm="Berth"/, `GET ${path}: WWW-Authenticate`);
  }
});

// Helm 3 and Helm 4 store charts in Berth the OCI way: `helm registry login`, `helm push
// x.tgz oci://host/charts`, then pull, show chart and template straight from the registry.
// Each scenario is written once and run per client against its own Berth; assertions are on
// what helm printed or pulled back (bytes, Chart.yaml fields, rendered manifests), so a
// registry that answers 2xx with the wrong content still fails. Wire behaviour of both
// versions: shared/research/helm.md §3.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { RunningBerth } from "../support/berth.ts";
import {
  berthFetch, berthFor, helmClient, HELM_VERSIONS, packageChart, plainHttp, registryLogin, throwawayGpgKey,
  type ClientRunner, type GpgKey,
} from "../support/helm.ts";

const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov";

interface Manifest { config: { mediaType: string }; layers: { mediaType: string; digest: string }[] }

async function manifest(berth: RunningBerth, repository: string, tag: string): Promise<Manifest> {
  const res = await berthFetch(berth, `/v2/${repository}/manifests/${tag}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
  assert.equal(res.status, 200, `GET /v2/${repository}/manifests/${tag}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as Manifest;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Push, pull back byte for byte, show chart, template; then a version with build metadata. */
export async function ociRoundTrip(helm: ClientRunner, berth: RunningBerth): Promise<void> {
  const chart = await packageChart(helm, { name: "oci-demo", version: "0.3.1", appVersion: "2.0" });
  await registryLogin(helm, berth);
  const pushed = await helm.run(["push", chart.path, `oci://${berth.host}/charts`, ...plainHttp]);
  const pushOutput = pushed.stdout + pushed.stderr;
  assert.match(pushOutput, new RegExp(`Pushed: ${escape(berth.host)}/charts/oci-demo:0\\.3\\.1`));
  assert.match(pushOutput, /Digest: sha256:[0-9a-f]{64}/);

  // What helm stored: config + chart layer, the layer being the .tgz unchanged.
  const stored = await manifest(berth, "charts/oci-demo", "0.3.1");
  assert.equal(stored.config.mediaType, HELM_CONFIG);
  assert.deepEqual(stored.layers.map((l) => [l.mediaType, l.digest]), [[HELM_CHART, `sha256:${chart.sha256}`]]);

  const out = await mkdtemp(join(helm.dir, "pulled-"));
  const pulled = await helm.run(["pull", `oci://${berth.host}/charts/oci-demo`, "--version", "0.3.1", "--destination", out, ...plainHttp]);
  assert.match(pulled.stdout + pulled.stderr, /Digest: sha256:[0-9a-f]{64}/);
  assert.ok((await readFile(join(out, "oci-demo-0.3.1.tgz"))).equals(chart.bytes), "the pulled chart differs from the pushed bytes");

  const shown = (await helm.run(["show", "chart", `oci://${berth.host}/charts/oci-demo`, "--version", "0.3.1", ...plainHttp])).stdout;
  assert.match(shown, /^name: oci-demo$/m);
  assert.match(shown, /^version: 0\.3\.1$/m);
  assert.match(shown, /^appVersion: "2\.0"$/m);

  const rendered = (await helm.run(["template", "rel", `oci://${berth.host}/charts/oci-demo`, "--version", "0.3.1", ...plainHttp])).stdout;
  assert.match(rendered, /^# Source: oci-demo\/templates\/deployment\.yaml$/m);
  assert.match(rendered, /^kind: Deployment$/m);
  assert.match(rendered, /app\.kubernetes\.io\/instance: rel/);
  assert.match(rendered, /helm\.sh\/chart: oci-demo-0\.3\.1/);

  // SemVer build metadata: helm writes the tag with `_` and asks for it the same way.
  const build = await packageChart(helm, { name: "oci-demo", version: "0.4.0+build.7" });
  await helm.run(["push", build.path, `oci://${berth.host}/charts`, ...plainHttp]);
  await manifest(berth, "charts/oci-demo", "0.4.0_build.7");
  const buildOut = await mkdtemp(join(helm.dir, "pulled-build-"));
  await helm.run(["pull", `oci://${berth.host}/charts/oci-demo`, "--version", "0.4.0+build.7", "--destination", buildOut, ...plainHttp]);
  assert.ok((await readFile(join(buildOut, "oci-demo-0.4.0+build.7.tgz"))).equals(build.bytes), "the +build chart came back different");

  // No --version: helm lists the tags and takes the highest stable one.
  const latest = (await helm.run(["show", "chart", `oci://${berth.host}/charts/oci-demo`, ...plainHttp])).stdout;
  assert.match(latest, /^version: 0\.4\.0\+build\.7$/m);
}

/** A signed chart: the .prov next to the tgz becomes a layer, and --verify checks it. */
export async function ociSigned(helm: ClientRunner, berth: RunningBerth, key: GpgKey): Promise<void> {
  const chart = await packageChart(helm, { name: "signed-oci", version: "1.2.3" }, key);
  assert.ok(chart.prov, "helm package --sign wrote no .prov");
  assert.match(chart.prov.bytes.toString(), /^-----BEGIN PGP SIGNED MESSAGE-----/);
  await registryLogin(helm, berth);
  await helm.run(["push", chart.path, `oci://${berth.host}/charts`, ...plainHttp]);

  const stored = await manifest(berth, "charts/signed-oci", "1.2.3");
  assert.deepEqual(stored.layers.map((l) => l.mediaType).sort(), [HELM_CHART, HELM_PROV].sort());

  const out = await mkdtemp(join(helm.dir, "verified-"));
  const verified = await helm.run(["pull", `oci://${berth.host}/charts/signed-oci`, "--version", "1.2.3", "--verify", "--keyring", key.pubring, "--destination", out, ...plainHttp]);
  assert.match(verified.stdout + verified.stderr, new RegExp(`Signed by: ${escape(key.name)}`));
  assert.ok((await readFile(join(out, "signed-oci-1.2.3.tgz"))).equals(chart.bytes));

  const provOut = await mkdtemp(join(helm.dir, "prov-"));
  await helm.run(["pull", `oci://${berth.host}/charts/signed-oci`, "--version", "1.2.3", "--prov", "--destination", provOut, ...plainHttp]);
  assert.ok((await readFile(join(provOut, "signed-oci-1.2.3.tgz.prov"))).equals(chart.prov.bytes), "the pulled .prov differs from the signed one");
}

for (const version of HELM_VERSIONS) {
  const name = version === "v3" ? "helm3" : "helm4";

  test(`${name} logs in, pushes to oci://host/charts, pulls the same bytes back, shows and templates the chart`, { timeout: 90_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await ociRoundTrip(helm, await berthFor(t));
  });

  test(`${name} pushes a signed chart with its .prov layer and pulls it with --verify`, { timeout: 90_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    const key = await throwawayGpgKey(t);
    if (!key) return;
    await ociSigned(helm, await berthFor(t), key);
  });
}

// The portal's read models at scale: `node bench/portal.ts [--quick] [--save <file.json>]`.
//
// Fills a fresh data directory directly through the metadata store (no HTTP, no blobs: the rows a
// push writes, in the same transactions, so the summaries and the search index are kept exactly
// as a push keeps them), then starts Berth on it and times, one request at a time over a socket:
//   GET /api/v1/repositories first page, sorted by name, last push and size (admin, and a scoped
//   principal that sees a tenth of the registry), with ?q=, with ?kind=
//   GET /v2/_catalog?n=100&last=<a name 90 % of the way in>
//   GET /api/v1/charts?n=100, and one chart's page
//   GET /api/v1/search?label=build.sha=<7 hex digits>, ?label=build.user~…, ?unsigned=true,
//   ?unverified=true (nine images in ten carry a signature verified under the trust Berth starts
//   with, its outcome stored as a push stores it; so a page of 100 walks ~1,000 images)
// Each is asked once cold (first after start) and then `reps` times; the median, p95 and max are
// printed. Targets (issue 15): 100 ms for a list or a search, 20 ms for the deep catalog page.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildApp, openStores } from "../src/app.ts";
import { loadConfig } from "../src/config/load.ts";
import type { Digest } from "../src/domain/digest.ts";
import type { RepositoryName, Tag } from "../src/domain/names.ts";
import type { ImageFacts } from "../src/metadata/provenance-types.ts";
import type { MetadataParts } from "../src/metadata/types.ts";
import { createLogger } from "../src/observability/logger.ts";
import { SignatureTrust } from "../src/services/provenance/signature-trust.ts";

const { values: args } = parseArgs({ options: { quick: { type: "boolean", default: false }, save: { type: "string" }, reps: { type: "string", default: "30" }, keep: { type: "string" } } });
const scale = args.quick ? 10 : 1;
const REPOSITORIES = 100_000 / scale;
const CHART_REPOSITORIES = 500 / scale;
const VERSIONS_PER_CHART = 20;
const IMAGE_REPOSITORIES = REPOSITORIES - CHART_REPOSITORIES;
const REPS = Number(args.reps);
const PASSWORD = "bench-admin-password";
const teams = ["api", "auth", "billing", "cache", "catalog", "checkout", "gateway", "ingest", "metrics", "notify"];

const BENCH_TRUST = new SignatureTrust().fingerprint;
const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const fakeDigest = () => `sha256:${hex(32)}` as Digest;
const imageName = (i: number) => `${teams[i % teams.length]}/service-${String(i).padStart(6, "0")}` as RepositoryName;

async function pushImage(tx: MetadataParts, i: number, at: Date): Promise<string> {
  const repository = imageName(i);
  const config = fakeDigest();
  const layer = fakeDigest();
  const sha = hex(20);
  const labels = { "build.user": `dev${i % 500}`, "build.sha": sha, "build.dockerfile": `https://git.example.com/${repository}/blob/${sha}/Dockerfile` };
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 1200 + (i % 300) },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: 1_000_000 + i * 7 }],
    annotations: { "org.opencontainers.image.source": `https://git.example.com/${repository}` },
  }));
  const digest = fakeDigest();
  await tx.blobs.record(config, 1200 + (i % 300));
  await tx.blobs.record(layer, 1_000_000 + i * 7);
  await tx.repositories.ensure(repository);
  await tx.manifests.put({ repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: body.length, body, subject: null, artifactType: null, annotations: null, pushedAt: at }, { blobs: [config, layer], children: [] });
  await tx.changes.append({ kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: body.length });
  await tx.tags.set(repository, "v1" as Tag, digest);
  await tx.changes.append({ kind: "tag.set", repository, tag: "v1", digest, previous: null });
  const facts: ImageFacts = {
    kind: "image", annotations: { "org.opencontainers.image.source": `https://git.example.com/${repository}` }, layers: 1,
    config: { digest: config, mediaType: "application/vnd.oci.image.config.v1+json", size: 1200, read: true, labels, history: [], platform: { os: "linux", architecture: "amd64" } },
  };
  await tx.provenance.record({ repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: null, size: body.length, subject: null, facts, recordedAt: at });
  if (i % 10 !== 0) {
    const signature = fakeDigest();
    await tx.provenance.record({
      repository, digest: signature, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.cncf.notary.signature", size: 700, subject: digest, recordedAt: at,
      facts: { kind: "signature", scheme: "notation", envelope: "jws", annotations: {}, signer: { thumbprints: [] } },
    });
    // The bench's Berth has no trust configured and no public URL: this is its fingerprint, so the start recomputes nothing.
    await tx.provenance.setVerdict(repository, signature, digest, { verified: true, until: null, trust: BENCH_TRUST });
  }
  return sha;
}

async function pushChartVersion(tx: MetadataParts, chart: number, v: number, at: Date): Promise<void> {
  const name = `chart-${String(chart).padStart(4, "0")}`;
  const repository = `charts/${name}` as RepositoryName;
  const version = `1.${Math.floor(v / 4)}.${v % 4}`;
  const configDigest = fakeDigest();
  const chartDigest = fakeDigest();
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: configDigest, size: 200 },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: chartDigest, size: 4000 }],
  }));
  const digest = fakeDigest();
  await tx.blobs.record(configDigest, 200);
  await tx.blobs.record(chartDigest, 4000);
  await tx.repositories.ensure(repository);
  await tx.manifests.put({ repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: body.length, body, subject: null, artifactType: null, annotations: null, pushedAt: at }, { blobs: [configDigest, chartDigest], children: [] });
  await tx.changes.append({ kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: body.length });
  await tx.tags.set(repository, version as Tag, digest);
  await tx.changes.append({ kind: "tag.set", repository, tag: version, digest, previous: null });
  await tx.charts.record({
    repository, version, namespace: "charts", name, fileName: `${name}-${version}.tgz`, manifestDigest: digest, chartDigest, chartSize: 4000, provDigest: null,
    metadata: { name, version, apiVersion: "v2", appVersion: "2.0.0", description: `The ${name} service`, type: "application" },
    created: at, storedAs: v % 3 === 0 ? "classic" : "oci", published: at,
  });
  await tx.changes.append({ kind: "chart.recorded", repository, version });
}

async function fill(dataDir: string): Promise<{ seconds: number; shas: string[] }> {
  const config = loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD } });
  const stores = await openStores(config);
  const started = performance.now();
  const shas: string[] = [];
  const base = Date.now() - REPOSITORIES * 1000;
  const batch = 500;
  for (let from = 0; from < IMAGE_REPOSITORIES; from += batch) {
    await stores.metadata.transaction(async (tx) => {
      for (let i = from; i < Math.min(from + batch, IMAGE_REPOSITORIES); i++) shas.push(await pushImage(tx, i, new Date(base + i * 1000)));
    });
    if (from % 10_000 === 0) console.error(`  images: ${from} / ${IMAGE_REPOSITORIES} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  for (let chart = 0; chart < CHART_REPOSITORIES; chart++) {
    await stores.metadata.transaction(async (tx) => {
      for (let v = 0; v < VERSIONS_PER_CHART; v++) await pushChartVersion(tx, chart, v, new Date(base + (IMAGE_REPOSITORIES + chart) * 1000 + v));
    });
  }
  await stores.close();
  return { seconds: (performance.now() - started) / 1000, shas };
}

interface Timing {
  what: string;
  target: number;
  cold: number;
  median: number;
  p95: number;
  max: number;
  note: string;
}

async function time(what: string, target: number, url: string, auth: string, check: (body: any) => string): Promise<Timing> {
  const once = async () => {
    const started = performance.now();
    const res = await fetch(url, { headers: { authorization: auth } });
    const text = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
    return { ms, body: JSON.parse(text) };
  };
  const first = await once();
  const runs: number[] = [];
  for (let i = 0; i < REPS; i++) runs.push((await once()).ms);
  runs.sort((a, b) => a - b);
  const at = (q: number) => runs[Math.min(runs.length - 1, Math.floor(q * runs.length))]!;
  return { what, target, cold: first.ms, median: at(0.5), p95: at(0.95), max: runs.at(-1)!, note: check(first.body) };
}

async function main(): Promise<void> {
  // --keep <dir>: fill it once and keep it; a later run with the same --keep times it again.
  const dataDir = args.keep ?? (await mkdtemp(join(tmpdir(), "berth-bench-portal-")));
  const kept = args.keep !== undefined && existsSync(join(args.keep, "berth.db"));
  try {
    console.error(`filling ${REPOSITORIES} repositories (${IMAGE_REPOSITORIES} images, ${CHART_REPOSITORIES} charts × ${VERSIONS_PER_CHART} versions) through the metadata store…`);
    const filled = kept ? JSON.parse(await readFile(join(dataDir, "bench-fill.json"), "utf8")) as { seconds: number; shas: string[] } : await fill(dataDir);
    if (args.keep && !kept) await writeFile(join(dataDir, "bench-fill.json"), JSON.stringify(filled));
    console.error(`filled in ${filled.seconds.toFixed(0)} s${kept ? " (earlier, kept)" : ""}`);
    const config = loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD, "log.level": "warn" } });
    const startedAt = performance.now();
    const berth = await buildApp(config, createLogger("silent"));
    const startSeconds = (performance.now() - startedAt) / 1000;
    try {
      const base = (await berth.app.listen({ port: 0, host: "127.0.0.1" })).replace(/\/$/, "");
      const admin = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;
      const created = await fetch(`${base}/api/v1/service-principals`, { method: "POST", headers: { authorization: admin, "content-type": "application/json" }, body: JSON.stringify({ name: `reader-${Date.now()}`, role: "acrpull", scope: "api/*" }) });
      const sp = (await created.json()) as { id: string; secret: string };
      const scoped = `Basic ${Buffer.from(`${sp.id}:${sp.secret}`).toString("base64")}`;
      const deep = imageName(Math.floor(IMAGE_REPOSITORIES * 0.9));
      const sha = filled.shas[Math.floor(filled.shas.length / 2)]!.slice(0, 7);
      const count = (field: string) => (body: any) => `${body[field].length} rows${body.total !== undefined ? `, total ${body.total}` : ""}${body.next ? ", next" : ""}`;
      const results: Timing[] = [];
      const run = async (what: string, target: number, path: string, auth: string, check: (body: any) => string) => {
        const t = await time(what, target, `${base}${path}`, auth, check);
        results.push(t);
        console.error(`  ${what}: median ${t.median.toFixed(1)} ms`);
      };
      await run("repositories, first page by name (admin)", 100, "/api/v1/repositories?n=100", admin, count("repositories"));
      await run("repositories, first page by last push (admin)", 100, "/api/v1/repositories?n=100&sort=pushed", admin, count("repositories"));
      await run("repositories, first page by size (admin)", 100, "/api/v1/repositories?n=100&sort=size", admin, count("repositories"));
      await run("repositories, ?q=service-00421 (admin)", 100, "/api/v1/repositories?n=100&q=service-00421", admin, count("repositories"));
      await run("repositories, ?kind=chart-both (admin)", 100, "/api/v1/repositories?n=100&kind=chart-both", admin, count("repositories"));
      await run("repositories, ?kind=image&sort=pushed (admin)", 100, "/api/v1/repositories?n=100&kind=image&sort=pushed", admin, count("repositories"));
      await run("repositories, first page by name (scoped to api/*: a tenth)", 100, "/api/v1/repositories?n=100", scoped, count("repositories"));
      await run("repositories, first page by last push (scoped)", 100, "/api/v1/repositories?n=100&sort=pushed", scoped, count("repositories"));
      await run(`/v2/_catalog?n=100&last=<90 % in> (admin)`, 20, `/v2/_catalog?n=100&last=${encodeURIComponent(deep)}`, admin, count("repositories"));
      await run("charts, first page (admin)", 100, "/api/v1/charts?n=100", admin, count("charts"));
      await run("one chart's page (20 versions)", 100, "/api/v1/charts/charts/chart-0007", admin, (b) => `${b.versions.length} versions`);
      await run(`search label=build.sha=<7 hex> (admin)`, 100, `/api/v1/search?label=build.sha=${sha}`, admin, count("results"));
      await run("search label=build.user=dev42 (admin)", 100, "/api/v1/search?label=build.user=dev42&n=100", admin, count("results"));
      await run("search label=build.dockerfile~service-0777 (contains, admin)", 100, "/api/v1/search?label=build.dockerfile~service-0777", admin, count("results"));
      await run("search label=build.dockerfile~git.example (contains, matches every image, admin)", 100, "/api/v1/search?label=build.dockerfile~git.example&n=100", admin, count("results"));
      await run("search label=build.dockerfile~git.example and build.user=dev42 (admin)", 100, "/api/v1/search?label=build.dockerfile~git.example&label=build.user=dev42&n=100", admin, count("results"));
      await run("search unsigned=true (admin)", 100, "/api/v1/search?unsigned=true&n=100", admin, count("results"));
      await run("search unverified=true (admin; 9 in 10 images verified)", 100, "/api/v1/search?unverified=true&n=100", admin, count("results"));
      await run("tags of a repository (20 chart versions, by time)", 100, "/api/v1/repositories/charts/chart-0007/tags?sort=time_desc", admin, count("tags"));

      const rows = results.map((r) => `| ${r.what} | ${r.cold.toFixed(1)} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${r.target} | ${r.median <= r.target ? "met" : "**missed**"} | ${r.note} |`);
      console.log(`\n${REPOSITORIES} repositories (${IMAGE_REPOSITORIES} images with labels, ${CHART_REPOSITORIES} chart repositories × ${VERSIONS_PER_CHART} versions = ${CHART_REPOSITORIES * VERSIONS_PER_CHART} chart versions), ${IMAGE_REPOSITORIES + CHART_REPOSITORIES * VERSIONS_PER_CHART} manifests; fill ${filled.seconds.toFixed(0)} s, start ${startSeconds.toFixed(1)} s; ${REPS} timed requests each, one at a time`);
      console.log("\n| request | cold (ms) | median (ms) | p95 (ms) | max (ms) | target (ms) | | answer |\n|---|---|---|---|---|---|---|---|");
      console.log(rows.join("\n"));
      if (args.save) await writeFile(args.save, JSON.stringify({ repositories: REPOSITORIES, fillSeconds: filled.seconds, startSeconds, results }, null, 2));
    } finally {
      await berth.close();
    }
  } finally {
    if (!args.keep) await rm(dataDir, { recursive: true, force: true });
  }
}

await main();

// One request (or the few a client sends for one operation) per action of the access matrix,
// each answering what Berth did: the status, and for listings (catalog, index.yaml,
// /api/v1/charts) whether the repository was listed. A multi-request operation (a push: blob
// upload, then manifest) answers the first status that was not 2xx, so a refusal anywhere shows.
// The fixtures they act on (an image and a chart per repository) are seeded by seedRepository.
import { randomBytes } from "node:crypto";
import { parse } from "yaml";
import type { RunningBerth } from "./berth.ts";
import { validChart } from "./chart-fixtures.ts";
import { patchAttributes } from "./identity-api.ts";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, OciClient, sha256 } from "./oci-client.ts";
import { buildImage, pushImage, randomLayer } from "./oci-images.ts";

/** A repository of the matrix: its OCI name, and the classic view and chart name that store into it. */
export interface RepositoryFixture {
  repo: string;
  /** Classic push to /helm/v1/<view>/_blobs/<chart>-<version>.tgz lands in <view>/<chart> = repo. */
  view: string;
  chart: string;
  /** Seeded by the admin: tag v1, its layer, a spare manifest (tag victim) and chart `version`. */
  manifest: string;
  layer: string;
  victim: string;
  /** The manifest tagged v1, byte for byte (pushed again by `?tag=` probes). */
  manifestBody: string;
  /**
   * The seeded chart version, distinct per repository. team/app and other/app share the chart
   * name `app`, which the merged view `repo` lists from its first publisher only (docs/helm.md),
   * so listings are probed in each namespace's own view.
   */
  version: string;
  /** Chart versions whose tag attributes lock them: write and delete, read, list. */
  tagLocked: string;
  tagUnreadable: string;
  tagUnlisted: string;
}

export interface Outcome {
  status: number;
  /** For listings: whether the repository was listed. */
  listed?: boolean;
  note?: string;
}

let unique = 0;
/** A version no earlier push used (charts), or a tag (images). */
export function nextVersion(major: number): string {
  return `${major}.0.${++unique}`;
}

async function status(res: Response): Promise<number> {
  await res.body?.cancel();
  return res.status;
}

function headers(authorization: string | null, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...(authorization ? { authorization } : {}) };
}

/** Admin seeding: image v1 and a spare manifest (the delete victim of a locked repository), a chart. */
export async function seedRepository(berth: RunningBerth, repo: string, version: string): Promise<RepositoryFixture> {
  const slash = repo.lastIndexOf("/");
  const view = repo.slice(0, slash);
  const chart = repo.slice(slash + 1);
  const admin = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const image = buildImage([randomLayer(256)], `${repo}:v1`);
  await pushImage(admin, repo, "v1", image);
  const victim = buildImage([randomLayer(64)], `${repo}:victim`);
  await pushImage(admin, repo, "victim", victim);
  const [tagLocked, tagUnreadable, tagUnlisted] = [`${version}-locked`, `${version}-unreadable`, `${version}-unlisted`];
  for (const v of [version, tagLocked, tagUnreadable, tagUnlisted]) {
    const pushed = await putChart(berth, berth.basicAuth, view, chart, v);
    if (pushed !== 201) throw new Error(`seeding chart ${chart} ${v} into /helm/v1/${view}: ${pushed}`);
  }
  await patchAttributes(berth, repo, { writeEnabled: false, deleteEnabled: false }, tagLocked);
  await patchAttributes(berth, repo, { readEnabled: false }, tagUnreadable);
  await patchAttributes(berth, repo, { listEnabled: false }, tagUnlisted);
  return { repo, view, chart, manifest: image.digest, layer: image.layers[0]!.digest, victim: victim.digest, manifestBody: image.manifest.toString(), version, tagLocked, tagUnreadable, tagUnlisted };
}

/** A fresh manifest to delete (pushed by the admin). */
export async function spareManifest(berth: RunningBerth, repo: string): Promise<string> {
  return (await spareImage(berth, repo)).digest;
}

/** A fresh image (pushed by the admin, tagged): its manifest and layer digests. */
export async function spareImage(berth: RunningBerth, repo: string): Promise<{ digest: string; layer: string }> {
  const admin = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const image = buildImage([randomLayer(32)], `${repo}:${nextVersion(0)}`);
  await pushImage(admin, repo, image.digest.slice(7, 27), image);
  return { digest: image.digest, layer: image.layers[0]!.digest };
}

// --- OCI -------------------------------------------------------------------------------------

export async function getManifest(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/manifests/v1`, { headers: headers(auth, { accept: OCI_MANIFEST }) })) };
}

export async function getManifestByDigest(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/manifests/${f.manifest}`, { headers: headers(auth, { accept: OCI_MANIFEST }) })) };
}

/** PUT the v1 manifest by digest with `?tag=v1`: moves (here: re-points) tag v1. */
export async function pushTagByQuery(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const url = `${berth.url}/v2/${f.repo}/manifests/${f.manifest}?tag=v1`;
  return { status: await status(await fetch(url, { method: "PUT", headers: headers(auth, { "content-type": OCI_MANIFEST }), body: f.manifestBody })) };
}

export async function deleteBlob(berth: RunningBerth, auth: string | null, f: RepositoryFixture, digest: string): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/blobs/${digest}`, { method: "DELETE", headers: headers(auth) })) };
}

/** Mounts v1's layer from the fixture's repository into <repo>-mount: 201 mounted, 202 an upload started instead. */
export async function mountFrom(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const url = `${berth.url}/v2/${f.repo}-mount/blobs/uploads/?mount=${f.layer}&from=${f.repo}`;
  return { status: await status(await fetch(url, { method: "POST", headers: headers(auth) })) };
}

export async function provenance(berth: RunningBerth, auth: string | null, f: RepositoryFixture, by: "tag" | "digest"): Promise<Outcome> {
  const url = by === "tag" ? `${berth.url}/api/v1/provenance/${f.repo}/v1` : `${berth.url}/api/v1/provenance/${f.repo}@${f.manifest}`;
  return { status: await status(await fetch(url, { headers: headers(auth) })) };
}

/** PATCH the repository's attributes to what they already are: the right to change them, nothing changed. */
export async function patchOwnAttributes(berth: RunningBerth, auth: string | null, f: RepositoryFixture, attributes: Record<string, boolean>): Promise<Outcome> {
  const res = await fetch(`${berth.url}/api/v1/repositories/${f.repo}/attributes`, { method: "PATCH", headers: headers(auth, { "content-type": "application/json" }), body: JSON.stringify(attributes) });
  return { status: await status(res) };
}

/** Gets an access token with the credentials, then asks the token endpoint and the exchange for more with it. */
export async function mintWithAccessToken(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const scope = `repository:${f.repo}:pull`;
  const first = await fetch(`${berth.url}/oauth2/token?service=${encodeURIComponent(berth.host)}&scope=${encodeURIComponent(scope)}`, { headers: headers(auth) });
  if (first.status !== 200) return { status: await status(first), note: "getting the access token" };
  const access = ((await first.json()) as { token: string }).token;
  const wider = `repository:${f.repo}:pull,push,delete`;
  for (const authorization of [`Bearer ${access}`, `Basic ${Buffer.from(`00000000-0000-0000-0000-000000000000:${access}`).toString("base64")}`]) {
    const again = await fetch(`${berth.url}/oauth2/token?service=${encodeURIComponent(berth.host)}&scope=${encodeURIComponent(wider)}&offline_token=true`, { headers: { authorization } });
    if (again.status !== 401) return { status: await status(again), note: `GET /oauth2/token with ${authorization.split(" ")[0]}` };
    await again.body?.cancel();
    const exchanged = await fetch(`${berth.url}/oauth2/exchange`, { method: "POST", headers: { authorization, "content-type": "application/x-www-form-urlencoded" }, body: `service=${encodeURIComponent(berth.host)}` });
    if (exchanged.status !== 401) return { status: await status(exchanged), note: `POST /oauth2/exchange with ${authorization.split(" ")[0]}` };
    await exchanged.body?.cancel();
  }
  return { status: 401 };
}

export async function getBlob(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/blobs/${f.layer}`, { headers: headers(auth) })) };
}

/** A layer through POST + PUT (an upload session), a config in one POST ?digest=, then the manifest. */
export async function pushManifest(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const layer = randomBytes(48);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, n: nextVersion(0) }));
  const started = await fetch(`${berth.url}/v2/${f.repo}/blobs/uploads/`, { method: "POST", headers: headers(auth) });
  await started.body?.cancel();
  if (started.status !== 202) return { status: started.status, note: "POST blobs/uploads/" };
  const location = new URL(started.headers.get("location") ?? "", berth.url);
  location.searchParams.set("digest", sha256(layer));
  const put = await status(await fetch(location, { method: "PUT", headers: headers(auth, { "content-type": "application/octet-stream" }), body: layer }));
  if (put !== 201) return { status: put, note: "PUT upload" };
  const single = await status(
    await fetch(`${berth.url}/v2/${f.repo}/blobs/uploads/?digest=${encodeURIComponent(sha256(config))}`, {
      method: "POST",
      headers: headers(auth, { "content-type": "application/octet-stream" }),
      body: config,
    }),
  );
  if (single !== 201) return { status: single, note: "POST blobs/uploads/?digest=" };
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
  });
  const tag = `t${nextVersion(0).replace(/\./g, "-")}`;
  const putManifest = await status(await fetch(`${berth.url}/v2/${f.repo}/manifests/${tag}`, { method: "PUT", headers: headers(auth, { "content-type": OCI_MANIFEST }), body: manifest }));
  return { status: putManifest, ...(putManifest === 201 ? {} : { note: "PUT manifest" }) };
}

/** DELETE /v2/<repo>/manifests/<digest> of a manifest made for it (or the locked repository's victim). */
export async function deleteManifest(berth: RunningBerth, auth: string | null, f: RepositoryFixture, digest: string): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/manifests/${digest}`, { method: "DELETE", headers: headers(auth) })) };
}

export async function catalog(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const res = await fetch(`${berth.url}/v2/_catalog?n=1000`, { headers: headers(auth) });
  if (res.status !== 200) return { status: await status(res) };
  const body = (await res.json()) as { repositories?: string[] };
  return { status: 200, listed: (body.repositories ?? []).includes(f.repo) };
}

export async function tagsList(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/tags/list`, { headers: headers(auth) })) };
}

export async function referrers(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/v2/${f.repo}/referrers/${f.manifest}`, { headers: headers(auth) })) };
}

// --- classic Helm repository and the charts API ---------------------------------------------

/** GET /helm/v1/<view>/index.yaml (the fixture's namespace): is <chart>-<version> in it? */
export async function classicIndex(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version = f.version): Promise<Outcome> {
  const res = await fetch(`${berth.url}/helm/v1/${f.view}/index.yaml`, { headers: headers(auth) });
  if (res.status !== 200) return { status: await status(res) };
  const index = parse(await res.text()) as { entries?: Record<string, { version: string; urls: string[] }[]> | null };
  const versions = index.entries?.[f.chart] ?? [];
  return { status: 200, listed: versions.some((v) => v.version === version && v.urls.includes(`_blobs/${f.chart}-${version}.tgz`)) };
}

export async function classicDownload(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version = f.version): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/helm/v1/${f.view}/_blobs/${f.chart}-${version}.tgz`, { headers: headers(auth) })) };
}

/** ACR's upload of a new package: PUT; PATCH overwrites. */
export async function putChart(berth: RunningBerth, auth: string | null, view: string, chart: string, version: string, method: "PUT" | "PATCH" = "PUT"): Promise<number> {
  const body = await validChart({ name: chart, version });
  return status(
    await fetch(`${berth.url}/helm/v1/${view}/_blobs/${chart}-${version}.tgz`, {
      method,
      headers: headers(auth, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(body),
    }),
  );
}

export async function classicPush(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  return { status: await putChart(berth, auth, f.view, f.chart, nextVersion(2)) };
}

/** DELETE /helm/v1/<view>/_blobs/<chart>-<version>.tgz of a version made for it (locked: the seeded one). */
export async function classicDelete(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version: string): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/helm/v1/${f.view}/_blobs/${f.chart}-${version}.tgz`, { method: "DELETE", headers: headers(auth) })) };
}

export async function apiCharts(berth: RunningBerth, auth: string | null, f: RepositoryFixture): Promise<Outcome> {
  const res = await fetch(`${berth.url}/api/v1/charts`, { headers: headers(auth) });
  if (res.status !== 200) return { status: await status(res) };
  const body = (await res.json()) as { charts?: { repository: string; version: string }[] };
  return { status: 200, listed: (body.charts ?? []).some((c) => c.repository === f.repo && c.version === f.version) };
}

export async function listUsers(berth: RunningBerth, auth: string | null): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/api/v1/users`, { headers: headers(auth) })) };
}

export async function addUser(berth: RunningBerth, auth: string | null): Promise<Outcome> {
  const name = `made-${nextVersion(0).replace(/\./g, "-")}`;
  return {
    status: await status(
      await fetch(`${berth.url}/api/v1/users`, { method: "POST", headers: headers(auth, { "content-type": "application/json" }), body: JSON.stringify({ name, roles: ["acrpull"] }) }),
    ),
  };
}

// --- ChartMuseum's API, and tag-locked chart versions ----------------------------------------

/** PATCH _blobs: overwrites the version. */
export async function classicOverwrite(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version: string): Promise<Outcome> {
  return { status: await putChart(berth, auth, f.view, f.chart, version, "PATCH") };
}

/** POST /api/<view>/charts[?force], a raw package body, as scripts written for ChartMuseum send it. */
export async function museumPush(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version = nextVersion(3), force = false): Promise<Outcome> {
  const body = await validChart({ name: f.chart, version });
  const url = `${berth.url}/api/${f.view}/charts${force ? "?force" : ""}`;
  return { status: await status(await fetch(url, { method: "POST", headers: headers(auth, { "content-type": "application/octet-stream" }), body: new Uint8Array(body) })) };
}

export async function museumGet(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version = f.version): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/api/${f.view}/charts/${f.chart}/${version}`, { headers: headers(auth) })) };
}

export async function museumDelete(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version: string): Promise<Outcome> {
  return { status: await status(await fetch(`${berth.url}/api/${f.view}/charts/${f.chart}/${version}`, { method: "DELETE", headers: headers(auth) })) };
}

/** GET /api/<view>/charts (ChartMuseum's list): is <chart> <version> in it? */
export async function museumList(berth: RunningBerth, auth: string | null, f: RepositoryFixture, version = f.version): Promise<Outcome> {
  const res = await fetch(`${berth.url}/api/${f.view}/charts`, { headers: headers(auth) });
  if (res.status !== 200) return { status: await status(res) };
  const body = (await res.json()) as Record<string, { version: string }[]>;
  return { status: 200, listed: (body[f.chart] ?? []).some((v) => v.version === version) };
}

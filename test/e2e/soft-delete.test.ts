// Soft delete (issue 17 point 4, docs/lifecycle.md#soft-delete) through real clients and `berth
// serve`: an image deleted by digest (skopeo delete) and by tag (berth repository delete), and a
// chart deleted either way (an OCI tag delete, the ChartMuseum API), are 404 to skopeo and helm at
// once, listed by `berth repository deleted`, restored by `berth repository restore`, and pulled
// again byte for byte; gc within the window frees nothing they use and fsck stays clean. With a
// short window, once it has passed, gc frees them for good.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { humanSize } from "../../src/cli/output.ts";
import { runBerthCli, type RunningBerth } from "../support/berth.ts";
import { berthFetch, berthFor, fetchIndex, helmClient, HELM_VERSIONS, packageChart, plainHttp, putBlob, registryLogin, repoAdd } from "../support/helm.ts";
import { buildMultiPlatformLayout, layoutBlob, layoutEntry } from "../support/oci-layout.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

const DAY = "86400";

interface DeletedEntry { kind: string; digest: string; tags: string[]; content: string; storedAs: string | null; deletedBy: { name: string } | null }

async function cli(berth: RunningBerth, args: string[]): Promise<string> {
  const result = await runBerthCli([...args, "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.equal(result.code, 0, `berth ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

async function deleted(berth: RunningBerth, repository: string): Promise<DeletedEntry[]> {
  return (JSON.parse(await cli(berth, ["repository", "deleted", repository, "-o", "json"])) as { deleted: DeletedEntry[] }).deleted;
}

async function gcAndFsck(berth: RunningBerth): Promise<{ blobsDeleted: number; deletedPurged: number; deleted: string[] }> {
  const gc = await berth.cli(["gc", "--grace-period", "0", "-o", "json"]);
  assert.equal(gc.code, 0, gc.stderr);
  const fsck = await berth.cli(["fsck"]);
  assert.equal(fsck.code, 0, `fsck after gc: ${fsck.stdout}${fsck.stderr}`);
  return JSON.parse(gc.stdout) as { blobsDeleted: number; deletedPurged: number; deleted: string[] };
}

async function sandbox(t: TestContext): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), "berth-softdel-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const sub of ["home/.docker", "run"]) await mkdir(join(dir, sub), { recursive: true });
  return { dir, env: { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), REGISTRY_AUTH_FILE: join(dir, "home/auth.json"), XDG_RUNTIME_DIR: join(dir, "run") } };
}

test("skopeo: an index deleted by digest, then a tag deleted alone, is 404 until restored; gc in the window frees nothing; the copy back is byte for byte", { timeout: 300_000 }, async (t) => {
  const skopeo = requireTool(t, "skopeo");
  if (!skopeo) return;
  const berth = await berthFor(t, { env: { BERTH_DELETION_RESTORABLE_FOR: DAY } });
  const { dir, env } = await sandbox(t);
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  const creds = `${berth.username}:${berth.password}`;
  const remote = `docker://${berth.host}/team/multi`;
  const skopeoRun = (args: string[]) => run(skopeo, ["--insecure-policy", ...args], { env, cwd: dir });
  const skopeoOk = (args: string[]) => runOk(skopeo, ["--insecure-policy", ...args], { env, cwd: dir });
  const copyBack = async (into: string) => {
    await skopeoOk(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds, `${remote}:v1`, `oci:${join(dir, into)}:v1`]);
    const back = await layoutEntry(join(dir, into), "v1");
    assert.equal(back.digest, layout.index.digest);
    assert.ok((await layoutBlob(join(dir, into), back.digest)).equals(layout.index.bytes), "the index came back with other bytes");
    for (const image of layout.images) {
      assert.ok((await layoutBlob(join(dir, into), image.config.digest)).equals(image.config.bytes), "a config came back with other bytes");
      assert.equal((await layoutBlob(join(dir, into), image.layer.digest)).length, image.layer.size);
    }
  };
  await skopeoOk(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, `oci:${layout.dir}:v1`, `${remote}:v1`]);

  // skopeo delete resolves the tag and deletes the index by digest: v1 goes with it.
  await skopeoOk(["delete", "--tls-verify=false", "--creds", creds, `${remote}:v1`]);
  const gone = await skopeoRun(["inspect", "--raw", "--tls-verify=false", "--creds", creds, `${remote}:v1`]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /manifest unknown/i);
  assert.deepEqual(JSON.parse((await skopeoOk(["list-tags", "--tls-verify=false", "--creds", creds, remote])).stdout).Tags, []);

  const table = await cli(berth, ["repository", "deleted", "team/multi"]);
  // SIZE: the index's own bytes (a column added with the purge).
  assert.match(table, /DIGEST\s+TAGS\s+KIND\s+CONTENT\s+SIZE\s+DELETED\s+BY\s+EXPIRES/);
  assert.match(table, new RegExp(`${layout.index.digest.slice(7, 19)}\\s+v1\\s+manifest\\s+index\\s+${humanSize(layout.index.bytes.length)}\\s+\\S+ \\S+ UTC\\s+admin \\(admin\\)`));
  const within = await gcAndFsck(berth);
  assert.equal(within.blobsDeleted, 0, `gc freed blobs a restorable index uses: ${within.deleted.join(", ")}`);

  assert.match(await cli(berth, ["repository", "restore", "team/multi", "v1"]), new RegExp(`restored team/multi@${layout.index.digest} \\(tags: v1\\)`));
  await copyBack("back1");
  assert.deepEqual(await deleted(berth, "team/multi"), []);

  // The tag alone, through the CLI (the API's tag delete): the index stays, v1 is 404, and comes back.
  await cli(berth, ["repository", "delete", "team/multi:v1", "--yes"]);
  assert.notEqual((await skopeoRun(["inspect", "--raw", "--tls-verify=false", "--creds", creds, `${remote}:v1`])).code, 0);
  const [entry] = await deleted(berth, "team/multi");
  assert.deepEqual([entry!.kind, entry!.tags, entry!.content], ["tag", ["v1"], "index"]);
  await cli(berth, ["repository", "restore", "team/multi", "v1"]);
  await copyBack("back2");

  // Restoring again is a clear 404; the event stream shows the restores as pushes marked restored.
  const again = await runBerthCli(["repository", "restore", "team/multi", "v1", "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /nothing deleted as team\/multi:v1 can be restored/);
  const events = (await (await berthFetch(berth, "/api/v1/events?repository=team/multi&limit=100")).json()) as { events: { action: string; target: { restored?: true; digest?: string } }[] };
  assert.equal(events.events.filter((e) => e.action === "push" && e.target.restored && e.target.digest === layout.index.digest).length, 2);
});

for (const version of HELM_VERSIONS) {
  test(`helm ${version}: a chart deleted either way is 404 to helm pull both ways until restored, then pulls byte for byte both ways`, { timeout: 300_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    const berth = await berthFor(t, { env: { BERTH_DELETION_RESTORABLE_FOR: DAY } });
    await registryLogin(helm, berth);
    await repoAdd(helm, berth, "berth", "repo");
    const out = join(helm.dir, "out");
    await mkdir(out, { recursive: true });
    const pullBoth = async (name: string, chartVersion: string) => {
      const results = [];
      for (const [i, args] of [["pull", `oci://${berth.host}/repo/${name}`, "--version", chartVersion, ...plainHttp], ["pull", `berth/${name}`, "--version", chartVersion]].entries()) {
        const into = join(out, `${name}-${chartVersion}-${i}-${Date.now()}`);
        await mkdir(into);
        await helm.run(["repo", "update", "berth"]);
        const result = await helm.attempt([...args, "--destination", into]);
        results.push(result.code === 0 ? await readFile(join(into, `${name}-${chartVersion}.tgz`)) : null);
      }
      return results;
    };

    // OCI way in, deleted by tag over /v2/ (the chart version goes from index.yaml with it).
    const oci = await packageChart(helm, { name: "viaoci", version: "0.1.0" });
    await helm.run(["push", oci.path, `oci://${berth.host}/repo`, ...plainHttp]);
    assert.deepEqual(await pullBoth("viaoci", "0.1.0"), [oci.bytes, oci.bytes]);
    assert.equal((await berthFetch(berth, "/v2/repo/viaoci/manifests/0.1.0", { method: "DELETE" })).status, 202);
    assert.deepEqual(await pullBoth("viaoci", "0.1.0"), [null, null], "deleted: helm pull fails both ways");
    assert.doesNotMatch((await fetchIndex(berth)).bytes.toString(), /viaoci/);

    // Classic way in, deleted through the ChartMuseum API (the manifest goes with it).
    const classic = await packageChart(helm, { name: "viaclassic", version: "0.2.0" });
    assert.equal((await putBlob(berth, classic.file, classic.bytes)).status, 201);
    assert.deepEqual(await pullBoth("viaclassic", "0.2.0"), [classic.bytes, classic.bytes]);
    assert.equal((await berthFetch(berth, "/api/repo/charts/viaclassic/0.2.0", { method: "DELETE" })).status, 200);
    assert.deepEqual(await pullBoth("viaclassic", "0.2.0"), [null, null]);

    const [fromOci] = await deleted(berth, "repo/viaoci");
    assert.deepEqual([fromOci!.kind, fromOci!.tags, fromOci!.content, fromOci!.storedAs], ["tag", ["0.1.0"], "chart", "oci"]);
    const [fromClassic] = await deleted(berth, "repo/viaclassic");
    assert.deepEqual([fromClassic!.kind, fromClassic!.tags, fromClassic!.storedAs], ["manifest", ["0.2.0"], "classic"]);
    const within = await gcAndFsck(berth);
    assert.equal(within.blobsDeleted, 0);

    await cli(berth, ["repository", "restore", "repo/viaoci", "0.1.0"]);
    await cli(berth, ["repository", "restore", "repo/viaclassic", fromClassic!.digest]);
    assert.deepEqual(await pullBoth("viaoci", "0.1.0"), [oci.bytes, oci.bytes], "restored: both ways, the same bytes");
    assert.deepEqual(await pullBoth("viaclassic", "0.2.0"), [classic.bytes, classic.bytes]);
    await gcAndFsck(berth);
  });
}

test("after the window: the deleted content drops off the list, gc frees its blobs for good, and fsck stays clean", { timeout: 300_000 }, async (t) => {
  const skopeo = requireTool(t, "skopeo");
  if (!skopeo) return;
  // deletion.restorableFor is seconds, like every other duration in the configuration: 2 s here.
  const berth = await berthFor(t, { env: { BERTH_DELETION_RESTORABLE_FOR: "2" } });
  const { dir, env } = await sandbox(t);
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  const creds = `${berth.username}:${berth.password}`;
  const remote = `docker://${berth.host}/team/brief`;
  await runOk(skopeo, ["--insecure-policy", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, `oci:${layout.dir}:v1`, `${remote}:v1`], { env, cwd: dir });
  // The index and both platform images, as `berth repository delete team/brief` takes them.
  await cli(berth, ["repository", "delete", "team/brief", "--yes"]);
  // Wait (no time asserted) until the server no longer lists them: their window has passed.
  for (let i = 0; (await deleted(berth, "team/brief")).length > 0; i++) {
    assert.ok(i < 600, "the 2 s window never ended");
    await new Promise((r) => setTimeout(r, 200));
  }
  const gc = await gcAndFsck(berth);
  assert.equal(gc.deletedPurged, 3, "the index and its two platform images, forgotten by this run");
  for (const image of layout.images) {
    assert.ok(gc.deleted.includes(image.layer.digest) && gc.deleted.includes(image.config.digest), `gc kept ${image.layer.digest}: ${JSON.stringify(gc)}`);
    assert.equal((await berthFetch(berth, `/v2/team/brief/blobs/${image.layer.digest}`)).status, 404);
  }
  const restore = await runBerthCli(["repository", "restore", "team/brief", layout.index.digest, "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.notEqual(restore.code, 0, "gone for good");
  assert.match(restore.stderr, /can be restored/);
});

test("berth serve's maintenance job forgets expired deleted content by itself (one instance at a time), so gc then frees it without a purge of its own", { timeout: 300_000 }, async (t) => {
  const berth = await berthFor(t, { env: { BERTH_DELETION_RESTORABLE_FOR: "1", BERTH_UPLOADS_PURGE_INTERVAL: "1" } });
  const layer = Buffer.from(`a layer only the deleted manifest uses ${Date.now()}`);
  const config = Buffer.from("{}");
  const digest = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  for (const blob of [layer, config]) assert.equal((await berthFetch(berth, `/v2/team/maint/blobs/uploads/?digest=${digest(blob)}`, { method: "POST", body: new Uint8Array(blob) })).status, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: digest(config), size: config.length }, layers: [{ mediaType: "application/octet-stream", digest: digest(layer), size: layer.length }] }));
  assert.equal((await berthFetch(berth, "/v2/team/maint/manifests/v1", { method: "PUT", body: new Uint8Array(manifest), headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })).status, 201);
  assert.equal((await berthFetch(berth, `/v2/team/maint/manifests/${digest(manifest)}`, { method: "DELETE" })).status, 202);
  // Until the job has run after the window, a dry run counts the record as still to forget.
  for (let i = 0; ; i++) {
    const dry = await berth.cli(["gc", "--dry-run", "--grace-period", "0", "-o", "json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const report = JSON.parse(dry.stdout) as { deletedPurged: number; deleted: string[] };
    if (report.deletedPurged === 0 && report.deleted.includes(digest(layer))) break;
    assert.ok(i < 300, `the maintenance job never forgot the expired record: ${dry.stdout}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const gc = await gcAndFsck(berth);
  assert.equal(gc.deletedPurged, 0, "the job had forgotten it already");
  assert.ok(gc.deleted.includes(digest(layer)), JSON.stringify(gc));
});

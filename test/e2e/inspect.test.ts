// `berth inspect` against a started Berth, after crane pushed an image the seed's way: three
// build.* labels in each platform's config, a two-platform index with BuildKit attestations of
// both shapes. The labels must show as `docker image inspect --format '{{json .Config.Labels}}'`
// prints them, and the access log must show that inspecting read no blob at all (the report
// comes from what Berth recorded at push).
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runBerthCli, startBerth } from "../support/berth.ts";
import { attestedIndex, SEED_LABELS, type Blob } from "../support/provenance-images.ts";
import { requireTool, runOk } from "../support/tools.ts";
import { accessLines, logBarrier } from "../support/access-log.ts";

async function writeLayout(dir: string, blobs: Blob[], top: Blob, tag: string): Promise<void> {
  await mkdir(join(dir, "blobs/sha256"), { recursive: true });
  for (const b of blobs) await writeFile(join(dir, "blobs/sha256", b.digest.slice("sha256:".length)), b.bytes);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
}

test("berth inspect shows the seed's build.* labels as docker does, and reads no blob", { timeout: 120_000 }, async (t) => {
  const crane = requireTool(t, "crane");
  if (!crane) return;
  const dir = await mkdtemp(join(tmpdir(), "berth-inspect-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const berth = await startBerth({ env: { BERTH_LOG_LEVEL: "info" } });
  t.after(() => berth.dispose());
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), XDG_CONFIG_HOME: join(dir, "home/.config") };
  delete env.BERTH_SERVER;
  delete env.BERTH_USERNAME;
  delete env.BERTH_PASSWORD;
  await mkdir(join(dir, "home/.docker"), { recursive: true });

  const image = attestedIndex(SEED_LABELS, { "org.opencontainers.image.created": "2026-11-20T10:02:00Z" });
  await writeLayout(join(dir, "layout"), [...image.blobs, ...image.manifests], image.index, "v1");
  const craneOk = (args: string[], input?: string) => runOk(crane, [...args, "--insecure"], { env, cwd: dir, input });
  await craneOk(["auth", "login", berth.host, "-u", berth.username, "--password-stdin"], berth.password);
  await craneOk(["push", join(dir, "layout"), `${berth.host}/seed/app:v1`]);
  assert.equal((await craneOk(["digest", `${berth.host}/seed/app:v1`])).stdout.trim(), image.index.digest);

  await logBarrier(berth); // crane's last HEAD must not land among the inspects' lines
  const before = berth.output().length;
  const credentials = ["-u", berth.username, "-p", berth.password];
  const table = await runBerthCli(["inspect", `${berth.host}/seed/app:v1`, ...credentials], env);
  assert.equal(table.code, 0, table.stderr);
  const dockerLabels = `{"build.dockerfile":"${SEED_LABELS["build.dockerfile"]}","build.sha":"${SEED_LABELS["build.sha"]}","build.user":"octocat"}`;
  assert.equal(table.stdout.split("\n").filter((l) => l.trim() === dockerLabels).length, 2, table.stdout);
  assert.match(table.stdout, /^Platform linux\/amd64 /m);
  assert.match(table.stdout, /^Platform linux\/arm64\/v8 /m);
  assert.doesNotMatch(table.stdout, /unknown\/unknown/);
  assert.match(table.stdout, /SLSA provenance v0\.2/);
  assert.match(table.stdout, /SLSA provenance v1/);
  assert.match(table.stdout, /builder:\s+https:\/\/github\.com\/example\/berth-seed\/actions\/runs\/42/);
  assert.match(table.stdout, /^Verdict: labels present: yes/m);

  const json = await runBerthCli(["inspect", `${berth.host}/seed/app:v1`, ...credentials, "-o", "json"], env);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.platforms.map((p: { labels: unknown }) => p.labels), [SEED_LABELS, SEED_LABELS]);
  const yaml = await runBerthCli(["inspect", `${berth.host}/seed/app@${image.platforms[0]!.manifest.digest}`, ...credentials, "-o", "yaml"], env);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.match(yaml.stdout, /build\.user: octocat/);

  // The access log of the inspects: the API only, no blob (layer or config) and no manifest read.
  // A log line reaches us through the server's stdout pipe after the response: wait for all three.
  const inspected = () => accessLines(berth.output().slice(before)).filter((l) => l.path!.startsWith("/api/v1/provenance/seed/app")).length;
  for (const deadline = Date.now() + 10_000; inspected() < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  assert.equal(inspected(), 3, `the three provenance requests were not logged:\n${berth.output().slice(before)}`);
  const during = accessLines(berth.output().slice(before));
  const reads = during.filter((l) => l.path!.startsWith("/v2/"));
  assert.deepEqual(reads, [], "berth inspect read from the registry API");
  // Nor was any layer read at any time, push included: Berth read only the configs and statements, from its own store.
  const layers = image.platforms.map((p) => p.layer.digest);
  assert.deepEqual(accessLines(berth.output()).filter((l) => l.method === "GET" && layers.some((d) => l.path!.endsWith(`/blobs/${d}`))), []);

  // Registry-side metadata through the CLI: set, set again, history names the author.
  const set = (value: string) => runBerthCli(["metadata", "set", `${berth.host}/seed/app:v1`, "approved-by", value, ...credentials], env);
  assert.equal((await set("alice")).code, 0);
  assert.equal((await set("bob")).code, 0);
  const got = await runBerthCli(["metadata", "get", `${berth.host}/seed/app@${image.index.digest}`, "approved-by", ...credentials], env);
  assert.equal(got.stdout.trim(), "bob", got.stderr);
  const history = await runBerthCli(["metadata", "history", `${berth.host}/seed/app:v1`, ...credentials, "-o", "json"], env);
  assert.deepEqual(JSON.parse(history.stdout).history.map((h: { actor: string; old: string | null; new: string | null }) => [h.actor, h.old, h.new]), [["admin", null, "alice"], ["admin", "alice", "bob"]]);
});

// Deployment as users run it: Berth's own image, built FROM scratch by deploy/build-image.sh with
// buildah, pushed to a started Berth, whose `berth inspect` shows the image's own build.* labels;
// the image then serves (run by buildah from its own entrypoint). And Berth's Helm chart: linted and
// rendered by helm v3 and v4, refusing settings several replicas cannot share, naming only real
// settings, and pushed to Berth both ways.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { settingPaths } from "../../src/config/load.ts";
import { freePort, runBerthCli, startBerth } from "../support/berth.ts";
import { berthHelmPush, helmClient, HELM_VERSIONS, plainHttp, registryLogin, repoAdd } from "../support/helm.ts";
import { repoRoot } from "../support/berth.ts";
import { requireTool, runOk } from "../support/tools.ts";

const CHART = join(repoRoot, "deploy/chart/berth");

/** What the test reads of a rendered manifest. */
interface Rendered {
  kind: string;
  spec: { replicas?: number; template?: { spec: { containers: { env: { name: string }[]; readinessProbe: { httpGet: { path: string } } }[] } } };
}

test("Berth's own image: built FROM scratch with buildah, pushed to Berth, its build.* labels shown by berth inspect, and it serves", { timeout: 600_000 }, async (t) => {
  const buildah = requireTool(t, "buildah");
  if (!buildah) return;
  const dir = await mkdtemp(join(tmpdir(), "berth-image-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const global = ["--root", join(dir, "storage"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
  const env = { ...process.env, BUILDAH_OPTIONS: global.join(" "), IMAGE_COMMITTER: "berth-ci", BUILDAH_ISOLATION: "chroot", HOME: dir };
  await runOk("bash", [join(repoRoot, "deploy/build-image.sh"), "localhost/berth:test"], { env, cwd: dir });
  const sha = (await runOk("git", ["rev-parse", "HEAD"], { cwd: repoRoot })).stdout.trim();

  const berth = await startBerth();
  t.after(() => berth.dispose());
  await runOk(buildah, [...global, "push", "--tls-verify=false", "--creds", `${berth.username}:${berth.password}`, "localhost/berth:test", `docker://${berth.host}/berth/berth:test`], { env, cwd: dir });
  const inspected = await runBerthCli(["inspect", `${berth.host}/berth/berth:test`, "-u", berth.username, "-p", berth.password, "-o", "json"], { ...process.env, HOME: dir });
  assert.equal(inspected.code, 0, inspected.stderr);
  const labels = (JSON.parse(inspected.stdout) as { platforms: { labels: Record<string, string> }[] }).platforms[0]!.labels;
  assert.equal(labels["build.user"], "berth-ci");
  assert.equal(labels["build.sha"], sha);
  assert.match(labels["build.dockerfile"] ?? "", /deploy\/Containerfile$/);
  assert.equal(labels["org.opencontainers.image.revision"], sha);

  // Run what the image says to run (its entrypoint and command), as a container runtime would.
  const config = JSON.parse((await runOk(buildah, [...global, "inspect", "--type", "image", "localhost/berth:test"], { env })).stdout) as { OCIv1: { config: { Entrypoint: string[]; Cmd: string[]; User: string } } };
  const { Entrypoint, Cmd, User } = config.OCIv1.config;
  assert.equal(User, "65532:65532", "the image runs as an unprivileged user");
  const container = (await runOk(buildah, [...global, "from", "--pull-never", "localhost/berth:test"], { env })).stdout.trim();
  const port = await freePort();
  const password = "image-admin-password";
  const server = spawn(buildah, [...global, "run", "--isolation", "chroot", "--network", "host", "--env", `BERTH_HTTP_PORT=${port}`, "--env", `BERTH_AUTH_ADMIN_PASSWORD=${password}`, "--env", "BERTH_HTTP_HOST=127.0.0.1", container, "--", ...Entrypoint, ...Cmd], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  server.stdout.on("data", (d: Buffer) => (output += d.toString()));
  server.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise((ok) => server.on("close", ok));
  t.after(async () => {
    server.kill("SIGTERM"); // buildah hands it to the server
    await exited;
  });
  const url = `http://127.0.0.1:${port}`;
  let health = 0;
  for (const deadline = Date.now() + 60_000; health !== 200 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    health = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
  }
  assert.equal(health, 200, `the image's Berth did not answer /healthz:\n${output}`);
  const auth = `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`;
  assert.equal((await fetch(`${url}/v2/`)).status, 401);
  assert.equal((await fetch(`${url}/v2/_catalog`, { headers: { authorization: auth } })).status, 200);
  assert.match(await (await fetch(`${url}/`)).text(), /<!doctype html>/i, "the portal is in the image");
  // It stores what it is sent: Berth copies its own image into the image's Berth, with crane.
  const crane = requireTool(t, "crane");
  if (!crane) return;
  const craneEnv = { ...process.env, HOME: dir, DOCKER_CONFIG: join(dir, "docker") };
  await runOk(crane, ["auth", "login", berth.host, "-u", berth.username, "--password-stdin"], { env: craneEnv, input: berth.password });
  await runOk(crane, ["auth", "login", `127.0.0.1:${port}`, "-u", "admin", "--password-stdin"], { env: craneEnv, input: password });
  await runOk(crane, ["copy", "--insecure", `${berth.host}/berth/berth:test`, `127.0.0.1:${port}/berth:copy`], { env: craneEnv });
  const digests = await Promise.all([`${berth.host}/berth/berth:test`, `127.0.0.1:${port}/berth:copy`].map(async (ref) => (await runOk(crane, ["digest", "--insecure", ref], { env: craneEnv })).stdout.trim()));
  assert.equal(digests[0], digests[1]);
});

for (const version of HELM_VERSIONS) {
  test(`Berth's Helm chart with helm ${version}: lint, template for one and three replicas, refusals, pushed to Berth both ways`, { timeout: 180_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await helm.run(["lint", "--strict", CHART]);

    const render = async (set: string[]) => parseAllDocuments((await helm.run(["template", "reg", CHART, ...set.flatMap((s) => ["--set", s])])).stdout).map((d) => d.toJS() as Rendered);
    const settings = new Set(settingPaths().map((s) => s.env));
    const container = (docs: Rendered[]) => docs.find((d) => d.kind === "Deployment")!.spec.template!.spec.containers[0]!;
    const envNames = (docs: Rendered[]) => container(docs).env.map((e) => e.name);

    const single = await render([]);
    assert.deepEqual(single.map((d) => d.kind).sort(), ["Deployment", "PersistentVolumeClaim", "Service"]);
    assert.equal(single.find((d) => d.kind === "Deployment")!.spec.replicas, 1);
    assert.equal(container(single).readinessProbe.httpGet.path, "/healthz");

    const s3 = await render(["replicaCount=3", "metadata.driver=postgres", "metadata.postgres.existingSecret=berth-db", "storage.driver=s3", "storage.s3.bucket=berth", "storage.s3.endpoint=http://s3:7070", "storage.s3.existingSecret=berth-s3", "admin.existingSecret=berth-admin", "publicUrl=https://registry.example"]);
    assert.deepEqual(s3.map((d) => d.kind).sort(), ["Deployment", "Service"], "shared state: no volume claim");
    assert.equal(s3.find((d) => d.kind === "Deployment")!.spec.replicas, 3);
    const azure = await render(["replicaCount=3", "metadata.driver=postgres", "metadata.postgres.existingSecret=berth-db", "storage.driver=azure", "storage.azure.container=berth", "storage.azure.existingSecret=berth-az"]);
    for (const name of [...envNames(single), ...envNames(s3), ...envNames(azure)]) assert.ok(settings.has(name), `the chart sets ${name}, which is no Berth setting`);

    for (const [set, message] of [
      [["replicaCount=2"], /needs metadata\.driver=postgres/],
      [["replicaCount=2", "metadata.driver=postgres", "metadata.postgres.existingSecret=db"], /needs storage\.driver=s3 or azure/],
      [["storage.driver=s3"], /needs storage\.s3\.bucket/],
    ] as const) {
      const refused = await helm.attempt(["template", "reg", CHART, ...set.flatMap((s) => ["--set", s])]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, message);
    }

    // The chart in Berth: OCI and classic, and found by both.
    const berth = await startBerth();
    t.after(() => berth.dispose());
    const packaged = (await helm.run(["package", CHART, "-d", helm.dir])).stdout.trim().split(" ").pop()!;
    await registryLogin(helm, berth);
    await helm.run(["push", packaged, `oci://${berth.host}/charts`, ...plainHttp]);
    await helm.run(["show", "chart", `oci://${berth.host}/charts/berth`, "--version", "0.1.0", ...plainHttp]);
    await berthHelmPush(berth, packaged);
    await repoAdd(helm, berth);
    const found = await helm.json<{ name: string; version: string }[]>(["search", "repo", "berth/berth", "-o", "json"]);
    assert.deepEqual(found.map((c) => [c.name, c.version]), [["berth/berth", "0.1.0"]]);
  });
}

// The portal's read API through `berth repository` and `berth search`, after real clients filled
// the registry: oras pushes an artifact with an artifactType, crane builds an image and sets the
// seed's build labels (and a hostile one) with `crane mutate`, helm 4 pushes a chart oci://, and
// `berth helm push` stores one the classic way. Every assertion reads what the CLI printed.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { runBerthCli, type RunningBerth } from "../support/berth.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { berthFor, helmClient, packageChart, plainHttp, registryLogin } from "../support/helm.ts";
import { tarOneFile } from "../support/oci-layout.ts";
import { requireTool, runOk } from "../support/tools.ts";

const SHA = "e80e6ef0123456789abcdef0123456789abcdef0";
const DOCKERFILE = "https://github.com/acme/app/blob/e80e6ef/Dockerfile";
const HOSTILE = "<img src=x onerror=alert(1)>";

function cli(berth: RunningBerth, env: NodeJS.ProcessEnv) {
  const call = (args: string[]) => runBerthCli([...args, "--server", berth.url, "--username", berth.username, "--password", berth.password], env);
  return {
    call,
    async ok(args: string[]): Promise<string> {
      const run = await call(args);
      assert.equal(run.code, 0, `berth ${args.join(" ")} exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
      return run.stdout;
    },
    async json(args: string[]): Promise<any> {
      return JSON.parse(await this.ok([...args, "-o", "json"]));
    },
  };
}

test("oras, crane, helm push oci:// and a classic push fill Berth; berth repository list|show-tags|show-manifests|delete and berth search read it", { timeout: 300_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  const crane = requireTool(t, "crane");
  if (!oras || !crane) return;
  const helm = await helmClient(t, "v4");
  if (!helm) return;
  const berth = await berthFor(t);
  const dir = await mkdtemp(join(tmpdir(), "berth-portal-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "home/.docker"), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), XDG_CONFIG_HOME: join(dir, "home/.config") };
  for (const name of ["BERTH_SERVER", "BERTH_USERNAME", "BERTH_PASSWORD"]) delete env[name];
  const berthCli = cli(berth, env);

  // oras: an artifact of its own type.
  const remote = ["--plain-http", "--registry-config", join(dir, "home/oras-auth.json")];
  await runOk(oras, ["login", ...remote, "-u", berth.username, "--password-stdin", berth.host], { env, cwd: dir, input: berth.password });
  await writeFile(join(dir, "report.txt"), "a test report\n");
  await runOk(oras, ["push", ...remote, `${berth.host}/portal/report:v1`, "--artifact-type", "application/vnd.example.report.v1", "report.txt:text/plain"], { env, cwd: dir });

  // crane: an image from one layer, then the seed's labels (and a hostile one) by crane mutate.
  const craneOk = (args: string[], input?: string) => runOk(crane, [...args, "--insecure"], { env, cwd: dir, input });
  await craneOk(["auth", "login", berth.host, "-u", berth.username, "--password-stdin"], berth.password);
  await writeFile(join(dir, "layer.tar"), tarOneFile("hello.txt", Buffer.from("hello from crane\n")));
  await craneOk(["append", "--oci-empty-base", "-f", join(dir, "layer.tar"), "-t", `${berth.host}/portal/image:base`]);
  const labels = ["build.user=octocat", `build.sha=${SHA}`, `build.dockerfile=${DOCKERFILE}`, `note=${HOSTILE}`].flatMap((l) => ["--label", l]);
  await craneOk(["mutate", `${berth.host}/portal/image:base`, ...labels, "-t", `${berth.host}/portal/image:v1`]);
  const labelled = (await craneOk(["digest", `${berth.host}/portal/image:v1`])).stdout.trim();
  const base = (await craneOk(["digest", `${berth.host}/portal/image:base`])).stdout.trim();

  // helm 4: a chart the OCI way; berth helm push: one the classic way.
  const chart = await packageChart(helm, { name: "portal-demo", version: "0.2.0", appVersion: "1.0" });
  await registryLogin(helm, berth);
  await helm.run(["push", chart.path, `oci://${berth.host}/portal-charts`, ...plainHttp]);
  const classic = join(dir, "classic-demo-1.0.0.tgz");
  await writeFile(classic, await validChart({ name: "classic-demo", version: "1.0.0", description: "pushed the classic way" }));
  await berthCli.ok(["helm", "push", classic, "--repository", "portal-classic"]);

  const list = await berthCli.json(["repository", "list"]);
  assert.deepEqual(list.map((r: any) => [r.name, r.kind, r.artifactType, r.tags]), [
    ["portal-charts/portal-demo", "chart-oci", null, 1],
    ["portal-classic/classic-demo", "chart-classic", null, 1],
    ["portal/image", "image", null, 2],
    ["portal/report", "artifact", "application/vnd.example.report.v1", 1],
  ]);
  const image = list.find((r: any) => r.name === "portal/image");
  assert.deepEqual(image.newest, { tag: "v1", digest: labelled, build: { user: "octocat", sha: SHA, dockerfile: DOCKERFILE } });
  assert.deepEqual((await berthCli.json(["repository", "list", "--kind", "chart-classic"])).map((r: any) => r.name), ["portal-classic/classic-demo"]);
  assert.deepEqual((await berthCli.json(["repository", "list", "--q", "report"])).map((r: any) => r.name), ["portal/report"]);
  const table = await berthCli.ok(["repository", "list", "--orderby", "time_desc"]);
  assert.match(table, /^NAME\s+KIND\s+TAGS\s+MANIFESTS\s+SIZE\s+LAST PUSH$/m);
  assert.match(table.split("\n")[1]!, /^portal-classic\/classic-demo\s+chart-classic\s+1\s+1\s/);

  // show-tags: names by time (JSON and YAML), details with the labels.
  assert.deepEqual(await berthCli.json(["repository", "show-tags", "portal/image", "--orderby", "time_desc"]), ["v1", "base"]);
  assert.deepEqual(parse(await berthCli.ok(["repository", "show-tags", "portal/image", "--orderby", "time_asc", "-o", "yaml"])), ["base", "v1"]);
  const detail = await berthCli.json(["repository", "show-tags", "portal/image", "--detail"]);
  assert.deepEqual(detail.map((d: any) => [d.name, d.digest, d.signed]), [["base", base, false], ["v1", labelled, false]]);
  assert.equal(detail[1].build.sha, SHA);
  assert.ok(detail[1].size > 0);
  assert.match(await berthCli.ok(["repository", "show-tags", "portal/image", "--detail"]), /^v1\s+[0-9a-f]{12}\s+.*\soctocat e80e6ef$/m);

  // search: the 7-digit abbreviation, the Dockerfile, the hostile value verbatim.
  const found = await berthCli.json(["search", "--label", `build.sha=${SHA.slice(0, 7)}`]);
  assert.deepEqual(found.map((r: any) => [r.repository, r.digest, r.tags]), [["portal/image", labelled, ["v1"]]]);
  assert.deepEqual((await berthCli.json(["search", "--dockerfile", DOCKERFILE, "--label", "build.user~octo"])).map((r: any) => r.digest), [labelled]);
  const hostile = await berthCli.json(["search", "--label", `note=${HOSTILE}`]);
  assert.equal(hostile[0].matches[0].value, HOSTILE);
  assert.ok((await berthCli.json(["search", "--unsigned", "--repository", "portal/"])).some((r: any) => r.digest === base));
  // No trust configured: nothing is verified, so every image without a signature is among them too.
  assert.ok((await berthCli.json(["search", "--unverified", "--repository", "portal/"])).some((r: any) => r.digest === base));

  // delete: refused without --yes off a terminal; a tag, then its manifest shows untagged; a repository.
  assert.deepEqual(await berthCli.json(["repository", "show-manifests", "portal/image", "--untagged"]), []);
  const unasked = await berthCli.call(["repository", "delete", "portal/image:base"]);
  assert.equal(unasked.code, 1);
  assert.match(unasked.stderr, /pass --yes/);
  assert.deepEqual(await berthCli.json(["repository", "delete", "portal/image:base", "--yes"]), { deleted: true });
  assert.deepEqual(await berthCli.json(["repository", "show-tags", "portal/image"]), ["v1"]);
  assert.deepEqual((await berthCli.json(["repository", "show-manifests", "portal/image", "--untagged"])).map((m: any) => m.digest), [base]);
  // Each command in each format: YAML is the JSON's data, the table names its columns.
  assert.deepEqual(parse(await berthCli.ok(["repository", "show-manifests", "portal/image", "-o", "yaml"])), await berthCli.json(["repository", "show-manifests", "portal/image"]));
  assert.match(await berthCli.ok(["repository", "show-manifests", "portal/image", "--untagged"]), new RegExp(`^DIGEST\\s+TAGS\\s+MEDIA TYPE\\s+SIZE\\s+PLATFORMS\\s+PUSHED\\s+SUBJECT\\n${base}\\s`));
  assert.deepEqual(parse(await berthCli.ok(["repository", "list", "--q", "portal-charts", "-o", "yaml"])), await berthCli.json(["repository", "list", "--q", "portal-charts"]));
  assert.deepEqual(parse(await berthCli.ok(["repository", "delete", "portal-charts/portal-demo:0.2.0", "--yes", "-o", "yaml"])), { deleted: true });
  assert.match(await berthCli.ok(["repository", "delete", `portal/image@${base}`, "--yes"]), /^deleted manifest portal\/image@sha256:/);
  assert.match(await berthCli.ok(["repository", "delete", "portal/report", "--yes"]), /^deleted repository portal\/report/);
  assert.deepEqual((await berthCli.json(["repository", "list", "--q", "portal/"])).map((r: any) => r.name), ["portal/image"]);
  const gone = await berthCli.call(["repository", "delete", "portal/report", "--yes"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /portal\/report: repository name not known/);
  // The attributes commands still work beside the new ones.
  assert.equal((await berthCli.json(["repository", "show", "portal/image"])).deleteEnabled, true);
});

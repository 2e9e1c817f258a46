// `berth helm` and `berth chart` as users run them: the real CLI as a child process against a
// spawned Berth, charts built like `helm package` output. Each assertion reads what the command
// printed, its exit code, or the bytes Berth serves back afterwards.
//
// The CLI runs in a sandbox: HOME, DOCKER_CONFIG and HELM_REGISTRY_CONFIG point into a temp dir and
// BERTH_SERVER/USERNAME/PASSWORD are removed, so no login leaks in from the machine running the tests.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort, runBerthCli, startBerth, type RunningBerth } from "../support/berth.ts";
import { chartYamlFor, provenanceFor, provenanceSum, validChart, type ChartOptions } from "../support/chart-fixtures.ts";

let berth: RunningBerth;
let dir: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-cli-helm-"));
  await mkdir(join(dir, "home"), { recursive: true });
  berth = await startBerth();
  env = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), XDG_CONFIG_HOME: join(dir, "home/.config") };
  for (const name of ["HELM_REGISTRY_CONFIG", "HELM_CONFIG_HOME", "BERTH_SERVER", "BERTH_USERNAME", "BERTH_PASSWORD"]) delete env[name];
});

after(async () => {
  await berth?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `berth <args> --server … --username admin --password …`, the way a user types it. */
function berthCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return runBerthCli([...args, "--server", berth.url, "--username", berth.username, "--password", berth.password], { ...env, ...extraEnv });
}

/** Runs the command and fails with its whole output unless it exits 0. */
async function ok(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const run = await berthCli(args, extraEnv);
  assert.equal(run.code, 0, `berth ${args.join(" ")} exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run.stdout;
}

/** Writes <name>-<version>.tgz (and .prov when asked) into a fresh folder and returns the .tgz path. */
async function chartFile(options: ChartOptions, withProv = false): Promise<string> {
  const folder = await mkdtemp(join(dir, "chart-"));
  const path = join(folder, `${options.name}-${options.version}.tgz`);
  const bytes = await validChart(options);
  await writeFile(path, bytes);
  if (withProv) await writeFile(`${path}.prov`, provenanceFor(chartYamlFor(options), { [`${options.name}-${options.version}.tgz`]: provenanceSum(bytes) }));
  return path;
}

async function served(path: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${berth.url}${path}`, { headers: { authorization: berth.basicAuth } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

test("helm push -o json prints {saved: true}; a second push exits 1 with the --force hint; --force overwrites", async () => {
  const first = await chartFile({ name: "pushed", version: "0.1.0", description: "first" });
  assert.deepEqual(JSON.parse(await ok(["helm", "push", first, "-o", "json"])), { saved: true });
  assert.deepEqual((await served("/helm/v1/repo/_blobs/pushed-0.1.0.tgz")).body, await validChart({ name: "pushed", version: "0.1.0", description: "first" }));

  const again = await berthCli(["helm", "push", first]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /^berth: version already exists: use --force to overwrite/);
  assert.equal(again.stdout, "");

  const second = await chartFile({ name: "pushed", version: "0.1.0", description: "second" });
  assert.equal(await ok(["helm", "push", second, "--force"]), "Pushed pushed-0.1.0.tgz to repository repo\n");
  assert.deepEqual((await served("/helm/v1/repo/_blobs/pushed-0.1.0.tgz")).body, await validChart({ name: "pushed", version: "0.1.0", description: "second" }));

  const fresh = await chartFile({ name: "pushed", version: "0.2.0", description: "forced but new" });
  assert.deepEqual(JSON.parse(await ok(["helm", "push", fresh, "--force", "-o", "json"])), { saved: true }, "--force on a new version creates it");
});

test("helm list and helm show find the pushed versions, in table and JSON", async () => {
  await ok(["helm", "push", await chartFile({ name: "listed", version: "1.0.0", appVersion: "2.3.4", description: "A chart to list" })]);
  await ok(["helm", "push", await chartFile({ name: "listed", version: "1.1.0", appVersion: "2.4.0", description: "A newer chart" })]);

  const table = await ok(["helm", "list"]);
  const lines = table.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^NAME\s+CHART VERSION\s+APP VERSION\s+DESCRIPTION$/);
  assert.ok(lines.some((l) => /^listed\s+1\.0\.0\s+2\.3\.4\s+A chart to list$/.test(l)), table);
  assert.ok(lines.some((l) => /^listed\s+1\.1\.0\s+2\.4\.0\s+A newer chart$/.test(l)), table);

  const listed = JSON.parse(await ok(["helm", "list", "-o", "json"])) as Record<string, { version: string }[]>;
  assert.deepEqual(listed.listed?.map((v) => v.version), ["1.1.0", "1.0.0"]);

  const versions = JSON.parse(await ok(["helm", "show", "listed", "-o", "json"])) as { name: string; version: string }[];
  assert.deepEqual(versions.map((v) => v.version), ["1.1.0", "1.0.0"]);
  const one = JSON.parse(await ok(["helm", "show", "listed", "--version", "1.0.0", "-o", "json"])) as Record<string, unknown>;
  assert.equal(one.appVersion, "2.3.4");
  assert.deepEqual(one.urls, ["_blobs/listed-1.0.0.tgz"]);
  const details = await ok(["helm", "show", "listed", "--version", "1.0.0"]);
  assert.match(details, /^version:\s+1\.0\.0$/m);
  assert.match(details, /^app version:\s+2\.3\.4$/m);

  const missing = await berthCli(["helm", "show", "nothere"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^berth: chart nothere not found in repository repo/);
});

test("helm show --version reaches the subcommand, not `berth --version`", async () => {
  await ok(["helm", "push", await chartFile({ name: "positional", version: "3.0.0" })]);
  const run = await runBerthCli(["helm", "show", "positional", "--version", "3.0.0", "-o", "json", "--server", berth.url, "-u", berth.username, "-p", berth.password], env);
  assert.equal(run.code, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { version: string }).version, "3.0.0", `printed: ${run.stdout}`);
});

test("chart list shows a classic push with STORED classic; -o json is the server's list", async () => {
  await ok(["helm", "push", await chartFile({ name: "stored", version: "0.3.0", appVersion: "9.9" })]);
  const table = await ok(["chart", "list"]);
  const lines = table.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^REF\s+NAME\s+VERSION\s+APP VERSION\s+DIGEST\s+SIZE\s+CREATED\s+STORED$/);
  const row = lines.find((l) => /\sstored\s+0\.3\.0\s/.test(l));
  assert.ok(row, table);
  assert.match(row, /\s9\.9\s+[0-9a-f]{12}\s+\d+(\.\d)? (B|KiB)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+classic$/);
  assert.match(row, /^repo\/stored:0\.3\.0\s/);

  const json = JSON.parse(await ok(["chart", "list", "-o", "json"])) as { charts: { name: string; version: string; storedAs: string; reference: string }[] };
  const entry = json.charts.find((c) => c.name === "stored" && c.version === "0.3.0");
  assert.equal(entry?.storedAs, "classic");
  assert.equal(entry?.reference, "repo/stored:0.3.0");
});

test("helm push takes the .prov next to the chart; delete --prov removes only it, delete --version the version, delete the rest", async () => {
  const path = await chartFile({ name: "doomed", version: "1.0.0" }, true);
  assert.equal(await ok(["helm", "push", path]), "Pushed doomed-1.0.0.tgz and doomed-1.0.0.tgz.prov to repository repo\n");
  await ok(["helm", "push", await chartFile({ name: "doomed", version: "2.0.0" })]);
  assert.equal((await served("/helm/v1/repo/_blobs/doomed-1.0.0.tgz.prov")).status, 200);

  const unconfirmed = await berthCli(["helm", "delete", "doomed", "--version", "1.0.0"]);
  assert.equal(unconfirmed.code, 1);
  assert.match(unconfirmed.stderr, /--yes/);
  assert.equal((await served("/helm/v1/repo/_blobs/doomed-1.0.0.tgz")).status, 200, "nothing deleted without confirmation");

  await ok(["helm", "delete", "doomed", "--version", "1.0.0", "--prov", "--yes"]);
  assert.equal((await served("/helm/v1/repo/_blobs/doomed-1.0.0.tgz.prov")).status, 404);
  assert.equal((await served("/helm/v1/repo/_blobs/doomed-1.0.0.tgz")).status, 200);

  assert.equal(await ok(["helm", "delete", "doomed", "--version", "1.0.0", "--yes"]), "Deleted doomed-1.0.0.tgz from repository repo\n");
  assert.equal((await served("/helm/v1/repo/_blobs/doomed-1.0.0.tgz")).status, 404);
  const left = JSON.parse(await ok(["helm", "show", "doomed", "-o", "json"])) as { version: string }[];
  assert.deepEqual(left.map((v) => v.version), ["2.0.0"]);

  await ok(["helm", "delete", "doomed", "-y"]);
  const gone = await berthCli(["helm", "show", "doomed"]);
  assert.equal(gone.code, 1);
  const charts = JSON.parse(await ok(["chart", "list", "-o", "json"])) as { charts: { name: string }[] };
  assert.ok(!charts.charts.some((c) => c.name === "doomed"));

  const again = await berthCli(["helm", "delete", "doomed", "--version", "2.0.0", "--yes"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^berth: doomed 2\.0\.0 not found in repository repo/);
});

test("a version with build metadata (1.0.0+build.1) can be pushed, shown and deleted", async () => {
  await ok(["helm", "push", await chartFile({ name: "built", version: "1.0.0+build.1" })]);
  const one = JSON.parse(await ok(["helm", "show", "built", "--version", "1.0.0+build.1", "-o", "json"])) as { version: string };
  assert.equal(one.version, "1.0.0+build.1");
  await ok(["helm", "delete", "built", "--version", "1.0.0+build.1", "--yes"]);
  assert.equal((await served("/helm/v1/repo/_blobs/built-1.0.0+build.1.tgz")).status, 404);
});

test("helm push of a directory says to run helm package; a missing file says so", async () => {
  const chartDir = join(dir, "mychart");
  await mkdir(chartDir, { recursive: true });
  const run = await berthCli(["helm", "push", chartDir]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `berth: ${chartDir} is a directory: run \`helm package ${chartDir}\` first and push the .tgz\n`);
  const missing = await berthCli(["helm", "push", join(dir, "missing-0.1.0.tgz")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing-0\.1\.0\.tgz does not exist/);
});

test("a wrong password gives the authentication message, without the password", async () => {
  const run = await runBerthCli(["helm", "list", "--server", berth.url, "-u", "admin", "-p", "not-the-password"], env);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `berth: authentication failed for ${berth.url}: check --username/--password or run \`helm registry login ${berth.host}\`\n`);
  assert.ok(!(run.stdout + run.stderr).includes("not-the-password"));
});

test("credentials come from the config.json HELM_REGISTRY_CONFIG names, and the server from BERTH_SERVER", async () => {
  const config = join(dir, "registry-config.json");
  await writeFile(config, JSON.stringify({ auths: { [berth.host]: { auth: Buffer.from(`admin:${berth.password}`).toString("base64") } } }));
  await ok(["helm", "push", await chartFile({ name: "logged-in", version: "0.1.0" })]);
  const run = await runBerthCli(["helm", "show", "logged-in", "-o", "json"], { ...env, HELM_REGISTRY_CONFIG: config, BERTH_SERVER: berth.host });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { version: string }[])[0]?.version, "0.1.0");

  const noServer = await runBerthCli(["helm", "list"], { ...env, HELM_REGISTRY_CONFIG: config });
  assert.equal(noServer.code, 1);
  assert.match(noServer.stderr, new RegExp(`--server.*logins found for ${berth.host.replace(/\./g, "\\.")}`));
});

test("a server that is not running: cannot reach it, is Berth running?", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const run = await runBerthCli(["helm", "list", "--server", url, "-u", "admin", "-p", "x"], env);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `berth: cannot reach ${url}: is Berth running?\n`);
});

test("--plain-http, as oras and helm users type it: a host that is not localhost is reached over http", async () => {
  // [::ffff:127.0.0.1] reaches the test server but is not a loopback name, so it is https unless told.
  const server = `[::ffff:127.0.0.1]:${berth.port}`;
  const tls = await runBerthCli(["helm", "list", "--server", server, "-u", "admin", "-p", berth.password], env);
  assert.equal(tls.code, 1);
  assert.match(tls.stderr, /TLS with https:\/\/\[::ffff:7f00:1\]:\d+ failed .*--plain-http/s);
  const plain = await runBerthCli(["helm", "list", "--server", server, "--plain-http", "-u", "admin", "-p", berth.password, "-o", "json"], env);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(typeof JSON.parse(plain.stdout) === "object");
});

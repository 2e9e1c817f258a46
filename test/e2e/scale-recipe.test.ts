// Issue 16, done when "docs/scale.md deploys three instances on S3 + PostgreSQL by its own
// commands": this runs the two shell blocks of docs/scale.md's "Try it on one machine", read from
// the doc itself (so the doc and the test cannot drift), as a reader would, from the clone's root.
// The first starts PostgreSQL 15, versitygw, three `berth serve` and haproxy, and pushes and pulls
// through them itself; then the test pushes an artifact (oras) and a chart (helm 3) through haproxy,
// pulls both back byte-identical through it and from each instance directly, and reads haproxy's
// log to see that every instance answered; the second block stops everything. The doc's ports
// (5000-5005) when they are free, else six free ones (SCALE_DEMO_PORT, as the doc says).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../support/berth.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

const PORTS = 6; // haproxy, three instances, versitygw, PostgreSQL
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The shell blocks of the doc's section, in order, and the settings it shows. */
async function recipe(): Promise<{ start: string; stop: string; shown: string }> {
  const doc = await readFile(join(repoRoot, "docs/scale.md"), "utf8");
  const from = doc.indexOf("\n## Try it on one machine\n");
  assert.ok(from >= 0, "docs/scale.md has no section \"Try it on one machine\"");
  const end = doc.indexOf("\n## ", from + 1);
  const section = doc.slice(from, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  assert.equal(blocks.length, 2, "the section has two shell blocks: start and use, then stop");
  const shown = [...section.matchAll(/^```text\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  assert.equal(shown.length, 1, "the section shows berth.env and haproxy.cfg in one text block");
  return { start: blocks[0]!, stop: blocks[1]!, shown: shown[0]! };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** 5000 when 5000-5005 are free (the doc's ports), else the first of six free ones in a row. */
async function basePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    // Below Linux's ephemeral range (32768-60999), where the free ports other tests take come from.
    const base = attempt === 0 ? 5000 : 10_000 + Math.floor(Math.random() * 22_000);
    let free = true;
    for (let p = base; p < base + PORTS && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error("no six free ports in a row");
}

/** The pids the script recorded (and PostgreSQL's), to check they are gone and to end them if the stop block could not. */
async function recordedPids(demo: string): Promise<number[]> {
  const pids: number[] = [];
  const files = existsSync(demo) ? (await readdir(demo)).filter((f) => f.endsWith(".pid")).map((f) => join(demo, f)) : [];
  files.push(join(demo, "pg/data/postmaster.pid")); // its first line is the postmaster's pid
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "");
    const pid = Number(text.split("\n")[0]);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A process that exited but was not yet reaped by init is gone for this purpose.
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return false;
  }
  return !/^State:\s+Z/m.test(status);
}

test("docs/scale.md, Try it on one machine: three instances on versitygw + PostgreSQL behind haproxy, by the doc's own commands", async (t) => {
  const tools = ["oras", "helm3", "versitygw", "haproxy", "curl", "openssl"].map((name) => requireTool(t, name));
  if (tools.some((path) => !path)) return;
  const pgBin = process.env.BERTH_PG_BIN ?? "/usr/lib/postgresql/15/bin";
  // PostgreSQL is part of what Berth ships: its absence fails, as in test/support/postgres.ts.
  assert.ok(existsSync(join(pgBin, "initdb")), `PostgreSQL 15 is not installed in ${pgBin}: run scripts/install-tools.sh`);
  const { start, stop, shown } = await recipe();

  const dir = await mkdtemp(join(tmpdir(), "berth-scale-recipe-"));
  // Run as root, the script starts PostgreSQL as the postgres user, who must reach the directory.
  await chmod(dir, 0o711);
  const demo = join(dir, "demo");
  const work = join(dir, "work");
  const home = join(dir, "home");
  for (const d of [work, home]) await mkdir(d, { recursive: true });
  const port = await basePort();
  t.diagnostic(`haproxy on ${port}, the instances on ${port + 1}-${port + 3}`);
  // The reader's shell, with a home of its own (helm's and oras' config and caches stay in it).
  const env: NodeJS.ProcessEnv = {
    SCALE_DEMO_DIR: demo,
    SCALE_DEMO_PORT: String(port),
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local/share"),
    DOCKER_CONFIG: join(home, ".docker"),
    HELM_CACHE_HOME: undefined,
    HELM_CONFIG_HOME: undefined,
    HELM_DATA_HOME: undefined,
    HELM_REGISTRY_CONFIG: undefined,
    PATH: `${join(repoRoot, ".tools/bin")}:${process.env.PATH ?? ""}:/usr/sbin`,
  };
  t.after(async () => {
    // The doc's stop block first; whatever it could not stop (a failed start, a failed stop) is ended here.
    await run("bash", ["-c", stop], { cwd: repoRoot, env });
    for (const pid of await recordedPids(demo)) if (alive(pid)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  // The first block, as a reader runs it: it starts everything, pushes, and pulls from each instance (cmp checks the bytes).
  const started = await runOk("bash", ["-euo", "pipefail", "-c", start], { cwd: repoRoot, env });
  for (const i of [1, 2, 3]) assert.match(started.stdout, new RegExp(`\\d+ berth/berth${i}\\n`), `the block counts requests on instance ${i}`);
  const settings = await readFile(join(demo, "berth.env"), "utf8");
  const password = /^export BERTH_AUTH_ADMIN_PASSWORD=(\S+)$/m.exec(settings)?.[1];
  assert.ok(password, "berth.env names the admin password");
  // The files are what the doc prints, but for the random password and, off 5000, the ports.
  const written = settings + (await readFile(join(demo, "haproxy.cfg"), "utf8"));
  const expected = shown.replace(/127\.0\.0\.1:500([0-5])\b/g, (_, i: string) => `127.0.0.1:${port + Number(i)}`).replace(/(ADMIN_PASSWORD=)\S+/, `$1${password}`);
  assert.equal(written, expected, "berth.env and haproxy.cfg as docs/scale.md shows them");

  const balancer = `127.0.0.1:${port}`;
  const instances = [1, 2, 3].map((i) => `127.0.0.1:${port + i}`);
  const oras = (args: string[]) => runOk("oras", [...args, "--plain-http", "-u", "admin", "-p", password], { cwd: work, env });
  const helm = (args: string[]) => runOk("helm3", [...args, "--plain-http", "--username", "admin", "--password", password], { cwd: work, env });

  // An artifact of 3 MiB of random bytes and a chart made as users make one.
  const payload = randomBytes(3 * 1024 * 1024);
  await writeFile(join(work, "payload.bin"), payload);
  await oras(["push", `${balancer}/recipe/artifact:v1`, "payload.bin"]);
  await runOk("helm3", ["create", "recipe-chart"], { cwd: work, env });
  await runOk("helm3", ["package", "recipe-chart"], { cwd: work, env });
  const chart = await readFile(join(work, "recipe-chart-0.1.0.tgz"));
  await helm(["push", "recipe-chart-0.1.0.tgz", `oci://${balancer}/recipe/charts`]);

  for (const [name, host] of [["balancer", balancer], ...instances.map((h, i) => [`instance ${i + 1}`, h])] as [string, string][]) {
    const out = join(work, `from-${host.replace(":", "-")}`);
    await oras(["pull", `${host}/recipe/artifact:v1`, "-o", out]);
    assert.equal(sha256(await readFile(join(out, "payload.bin"))), sha256(payload), `the artifact from the ${name}`);
    await helm(["pull", `oci://${host}/recipe/charts/recipe-chart`, "--version", "0.1.0", "-d", out]);
    assert.equal(sha256(await readFile(join(out, "recipe-chart-0.1.0.tgz"))), sha256(chart), `the chart from the ${name}`);
  }

  // haproxy's log (one line per request, the instance named): the balancer sent /v2/ requests to all three.
  const log = await readFile(join(demo, "haproxy.log"), "utf8");
  const perInstance = [1, 2, 3].map((i) => log.split("\n").filter((l) => l.includes(` berth/berth${i} `) && l.includes(" /v2/")).length);
  for (const [i, count] of perInstance.entries()) assert.ok(count > 0, `haproxy sent no /v2/ request to instance ${i + 1}:\n${log}`);

  // The second block stops everything it started.
  const pids = await recordedPids(demo);
  assert.equal(pids.length, 6, `six processes recorded (haproxy, three berth, versitygw, PostgreSQL): ${pids.join(" ")}`);
  await runOk("bash", ["-euo", "pipefail", "-c", stop], { cwd: repoRoot, env });
  assert.deepEqual(pids.filter(alive), [], "every process the recipe started has exited");
});

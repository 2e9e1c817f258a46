// Issue 12's token findings, as real clients meet them (docs/security.md, "Credentials and tokens"):
// - a stolen pull token used as the zero-GUID password never becomes a push (oras asks the token
//   endpoint with it, and is refused), nor a mount of another team's blob (crane copy);
// - a `berth login --expose-token` token stops working for oras and helm the moment the user's
//   password is reset.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { berthBin, startBerth, type RunningBerth } from "../support/berth.ts";
import { helmClient, HELM_VERSIONS, packageChart, plainHttp } from "../support/helm.ts";
import { accessTokenOf, api, basic, createUser, getToken, ZERO_GUID } from "../support/identity-api.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

let berth: RunningBerth;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-security-clients-"));
  berth = await startBerth();
});

after(async () => {
  await berth?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function sandbox(name: string): NodeJS.ProcessEnv {
  const home = join(dir, name);
  return { HOME: home, DOCKER_CONFIG: join(home, ".docker"), XDG_CONFIG_HOME: join(home, ".config"), XDG_RUNTIME_DIR: join(home, "run"), REGISTRY_AUTH_FILE: undefined };
}

/** `berth login --expose-token`: the refresh token a person hands to clients as the zero-GUID password. */
async function exposedToken(username: string, password: string): Promise<string> {
  const exposed = await runOk(process.execPath, [berthBin, "login", "--server", berth.url, "-u", username, "--password-stdin", "--expose-token"], { env: sandbox(`expose-${username}`), input: `${password}\n` });
  return (JSON.parse(exposed.stdout) as { accessToken: string }).accessToken;
}

test("oras: a pull token for team-a, used as the zero-GUID password, cannot push to team-b (or anywhere)", { timeout: 120_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const password = await createUser(berth, "pusher", ["acrpush"]);
  const stolen = accessTokenOf(await getToken(berth, basic("pusher", password), ["repository:team-a/app:pull"]));
  const env = sandbox("oras-stolen");
  const cwd = await mkdtemp(join(dir, "oras-"));
  await writeFile(join(cwd, "note.txt"), "not yours\n");
  const pushed = await run(oras, ["push", "--plain-http", "-u", ZERO_GUID, "-p", stolen, `${berth.host}/team-b/app:stolen`, "note.txt:text/plain"], { env, cwd });
  assert.notEqual(pushed.code, 0, `oras push with a stolen pull token succeeded:\n${pushed.stdout}${pushed.stderr}`);
  const tags = await fetch(`${berth.url}/v2/team-b/app/tags/list`, { headers: { authorization: berth.basicAuth } });
  assert.equal(tags.status, 404, "team-b/app must not exist");
  await tags.body?.cancel();
  // The holder's own refresh token, the sanctioned zero-GUID password, pushes.
  const refresh = await exposedToken("pusher", password);
  await runOk(oras, ["push", "--plain-http", "-u", ZERO_GUID, "-p", refresh, `${berth.host}/team-b/app:mine`, "note.txt:text/plain"], { env, cwd });
});

test("crane: a token for team-a only, used as the zero-GUID password, cannot copy (mount) a team-b image into team-a", { timeout: 120_000 }, async (t) => {
  const crane = requireTool(t, "crane");
  if (!crane) return;
  const admin = { env: sandbox("crane-admin") };
  await runOk(crane, ["auth", "login", berth.host, "-u", berth.username, "-p", berth.password, "--insecure"], admin);
  const source = join(dir, "source.tar");
  await runOk(crane, ["append", "--insecure", "-f", await tarball(source), "-t", `${berth.host}/team-b/app:v1`], admin);
  // The principal may read team-b (acrpush everywhere); the stolen token is scoped to team-a.
  const password = await createUser(berth, "copier", ["acrpush"]);
  const stolen = accessTokenOf(await getToken(berth, basic("copier", password), ["repository:team-a/app:pull,push"]));
  const thief = { env: sandbox("crane-thief") };
  await runOk(crane, ["auth", "login", berth.host, "-u", ZERO_GUID, "-p", stolen, "--insecure"], thief);
  const copied = await run(crane, ["copy", "--insecure", `${berth.host}/team-b/app:v1`, `${berth.host}/team-a/app:v1`], thief);
  assert.notEqual(copied.code, 0, `crane copied team-b into team-a with a team-a token:\n${copied.stdout}${copied.stderr}`);
  const layer = (await runOk(crane, ["manifest", "--insecure", `${berth.host}/team-b/app:v1`], admin)).stdout;
  const digest = (JSON.parse(layer) as { layers: { digest: string }[] }).layers[0]!.digest;
  const head = await fetch(`${berth.url}/v2/team-a/app/blobs/${digest}`, { method: "HEAD", headers: { authorization: berth.basicAuth } });
  assert.equal(head.status, 404, "team-b's layer reached team-a");
  // With the principal's own credentials the same copy mounts, as it should.
  const owner = { env: sandbox("crane-owner") };
  await runOk(crane, ["auth", "login", berth.host, "-u", "copier", "-p", password, "--insecure"], owner);
  await runOk(crane, ["copy", "--insecure", `${berth.host}/team-b/app:v1`, `${berth.host}/team-a/app:v1`], owner);
});

/** A one-file layer tarball for `crane append`. */
async function tarball(path: string): Promise<string> {
  const { pack } = await import("tar-stream");
  const tar = pack();
  tar.entry({ name: "hello.txt" }, `hello from team-b ${Date.now()}\n`);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

for (const version of HELM_VERSIONS) {
  test(`helm ${version} and oras: a --expose-token token stops at once when the user's password is reset`, { timeout: 180_000 }, async (t) => {
    const helm = await helmClient(t, version);
    const oras = requireTool(t, "oras");
    if (!helm || !oras) return;
    const name = `reset-${version}`;
    const password = await createUser(berth, name, ["acrpush"]);
    const token = await exposedToken(name, password);
    const repo = `${berth.host}/charts-${version}`;
    await helm.run(["registry", "login", berth.host, "-u", ZERO_GUID, "--password-stdin", ...plainHttp], { input: token });
    const chart = await packageChart(helm, { name: "demo", version: "0.1.0" });
    await helm.run(["push", chart.path, `oci://${repo}`, ...plainHttp]);
    for (const sub of ["before", "after"]) await mkdir(join(helm.dir, sub));
    await helm.run(["pull", `oci://${repo}/demo`, "--version", "0.1.0", "--destination", join(helm.dir, "before"), ...plainHttp]);
    const env = sandbox(`oras-${name}`);
    await runOk(oras, ["repo", "tags", "--plain-http", "-u", ZERO_GUID, "-p", token, `${repo}/demo`], { env });

    await api(berth, "POST", `/api/v1/users/${name}/password`, {});

    const pulled = await helm.attempt(["pull", `oci://${repo}/demo`, "--version", "0.1.0", "--destination", join(helm.dir, "after"), ...plainHttp]);
    assert.notEqual(pulled.code, 0, `helm pull with the old token after a password reset succeeded:\n${pulled.stdout}${pulled.stderr}`);
    const listed = await run(oras, ["repo", "tags", "--plain-http", "-u", ZERO_GUID, "-p", token, `${repo}/demo`], { env });
    assert.notEqual(listed.code, 0, `oras with the old token after a password reset succeeded:\n${listed.stdout}`);
  });
}

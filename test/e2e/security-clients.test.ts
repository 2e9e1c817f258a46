// Issue 12's token findings, as real clients meet them (docs/security.md, "Credentials and tokens"):
// - a stolen pull token used as the zero-GUID password never becomes a push (oras asks the token
//   endpoint with it, and is refused);
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

// Real clients signed in as each kind of identity: the admin, a user through `berth login
// --expose-token` and the zero-GUID username (ACR's `az acr login --expose-token`), a service
// principal (id + secret) and a scoped repository token. Each runs helm 3 and helm 4 (registry
// login, push and pull over OCI; repo add, update and pull on the classic repository), oras,
// skopeo and crane (login, then push or copy), all against team/app, which every one of them may
// write. Then the docker config.json `berth login` writes is read by oras, crane and skopeo.
// Finally, Berth's log over the whole scenario (at debug level) holds no secret: no password,
// secret, refresh or access token, nor base64 of user:password.
// Flags for plain HTTP: research/registries.md §5.2, helm.md §3.4–3.5.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { berthBin, startBerth, type RunningBerth } from "../support/berth.ts";
import { helmClient, packageChart, plainHttp, type HelmVersion } from "../support/helm.ts";
import { createServicePrincipal, createToken, createUser, putScopeMap, ZERO_GUID } from "../support/identity-api.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

interface Login {
  kind: "admin" | "user" | "service principal" | "token";
  username: string;
  password: string;
}

let berth: RunningBerth;
let dir: string;
const logins: Login[] = [];
/** Every secret that went by: none may appear in Berth's output. */
const secrets = new Set<string>();

function sandboxEnv(home: string): NodeJS.ProcessEnv {
  // Undefined, not deleted: run() starts from process.env, and spawn leaves undefined values out.
  return {
    HOME: home,
    DOCKER_CONFIG: join(home, ".docker"),
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_RUNTIME_DIR: join(home, "run"),
    REGISTRY_AUTH_FILE: undefined,
    DOCKER_AUTH_CONFIG: undefined,
    BERTH_SERVER: undefined,
    BERTH_USERNAME: undefined,
    BERTH_PASSWORD: undefined,
  };
}

async function sandbox(name: string): Promise<{ home: string; env: NodeJS.ProcessEnv }> {
  const home = await mkdtemp(join(dir, `${name.replace(/\W+/g, "-")}-`));
  await mkdir(join(home, "run"), { recursive: true, mode: 0o700 });
  return { home, env: sandboxEnv(home) };
}

function remember(login: Login): Login {
  secrets.add(login.password);
  secrets.add(Buffer.from(`${login.username}:${login.password}`).toString("base64"));
  logins.push(login);
  return login;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-identity-clients-"));
  berth = await startBerth({ env: { BERTH_LOG_LEVEL: "debug" } });
  remember({ kind: "admin", username: berth.username, password: berth.password });
  await pushImage(new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth }), "team/app", "base", buildImage([randomLayer(512)], "team/app:base"));

  const userPassword = await createUser(berth, "dev", ["acrpush"]);
  secrets.add(userPassword);
  secrets.add(Buffer.from(`dev:${userPassword}`).toString("base64"));
  const { env } = await sandbox("expose");
  const exposed = await runOk(process.execPath, [berthBin, "login", "--server", berth.url, "-u", "dev", "--password-stdin", "--expose-token"], { env, input: `${userPassword}\n` });
  const token = JSON.parse(exposed.stdout) as { accessToken: string; loginServer: string; username: string };
  assert.equal(token.username, ZERO_GUID);
  remember({ kind: "user", username: ZERO_GUID, password: token.accessToken });

  const sp = await createServicePrincipal(berth, "ci", "acrpush", { scope: "team/*" });
  remember({ kind: "service principal", username: sp.id, password: sp.secret });

  await putScopeMap(berth, "team-app", [{ repository: "team/app", actions: ["content/read", "content/write", "metadata/read"] }]);
  remember({ kind: "token", username: "tok-ci", password: await createToken(berth, "tok-ci", "team-app") });
});

after(async () => {
  await berth?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const version = () => `0.${++counter}.0`;

async function helmScenario(t: TestContext, login: Login, helmVersion: HelmVersion): Promise<void> {
  const helm = await helmClient(t, helmVersion);
  if (!helm) return;
  const out = await helm.run(["registry", "login", berth.host, ...plainHttp, "--username", login.username, "--password-stdin"], { input: login.password });
  assert.match(out.stdout + out.stderr, /Login Succeeded/);
  const chart = await packageChart(helm, { name: "app", version: version() });
  await helm.run(["push", chart.path, `oci://${berth.host}/team`, ...plainHttp]);
  const pulled = join(helm.dir, "pulled-oci");
  await mkdir(pulled);
  await helm.run(["pull", `oci://${berth.host}/team/app`, "--version", chart.version, ...plainHttp, "--destination", pulled]);
  assert.deepEqual(await readFile(join(pulled, chart.file)), chart.bytes, "helm pull oci:// gives back the pushed package");
  // The same chart through the classic repository (the `repo` view lists every namespace).
  await helm.run(["repo", "add", "berth", `${berth.url}/helm/v1/repo`, "--username", login.username, "--password-stdin"], { input: login.password }).catch(async () => {
    // Helm 3 before --password-stdin on repo add: the flag form.
    await helm.run(["repo", "add", "berth", `${berth.url}/helm/v1/repo`, "--username", login.username, "--password", login.password]);
  });
  await helm.run(["repo", "update"]);
  const classic = join(helm.dir, "pulled-classic");
  await mkdir(classic);
  await helm.run(["pull", "berth/app", "--version", chart.version, "--destination", classic]);
  assert.deepEqual(await readFile(join(classic, chart.file)), chart.bytes, "helm pull from /helm/v1/repo gives back the same package");
}

async function orasScenario(t: TestContext, login: Login): Promise<void> {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const { home, env } = await sandbox(`oras-${login.kind}`);
  const ok = (args: string[], input?: string) => runOk(oras, args, { env, cwd: home, input });
  await ok(["login", "--plain-http", berth.host, "-u", login.username, "--password-stdin"], login.password);
  const content = `pushed by the ${login.kind} ${randomBytes(8).toString("hex")}\n`;
  await writeFile(join(home, "note.txt"), content);
  const ref = `${berth.host}/team/app:oras-${login.kind.replace(/ /g, "-")}`;
  await ok(["push", "--plain-http", ref, "note.txt:text/plain"]);
  await ok(["pull", "--plain-http", ref, "-o", join(home, "out")]);
  assert.equal(await readFile(join(home, "out/note.txt"), "utf8"), content);
}

async function skopeoScenario(t: TestContext, login: Login): Promise<void> {
  const skopeo = requireTool(t, "skopeo");
  if (!skopeo) return;
  const { home, env } = await sandbox(`skopeo-${login.kind}`);
  const authfile = join(home, "auth.json");
  const ok = (args: string[], input?: string) => runOk(skopeo, args, { env, cwd: home, input });
  await ok(["login", "--tls-verify=false", "--authfile", authfile, "-u", login.username, "--password-stdin", berth.host], login.password);
  const target = `skopeo-${login.kind.replace(/ /g, "-")}`;
  await ok(["--insecure-policy", "copy", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${berth.host}/team/app:base`, `docker://${berth.host}/team/app:${target}`]);
  await assertTag(target);
}

async function craneScenario(t: TestContext, login: Login): Promise<void> {
  const crane = requireTool(t, "crane");
  if (!crane) return;
  const { home, env } = await sandbox(`crane-${login.kind}`);
  const ok = (args: string[], input?: string) => runOk(crane, args, { env, cwd: home, input });
  await ok(["auth", "login", berth.host, "-u", login.username, "--password-stdin"], login.password);
  const target = `crane-${login.kind.replace(/ /g, "-")}`;
  await ok(["copy", `${berth.host}/team/app:base`, `${berth.host}/team/app:${target}`, "--insecure"]);
  await assertTag(target);
}

/** The tag exists and names the base image (checked as the admin). */
async function assertTag(tag: string): Promise<void> {
  const admin = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const [base, copy] = await Promise.all([admin.getManifest("team/app", "base"), admin.getManifest("team/app", tag)]);
  assert.equal(copy.digest, base.digest, `team/app:${tag} is a copy of team/app:base`);
}

for (const kind of ["admin", "user", "service principal", "token"] as const) {
  const login = () => {
    const found = logins.find((l) => l.kind === kind);
    if (!found) throw new Error(`no ${kind} login was set up`);
    return found;
  };
  test(`${kind}: helm3 and helm4 registry login, push and pull oci://; repo add, update and pull on /helm/v1/repo`, { timeout: 120_000 }, async (t) => {
    await helmScenario(t, login(), "v3");
    await helmScenario(t, login(), "v4");
  });
  test(`${kind}: oras login --plain-http, push and pull`, { timeout: 60_000 }, (t) => orasScenario(t, login()));
  test(`${kind}: skopeo login --tls-verify=false and copy`, { timeout: 60_000 }, (t) => skopeoScenario(t, login()));
  test(`${kind}: crane auth login and copy --insecure`, { timeout: 60_000 }, (t) => craneScenario(t, login()));
}

test("the config.json `berth login` writes (no --expose-token) signs in oras, crane and skopeo", { timeout: 90_000 }, async (t) => {
  const { home, env } = await sandbox("docker-config");
  const password = logins.find((l) => l.kind === "admin")!.password;
  const loggedIn = await runOk(process.execPath, [berthBin, "login", berth.host, "-u", "dev", "--password-stdin"], { env, input: `${await userPassword()}\n` });
  assert.match(loggedIn.stdout, /Login Succeeded/);
  const config = JSON.parse(await readFile(join(home, ".docker/config.json"), "utf8")) as { auths: Record<string, { auth?: string }> };
  const stored = Buffer.from(config.auths[berth.host]?.auth ?? "", "base64").toString("utf8");
  assert.ok(stored.startsWith(`${ZERO_GUID}:`), `auths["${berth.host}"] holds the zero-GUID user`);
  secrets.add(stored.slice(ZERO_GUID.length + 1));
  secrets.add(config.auths[berth.host]!.auth!);
  assert.ok(!stored.includes(password));

  const oras = requireTool(t, "oras");
  if (oras) {
    const tags = await runOk(oras, ["repo", "tags", "--plain-http", `${berth.host}/team/app`], { env, cwd: home });
    assert.match(tags.stdout, /^base$/m);
    await runOk(oras, ["pull", "--plain-http", `${berth.host}/team/app:oras-admin`, "-o", join(home, "oras-out")], { env, cwd: home });
  }
  const crane = requireTool(t, "crane");
  if (crane) {
    await runOk(crane, ["copy", `${berth.host}/team/app:base`, `${berth.host}/team/app:from-docker-config`, "--insecure"], { env, cwd: home });
    await assertTag("from-docker-config");
  }
  const skopeo = requireTool(t, "skopeo");
  if (skopeo) {
    const inspected = await runOk(skopeo, ["inspect", "--raw", "--tls-verify=false", "--authfile", join(home, ".docker/config.json"), `docker://${berth.host}/team/app:base`], { env, cwd: home });
    assert.match(inspected.stdout, /"schemaVersion":\s*2/);
  }
  // Signed out, the same commands are refused.
  await runOk(process.execPath, [berthBin, "logout", berth.host], { env });
  if (crane) assert.notEqual((await run(crane, ["digest", `${berth.host}/team/app:base`, "--insecure"], { env, cwd: home })).code, 0, "crane without a login");
});

async function userPassword(): Promise<string> {
  // dev's password is only in the secrets set; reset it for this test and remember the new one.
  const res = await fetch(`${berth.url}/api/v1/users/dev/password`, { method: "POST", headers: { authorization: berth.basicAuth, "content-type": "application/json" }, body: "{}" });
  const body = (await res.json()) as { password: string };
  secrets.add(body.password);
  secrets.add(Buffer.from(`dev:${body.password}`).toString("base64"));
  return body.password;
}

test("Berth's log over the whole scenario holds no password, secret, token or base64 of user:password", () => {
  const log = berth.output();
  assert.match(log, /"msg":"request"/, "the log has request lines (else this check proves nothing)");
  assert.ok(secrets.size >= 10, `only ${secrets.size} secrets collected`);
  const leaked = [...secrets].filter((secret) => log.includes(secret));
  assert.deepEqual(leaked.map((s) => `${s.slice(0, 6)}… (${s.length} chars)`), [], "secrets in Berth's output");
  // Tokens clients fetched on their own never passed through the test: no JWT may appear at all.
  const jwts = log.match(/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g) ?? [];
  assert.deepEqual(jwts.map((j) => `${j.slice(0, 12)}…`), [], "JWTs in Berth's output");
  assert.doesNotMatch(log, /authorization":\s*"(Basic|Bearer) [A-Za-z0-9]/i, "an Authorization header logged unredacted");
});

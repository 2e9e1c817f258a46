// The identity commands as users run them: the real `berth` CLI as a child process against a
// spawned Berth, each assertion on what the command printed and on what the server then allows
// (a printed secret signs in on GET /v2/, a locked repository refuses a push, a stored login
// satisfies oras). The CLI and oras run in a sandbox: HOME and DOCKER_CONFIG in a temp folder,
// no BERTH_* from the machine running the tests.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { berthBin, startBerth, type RunningBerth } from "../support/berth.ts";
import { OciClient, OciError } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

let berth: RunningBerth;
let dir: string;
let env: NodeJS.ProcessEnv;
/** Every secret a command printed: none may appear in the server's output. */
const secrets: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-cli-identities-"));
  await mkdir(join(dir, "home"), { recursive: true });
  berth = await startBerth();
  env = { HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "docker"), XDG_CONFIG_HOME: join(dir, "home/.config") };
  // Undefined, not deleted: run() starts from process.env, and spawn leaves undefined values out.
  for (const name of ["HELM_REGISTRY_CONFIG", "HELM_CONFIG_HOME", "BERTH_SERVER", "BERTH_USERNAME", "BERTH_PASSWORD", "DOCKER_AUTH_CONFIG", "REGISTRY_AUTH_FILE"]) env[name] = undefined;
});

after(async () => {
  if (berth) {
    const log = berth.output();
    await berth.dispose();
    for (const secret of secrets) assert.ok(!log.includes(secret), "a secret the CLI printed appears in Berth's output");
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `berth <args>` with stdin `input`, signed in as admin through BERTH_SERVER/BERTH_USERNAME/BERTH_PASSWORD. */
function berthCli(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; admin?: boolean } = {}) {
  const admin = options.admin === false ? {} : { BERTH_SERVER: berth.url, BERTH_USERNAME: berth.username, BERTH_PASSWORD: berth.password };
  return run(process.execPath, [berthBin, ...args], { env: { ...env, ...admin, ...options.env }, input: options.input });
}

async function ok(args: string[], options: Parameters<typeof berthCli>[1] = {}): Promise<string> {
  const result = await berthCli(args, options);
  assert.equal(result.code, 0, `berth ${args.join(" ")} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result.stdout;
}

async function okJson<T>(args: string[], options: Parameters<typeof berthCli>[1] = {}): Promise<T> {
  return JSON.parse(await ok([...args, "-o", "json"], options)) as T;
}

/** GET /v2/ with Basic user:password: 200 signed in, 401 refused. */
async function v2Status(username: string, password: string): Promise<number> {
  const res = await fetch(`${berth.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` } });
  await res.body?.cancel();
  return res.status;
}

/** `key: value` lines as printDetails writes them. */
function details(text: string): Record<string, string> {
  return Object.fromEntries(text.split("\n").filter((l) => /^\S[^:]*:\s/.test(l)).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
}

const admin = () => new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });

test("the management API answers the admin (GET /api/v1/users → 200)", async () => {
  const res = await fetch(`${berth.url}/api/v1/users`, { headers: { authorization: berth.basicAuth } });
  await res.body?.cancel();
  assert.equal(res.status, 200, "the server side of the identity API is not there yet");
});

test("user add prints a generated password once; it signs in; list shows the user; delete --yes removes it", { timeout: 120_000 }, async () => {
  const connection = ["--server", berth.url, "-u", berth.username, "-p", berth.password];
  const added = await ok(["user", "add", "e2e-alice", "--role", "acrpull", "--role", "AcrPush", ...connection], { admin: false });
  const shown = details(added);
  assert.equal(shown.name, "e2e-alice");
  assert.equal(shown.roles, "acrpull, acrpush");
  assert.ok(shown.password && shown.password.length >= 16, added);
  secrets.push(shown.password);
  assert.equal(await v2Status("e2e-alice", shown.password), 200);

  const given = `pw-${randomBytes(8).toString("hex")}`;
  secrets.push(given);
  const bob = await berthCli(["user", "add", "e2e-bob", "--role", "acrpull", "--password-stdin"], { input: `${given}\n` });
  assert.equal(bob.code, 0, bob.stderr);
  assert.equal(bob.stdout, "Added user e2e-bob (acrpull)\n");
  assert.equal(await v2Status("e2e-bob", given), 200);

  const listed = await okJson<{ users: { name: string; roles: string[] }[] }>(["user", "list"]);
  assert.deepEqual(listed.users.find((u) => u.name === "e2e-alice")?.roles.sort(), ["acrpull", "acrpush"]);
  assert.match(await ok(["user", "list"]), /^NAME\s+ROLES\s+ENABLED\s+CREATED\n(.*\n)*e2e-alice\s+acrpull,acrpush\s+/m);

  const reset = await okJson<{ name: string; password: string }>(["user", "reset-password", "e2e-bob"]);
  secrets.push(reset.password);
  assert.equal(await v2Status("e2e-bob", given), 401, "the old password stops working at once");
  assert.equal(await v2Status("e2e-bob", reset.password), 200);

  const refused = await berthCli(["user", "delete", "e2e-alice"]);
  assert.equal(refused.code, 1, "no terminal and no --yes: nothing deleted");
  assert.equal(await ok(["user", "delete", "e2e-alice", "--yes"]), "Deleted user e2e-alice\n");
  assert.equal(await v2Status("e2e-alice", shown.password), 401);
  const gone = await berthCli(["user", "delete", "e2e-alice", "--yes"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /user e2e-alice not found/);
});

test("sp create prints an ID and a secret that work as Basic credentials on GET /v2/; reset-secret replaces it", { timeout: 120_000 }, async () => {
  const created = await ok(["sp", "create", "--name", "e2e-ci", "--role", "acrpush", "--scope", "team/*", "--expires", "30d"]);
  const shown = details(created);
  assert.match(shown.appId ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(shown.role, "acrpush");
  assert.equal(shown.scope, "team/*");
  assert.notEqual(shown.expires, "never");
  assert.ok(shown.secret, created);
  secrets.push(shown.secret);
  assert.equal(await v2Status(shown.appId ?? "", shown.secret), 200);

  const json = await okJson<{ id: string; secret: string; role: string; expires: string | null }>(["sp", "create", "--name", "e2e-reader", "--role", "acrpull"]);
  secrets.push(json.secret);
  assert.equal(json.role, "acrpull");
  assert.equal(json.expires, null);
  assert.equal(await v2Status(json.id, json.secret), 200);

  const listed = await okJson<{ servicePrincipals: { id: string; name: string }[] }>(["sp", "list"]);
  assert.deepEqual(listed.servicePrincipals.filter((sp) => sp.name.startsWith("e2e-")).map((sp) => sp.id).sort(), [shown.appId, json.id].sort());

  const reset = await okJson<{ id: string; secret: string }>(["sp", "reset-secret", json.id]);
  secrets.push(reset.secret);
  assert.equal(await v2Status(json.id, json.secret), 401);
  assert.equal(await v2Status(json.id, reset.secret), 200);
  assert.equal(await ok(["sp", "delete", json.id, "--yes"]), `Deleted service principal ${json.id}\n`);
  assert.equal(await v2Status(json.id, reset.secret), 401);
});

test("scope-map create/show; token create signs in; rotate keeps the other slot; disable and enable", { timeout: 180_000 }, async () => {
  const created = await ok(["scope-map", "create", "e2e-map", "--repository", "team/app", "--action", "content/read", "--action", "content/write", "--repository", "base/*:content/read", "--description", "e2e rules"]);
  assert.match(created, /^Created scope map e2e-map\n/);
  const map = await okJson<{ name: string; description: string; rules: { repository: string; actions: string[] }[] }>(["scope-map", "show", "e2e-map"]);
  assert.equal(map.description, "e2e rules");
  assert.deepEqual(map.rules, [
    { repository: "team/app", actions: ["content/read", "content/write"] },
    { repository: "base/*", actions: ["content/read"] },
  ]);
  assert.match(await ok(["scope-map", "show", "e2e-map"]), /REPOSITORY\s+ACTIONS\nteam\/app\s+content\/read, content\/write\nbase\/\*\s+content\/read/);
  const again = await berthCli(["scope-map", "create", "e2e-map", "--repository", "x", "--action", "content/read"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists: pass --replace/);

  const token = await ok(["token", "create", "e2e-token", "--scope-map", "e2e-map"]);
  const shown = details(token);
  assert.equal(shown["scope map"], "e2e-map");
  assert.ok(shown.password1, token);
  secrets.push(shown.password1);
  assert.equal(await v2Status("e2e-token", shown.password1), 200);

  const second = await okJson<{ slot: number; password: string; expires: string | null }>(["token", "rotate", "e2e-token", "--password", "2", "--expires", "1h"]);
  secrets.push(second.password);
  assert.equal(second.slot, 2);
  assert.ok(second.expires && Math.abs(Date.parse(second.expires) - Date.now() - 3_600_000) < 120_000, `expires ${second.expires}`);
  assert.equal(await v2Status("e2e-token", shown.password1), 200, "password1 still works");
  assert.equal(await v2Status("e2e-token", second.password), 200);

  const first = await okJson<{ slot: number; password: string }>(["token", "rotate", "e2e-token", "--password", "1"]);
  secrets.push(first.password);
  assert.equal(await v2Status("e2e-token", shown.password1), 401, "the replaced password1 stops working");
  assert.equal(await v2Status("e2e-token", first.password), 200);

  assert.equal(await ok(["token", "disable", "e2e-token"]), "Disabled token e2e-token\n");
  assert.equal(await v2Status("e2e-token", first.password), 401);
  assert.equal(await ok(["token", "enable", "e2e-token"]), "Enabled token e2e-token\n");
  assert.equal(await v2Status("e2e-token", first.password), 200);

  const listed = await okJson<{ tokens: { name: string; scopeMap: string; passwords: { slot: number }[] }[] }>(["token", "list"]);
  const entry = listed.tokens.find((t) => t.name === "e2e-token");
  assert.equal(entry?.scopeMap, "e2e-map");
  assert.deepEqual(entry?.passwords.map((p) => p.slot).sort(), [1, 2]);

  const expiring = await okJson<{ passwords: { slot: number; password: string; expires: string | null }[] }>(["token", "create", "e2e-expiring", "--scope-map", "e2e-map", "--expires", "2h"]);
  secrets.push(expiring.passwords[0]!.password);
  assert.ok(expiring.passwords[0]?.expires, "--expires gives password1 an expiry");
  assert.equal(await v2Status("e2e-expiring", expiring.passwords[0]!.password), 200);

  const inUse = await berthCli(["scope-map", "delete", "e2e-map", "--yes"]);
  assert.equal(inUse.code, 1, "a map tokens are bound to is not deleted");
  assert.match(inUse.stderr, /^berth: cannot delete scope map e2e-map: .*e2e-token/);
  await ok(["token", "delete", "e2e-token", "--yes"]);
  await ok(["token", "delete", "e2e-expiring", "--yes"]);
  assert.equal(await ok(["scope-map", "delete", "e2e-map", "--yes"]), "Deleted scope map e2e-map\n");
});

test("repository update --write-enabled false refuses the next push with 403; true allows it again", { timeout: 120_000 }, async () => {
  await pushImage(admin(), "e2e/locked", "v1", buildImage([randomLayer(512)], "v1"));
  const locked = await okJson<{ repository: string; writeEnabled: boolean; readEnabled: boolean }>(["repository", "update", "e2e/locked", "--write-enabled", "false"]);
  assert.equal(locked.repository, "e2e/locked");
  assert.equal(locked.writeEnabled, false);
  assert.equal(locked.readEnabled, true);
  assert.match(await ok(["repository", "show", "e2e/locked"]), /^write enabled:\s+no$/m);

  await assert.rejects(pushImage(admin(), "e2e/locked", "v2", buildImage([randomLayer(512)], "v2")), (err: unknown) => err instanceof OciError && err.status === 403);

  await ok(["repository", "update", "e2e/locked", "--write-enabled", "true"]);
  await pushImage(admin(), "e2e/locked", "v2", buildImage([randomLayer(512)], "v2"));

  const tag = await okJson<{ tag?: string; deleteEnabled: boolean }>(["repository", "update", "e2e/locked", "--tag", "v1", "--delete-enabled", "false"]);
  assert.equal(tag.tag, "v1");
  assert.equal(tag.deleteEnabled, false);
});

test("berth login --expose-token prints the ACR shape; the token is the zero-GUID user's password on GET /v2/", { timeout: 60_000 }, async () => {
  const result = await berthCli(["login", "--server", berth.url, "-u", berth.username, "--password-stdin", "--expose-token"], { input: `${berth.password}\n`, admin: false });
  assert.equal(result.code, 0, result.stderr);
  const exposed = JSON.parse(result.stdout) as { accessToken: string; loginServer: string; username: string };
  assert.deepEqual(Object.keys(exposed), ["accessToken", "loginServer", "username"]);
  assert.equal(exposed.loginServer, berth.host);
  assert.equal(exposed.username, ZERO_GUID);
  secrets.push(exposed.accessToken);
  assert.match(result.stderr, new RegExp(`docker login ${berth.host} -u ${ZERO_GUID} --password-stdin`));
  assert.equal(await v2Status(ZERO_GUID, exposed.accessToken), 200);
  assert.equal(await v2Status(ZERO_GUID, "not-a-token"), 401);
});

test("berth login writes a config.json that oras repo tags --plain-http accepts, and berth commands reuse; logout removes it", { timeout: 120_000 }, async (t) => {
  await pushImage(admin(), "e2e/tags", "v1", buildImage([randomLayer(256)], "tags"));
  const login = await berthCli(["login", berth.host, "-u", berth.username, "-p", berth.password], { admin: false });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(login.stdout, "Login Succeeded\n");
  const config = JSON.parse(await readFile(join(dir, "docker/config.json"), "utf8")) as { auths: Record<string, { auth: string }> };
  const [user, token] = Buffer.from(config.auths[berth.host]?.auth ?? "", "base64").toString().split(/:(.*)/s);
  assert.equal(user, ZERO_GUID);
  secrets.push(token ?? "");

  // Other berth commands sign in with the stored login: no -u/-p, no BERTH_USERNAME.
  const listed = JSON.parse(await ok(["user", "list", "--server", berth.host, "-o", "json"], { admin: false })) as { users: unknown[] };
  assert.ok(Array.isArray(listed.users));

  const oras = requireTool(t, "oras");
  if (oras) {
    const tags = await runOk(oras, ["repo", "tags", "--plain-http", `${berth.host}/e2e/tags`], { env: { ...env }, cwd: dir });
    assert.equal(tags.stdout.trim(), "v1");
  }

  assert.match(await ok(["logout", berth.host], { admin: false }), /^Removed login credentials for /);
  const loggedOut = JSON.parse(await readFile(join(dir, "docker/config.json"), "utf8")) as { auths: Record<string, unknown> };
  assert.equal(loggedOut.auths[berth.host], undefined);
});

test("audit lists what the tests above did, newest first, as a table and as JSON", { timeout: 60_000 }, async () => {
  const found = await okJson<{ events: { at: string; event: string; identity: string; action: string; repository: string | null; outcome: string }[] }>(["audit", "--limit", "500"]);
  assert.ok(found.events.length > 0, "no audit events");
  const times = found.events.map((e) => Date.parse(e.at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
  const text = JSON.stringify(found.events);
  for (const name of ["e2e-alice", "e2e-token", "e2e-map"]) assert.ok(text.includes(name), `no audit event mentions ${name}`);
  assert.ok(found.events.some((e) => e.outcome !== "success" && (e.repository === "e2e/locked" || text.includes("e2e/locked"))), "the refused push is not in the audit");
  for (const secret of secrets) assert.ok(!text.includes(secret), "a secret appears in the audit trail");

  // Filtered on the server: the same events as filtering the whole trail.
  const denied = await okJson<typeof found>(["audit", "--limit", "500", "--outcome", "denied", "--since", found.events.at(-1)!.at]);
  assert.deepEqual(denied.events, found.events.filter((e) => e.outcome === "denied"));
  const alice = await okJson<typeof found>(["audit", "--limit", "500", "--identity", "e2e-alice"]);
  assert.ok(alice.events.length > 0 && alice.events.every((e) => e.identity === "e2e-alice"), JSON.stringify(alice.events.slice(0, 3)));

  const table = await ok(["audit", "--limit", "5"]);
  assert.match(table, /^AT\s+EVENT\s+IDENTITY\s+ACTION\s+REPOSITORY\s+OUTCOME\s+CLIENT\n/);
  assert.equal(table.trimEnd().split("\n").length, 6, "a header and five events");
});

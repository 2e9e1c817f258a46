// The identity commands' own logic, without a Berth: durations, scope-map arguments, the docker
// config.json `berth login` writes and `berth logout` removes, and login's exchange against a fake
// token service. Every HOME and DOCKER_CONFIG is a temp folder: the real ones are never read or written.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Command } from "@commander-js/extra-typings";
import { berthBin, runBerthCli } from "../support/berth.ts";
import {
  actionRuleOption,
  ArgumentError,
  parseBoolean,
  parseDuration,
  parsePositiveInteger,
  parseRole,
  parseSlot,
  repositoryRuleOption,
  scopeMapRules,
  type RuleArgument,
} from "../../src/cli/arguments.ts";
import { resolveConnection, serverUrl } from "../../src/cli/client.ts";
import { dockerConfigPath, removeLogin, saveLogin, ZERO_GUID } from "../../src/cli/docker-login.ts";
import { challengeParameters } from "../../src/cli/login.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64");

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-cli-identities-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment for a `berth` child: HOME and DOCKER_CONFIG in the temp folder, no BERTH_* from the machine. */
function sandboxEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "docker"), XDG_CONFIG_HOME: join(dir, "home/.config"), ...extra };
  for (const name of ["HELM_REGISTRY_CONFIG", "HELM_CONFIG_HOME", "BERTH_SERVER", "BERTH_USERNAME", "BERTH_PASSWORD"]) if (!(name in extra)) delete env[name];
  return env;
}

/** runBerthCli with `input` on stdin (a pipe, as `echo "$PW" | berth ... --password-stdin`). */
function runWithInput(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [berthBin, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => ok({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

// ---------------------------------------------------------------------------------------------
// Values

test("parseDuration: 30d, 12h, 90m, 3600s and plain seconds become seconds", () => {
  assert.equal(parseDuration("30d"), 30 * 86_400);
  assert.equal(parseDuration("12h"), 43_200);
  assert.equal(parseDuration("90m"), 5_400);
  assert.equal(parseDuration("3600s"), 3_600);
  assert.equal(parseDuration("3600"), 3_600);
  assert.equal(parseDuration("1D"), 86_400, "units in either case");
  assert.equal(parseDuration(" 2h "), 7_200);
});

test("parseDuration: refuses zero, fractions, signs, unknown units and absurd lengths, saying what works", () => {
  for (const bad of ["", "0", "0d", "1.5h", "-1h", "+1h", "5x", "d", "1 week", "1h30m", "99999999999999999999d"]) {
    assert.throws(() => parseDuration(bad), ArgumentError, bad);
  }
  assert.throws(() => parseDuration("5x"), /use a whole number with s, m, h or d, e\.g\. 30d/);
  assert.throws(() => parseDuration("0"), /zero/);
});

test("parseBoolean, parseSlot, parseRole, parsePositiveInteger take only what the API takes", () => {
  assert.equal(parseBoolean("true"), true);
  assert.equal(parseBoolean("FALSE"), false);
  assert.throws(() => parseBoolean("yes"), /not true or false/);
  assert.equal(parseSlot("1"), 1);
  assert.equal(parseSlot("2"), 2);
  assert.throws(() => parseSlot("3"), /use 1 or 2/);
  assert.equal(parseRole("AcrPush"), "acrpush", "ACR's spelling");
  assert.equal(parseRole("owner"), "owner");
  assert.throws(() => parseRole("contributor"), /use acrpull, acrpush, acrdelete, owner/);
  assert.equal(parsePositiveInteger("20"), 20);
  for (const bad of ["0", "-1", "1.5", "ten", ""]) assert.throws(() => parsePositiveInteger(bad), ArgumentError, bad);
});

// ---------------------------------------------------------------------------------------------
// Scope-map rules

const arg = (option: RuleArgument["option"], value: string, order: number): RuleArgument => ({ option, value, order });

test("scopeMapRules: each --action belongs to the --repository before it, whatever order the lists come in", () => {
  const repositories = [arg("repository", "team/app", 0), arg("repository", "base/*", 3)];
  const actions = [arg("action", "content/read", 1), arg("action", "content/write", 2), arg("action", "content/read", 4)];
  assert.deepEqual(scopeMapRules([...actions, ...repositories]), [
    { repository: "team/app", actions: ["content/read", "content/write"] },
    { repository: "base/*", actions: ["content/read"] },
  ]);
});

test("scopeMapRules: the team/app:content/read,content/write shorthand, comma lists, and a repository named twice merge", () => {
  assert.deepEqual(
    scopeMapRules([
      arg("repository", "team/app:content/read,content/write", 0),
      arg("action", "metadata/read,content/read", 1),
      arg("repository", "*:content/read", 2),
      arg("repository", "team/app", 3),
      arg("action", "content/delete", 4),
    ]),
    [
      { repository: "team/app", actions: ["content/read", "content/write", "metadata/read", "content/delete"] },
      { repository: "*", actions: ["content/read"] },
    ],
  );
});

test("scopeMapRules: says what is wrong: an action first, a repository without actions, an unknown action, nothing at all", () => {
  assert.throws(() => scopeMapRules([arg("action", "content/read", 0), arg("repository", "team/app", 1)]), /--action content\/read comes before any --repository/);
  assert.throws(() => scopeMapRules([arg("repository", "team/app", 0), arg("repository", "other", 1), arg("action", "content/read", 2)]), /--repository team\/app has no --action/);
  assert.throws(() => scopeMapRules([arg("repository", "team/app", 0), arg("action", "pull", 1)]), /"pull" is not a scope-map action; use content\/read, content\/write/);
  assert.throws(() => scopeMapRules([arg("repository", "team/app:", 0)]), /empty action/);
  assert.throws(() => scopeMapRules([arg("repository", ":content/read", 0)]), /pattern is empty/);
  assert.throws(() => scopeMapRules([]), /at least one --repository/);
});

test("scope-map options: commander's parse keeps the command line's order across --repository and --action", async () => {
  const parse = async (argv: string[]) => {
    const command = new Command("create").exitOverride().addOption(repositoryRuleOption()).addOption(actionRuleOption());
    await command.parseAsync(argv, { from: "user" });
    const options = command.opts();
    return scopeMapRules([...(options.repository ?? []), ...(options.action ?? [])]);
  };
  assert.deepEqual(await parse(["--repository", "a", "--action", "content/read", "--repository", "b", "--action", "content/write", "--action", "metadata/read"]), [
    { repository: "a", actions: ["content/read"] },
    { repository: "b", actions: ["content/write", "metadata/read"] },
  ]);
  // A second parse (a second command in one process) starts its own order after the first.
  assert.deepEqual(await parse(["--repository", "c:content/delete", "--repository", "d", "--action", "content/read"]), [
    { repository: "c", actions: ["content/delete"] },
    { repository: "d", actions: ["content/read"] },
  ]);
});

// ---------------------------------------------------------------------------------------------
// docker config.json

test("dockerConfigPath: $DOCKER_CONFIG/config.json, else ~/.docker/config.json", () => {
  assert.equal(dockerConfigPath({ DOCKER_CONFIG: "/tmp/x" }, "/home/u"), "/tmp/x/config.json");
  assert.equal(dockerConfigPath({}, "/home/u"), "/home/u/.docker/config.json");
});

test("saveLogin creates the folders and a 0600 config.json holding base64(zero-GUID:token) under host:port", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "deep/docker/config.json");
  const saved = await saveLogin(path, serverUrl("127.0.0.1:5000"), ZERO_GUID, "refresh-token-1");
  assert.deepEqual(saved, { path, key: "127.0.0.1:5000" });
  assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { auths: { "127.0.0.1:5000": { auth: b64(`${ZERO_GUID}:refresh-token-1`) } } });
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(join(dir, "deep/docker")), ["config.json"], "no temp file left behind");

  // What `berth login` stored is what the other commands then sign in with.
  const found = await resolveConnection({ flags: { server: "127.0.0.1:5000" }, env: { DOCKER_CONFIG: join(dir, "deep/docker") }, home: join(dir, "nohome"), credentialHelper: () => null });
  assert.deepEqual(found.credentials, { username: ZERO_GUID, password: "refresh-token-1", source: path });
});

test("saveLogin keeps other registries and other settings, and replaces every entry for the same host:port", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "config.json");
  await writeFile(path, JSON.stringify({
    auths: { "ghcr.io": { auth: b64("me:gh") }, "http://localhost:5000/": { auth: b64("old:old") }, "localhost:5000": { auth: b64("old2:old2") }, "localhost:5001": { auth: b64("other:port") } },
    psFormat: "table {{.ID}}",
  }), { mode: 0o644 });
  await saveLogin(path, serverUrl("localhost:5000"), ZERO_GUID, "new-token");
  const config = JSON.parse(await readFile(path, "utf8"));
  assert.deepEqual(config, {
    auths: { "ghcr.io": { auth: b64("me:gh") }, "localhost:5001": { auth: b64("other:port") }, "localhost:5000": { auth: b64(`${ZERO_GUID}:new-token`) } },
    psFormat: "table {{.ID}}",
  });
  assert.equal((await stat(path)).mode & 0o777, 0o600, "tightened to 0600, as the file now holds a token");
});

test("saveLogin warns when a credential helper would be asked instead, and follows a symlinked config.json", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "dotfiles"));
  const real = join(dir, "dotfiles/docker.json");
  await writeFile(real, JSON.stringify({ credsStore: "desktop" }));
  const link = join(dir, "config.json");
  await symlink(real, link);
  const saved = await saveLogin(link, serverUrl("https://registry.example.com"), ZERO_GUID, "t");
  assert.match(saved.warning ?? "", /credential helper "desktop"/);
  assert.ok((await lstat(link)).isSymbolicLink(), "the link is kept");
  assert.deepEqual(JSON.parse(await readFile(real, "utf8")).auths, { "registry.example.com": { auth: b64(`${ZERO_GUID}:t`) } });
});

test("saveLogin leaves a config.json that is not JSON alone and says so", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "config.json");
  await writeFile(path, "{ not json");
  await assert.rejects(saveLogin(path, serverUrl("localhost:5000"), ZERO_GUID, "t"), /is not valid JSON: fix or remove it/);
  assert.equal(await readFile(path, "utf8"), "{ not json");
});

test("removeLogin removes this server's entries only; a second logout finds nothing", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "config.json");
  await writeFile(path, JSON.stringify({ auths: { "localhost:5000": { auth: b64("a:b") }, "ghcr.io": { auth: b64("c:d") } }, credsStore: "pass" }));
  assert.deepEqual(await removeLogin(path, serverUrl("localhost:5000")), ["localhost:5000"]);
  assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { auths: { "ghcr.io": { auth: b64("c:d") } }, credsStore: "pass" });
  assert.deepEqual(await removeLogin(path, serverUrl("localhost:5000")), []);
  assert.deepEqual(await removeLogin(join(dir, "missing/config.json"), serverUrl("localhost:5000")), [], "no file: nothing to remove");
});

// ---------------------------------------------------------------------------------------------
// login and logout as child processes, against a fake token service

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
}

/** A stand-in for Berth's token service: the /v2/ challenge and POST /oauth2/exchange. */
async function fakeTokenService(t: TestContext, exchange: (form: URLSearchParams) => { status: number; body: unknown }): Promise<{ host: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, body });
      const host = req.headers.host ?? "";
      if (req.url === "/v2/") {
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/oauth2/token",service="berth.test"`, "content-type": "application/json" });
        return res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      }
      if (req.method === "POST" && req.url === "/oauth2/exchange") {
        const answer = exchange(new URLSearchParams(body));
        res.writeHead(answer.status, { "content-type": "application/json" });
        return res.end(JSON.stringify(answer.body));
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const address = server.address();
  return { host: `127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, seen };
}

const goodExchange = (form: URLSearchParams) =>
  form.get("username") === "alice" && form.get("password") === "alice-pw"
    ? { status: 200, body: { refresh_token: "rt-123", expires_in: 10_800 } }
    : { status: 401, body: { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] } };

test("berth login: exchanges the password for the challenge's service and stores zero-GUID:refresh token", async (t) => {
  const dir = await tempDir(t);
  const { host, seen } = await fakeTokenService(t, goodExchange);
  const run = await runBerthCli(["login", host, "-u", "alice", "-p", "alice-pw"], sandboxEnv(dir));
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "Login Succeeded\n");
  assert.doesNotMatch(run.stdout + run.stderr, /alice-pw|rt-123/, "neither the password nor the token is printed");
  const exchange = seen.find((s) => s.url === "/oauth2/exchange");
  assert.ok(exchange);
  assert.equal(exchange.authorization, undefined);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(exchange.body)), { grant_type: "password", username: "alice", password: "alice-pw", service: "berth.test" });
  const config = JSON.parse(await readFile(join(dir, "docker/config.json"), "utf8"));
  assert.deepEqual(config, { auths: { [host]: { auth: b64(`${ZERO_GUID}:rt-123`) } } });
  await assert.rejects(stat(join(dir, "home/.docker")), "the HOME fallback is untouched when DOCKER_CONFIG is set");

  const out = await runBerthCli(["logout", "--server", host], sandboxEnv(dir));
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`^Removed login credentials for ${host}`));
  assert.deepEqual(JSON.parse(await readFile(join(dir, "docker/config.json"), "utf8")), { auths: {} });
  const again = await runBerthCli(["logout", host], sandboxEnv(dir));
  assert.match(again.stdout, /^Not logged in to /);
});

test("berth login --expose-token prints accessToken, loginServer and the zero-GUID user, stores nothing, hints on stderr", async (t) => {
  const dir = await tempDir(t);
  const { host } = await fakeTokenService(t, goodExchange);
  const run = await runWithInput(["login", "--server", `http://${host}`, "-u", "alice", "--password-stdin", "--expose-token"], sandboxEnv(dir), "alice-pw\n");
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { accessToken: "rt-123", loginServer: host, username: ZERO_GUID });
  assert.deepEqual(Object.keys(JSON.parse(run.stdout)), ["accessToken", "loginServer", "username"]);
  assert.match(run.stderr, new RegExp(`docker login ${host} -u ${ZERO_GUID} --password-stdin`));
  assert.doesNotMatch(run.stderr, /rt-123|alice-pw/);
  await assert.rejects(stat(join(dir, "docker/config.json")), "nothing stored");
});

test("berth login: a refused password exits 1 without echoing it; no terminal and no password is an error, not a hang", async (t) => {
  const dir = await tempDir(t);
  const { host } = await fakeTokenService(t, goodExchange);
  const refused = await runBerthCli(["login", host, "-u", "alice", "-p", "wrong-pw"], sandboxEnv(dir));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^berth: sign-in refused by http:\/\/127\.0\.0\.1:\d+: wrong user name or password/);
  assert.doesNotMatch(refused.stderr, /wrong-pw/);
  const noPassword = await runBerthCli(["login", host, "-u", "alice"], sandboxEnv(dir));
  assert.equal(noPassword.code, 1);
  assert.match(noPassword.stderr, /--password-stdin/);
  const noServer = await runBerthCli(["login", "-u", "alice", "-p", "x"], sandboxEnv(dir));
  assert.equal(noServer.code, 1);
  assert.match(noServer.stderr, /which Berth\?/);
});

test("challengeParameters reads realm and service from a Bearer challenge", () => {
  assert.deepEqual(challengeParameters('Bearer realm="http://h:5000/oauth2/token",service="h:5000",scope="repository:a/b:pull,push"'), {
    realm: "http://h:5000/oauth2/token",
    service: "h:5000",
    scope: "repository:a/b:pull,push",
  });
  assert.deepEqual(challengeParameters('Basic realm="berth"'), {});
});

// ---------------------------------------------------------------------------------------------
// Refusals that need no server

test("delete commands refuse without a terminal and without --yes; bad values fail before any request", async (t) => {
  const dir = await tempDir(t);
  const connection = ["--server", "http://127.0.0.1:9", "-u", "admin", "-p", "pw"];
  const deletes = [["user", "delete", "alice"], ["sp", "delete", "id"], ["scope-map", "delete", "m"], ["token", "delete", "t"]];
  const [expires, rules, nothing, ...deleted] = await Promise.all([
    runBerthCli(["sp", "create", "--name", "ci", "--role", "acrpull", "--expires", "5x", ...connection], sandboxEnv(dir)),
    runBerthCli(["scope-map", "create", "m", "--action", "content/read", "--repository", "a", ...connection], sandboxEnv(dir)),
    runBerthCli(["repository", "update", "team/app", ...connection], sandboxEnv(dir)),
    ...deletes.map((args) => runBerthCli([...args, ...connection], sandboxEnv(dir))),
  ]);
  deleted.forEach((run, i) => {
    assert.equal(run.code, 1, `${deletes[i]!.join(" ")}: ${run.stderr}`);
    assert.equal(run.stderr, "berth: not deleting without confirmation: no terminal to ask on; pass --yes\n");
  });
  assert.equal(expires!.code, 1);
  assert.match(expires!.stderr, /--expires <duration>.*is invalid.*whole number with s, m, h or d/s);
  assert.equal(rules!.code, 1);
  assert.match(rules!.stderr, /--action content\/read comes before any --repository/);
  assert.equal(nothing!.code, 1);
  assert.match(nothing!.stderr, /nothing to change/);
});

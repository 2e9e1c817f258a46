// The CLI client's server and credential resolution (flags > environment > helm registry login >
// docker login) and how it words the server's errors. Every environment and home directory is
// a temp one passed in: the real HOME and process.env are never read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { z } from "zod";
import { freePort } from "../support/berth.ts";
import { BerthClient, CliError, keyMatches, loginConfigPaths, resolveConnection, serverUrl, type ResolveInput } from "../../src/cli/client.ts";
import { program } from "../../src/cli/program.ts";
import { AdminView } from "../../src/api-contract/identities.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64");

async function tempHome(t: TestContext): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "berth-cli-home-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  return home;
}

async function writeConfig(path: string, config: unknown): Promise<string> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, JSON.stringify(config));
  return path;
}

const noHelper: ResolveInput["credentialHelper"] = () => null;

test("serverUrl: a bare host:port is http for localhost and 127.x, https elsewhere; URLs are kept", () => {
  assert.equal(serverUrl("localhost:5000").href, "http://localhost:5000/");
  assert.equal(serverUrl("127.0.0.1:5000").href, "http://127.0.0.1:5000/");
  assert.equal(serverUrl("[::1]:5000").href, "http://[::1]:5000/");
  assert.equal(serverUrl("registry.example.com").href, "https://registry.example.com/");
  assert.equal(serverUrl("registry.example.com:8443").href, "https://registry.example.com:8443/");
  assert.equal(serverUrl("http://registry.example.com:5000/").href, "http://registry.example.com:5000/");
  assert.equal(serverUrl("https://example.com/berth/").href, "https://example.com/berth");
  assert.equal(serverUrl("oci://localhost:5000").href, "http://localhost:5000/");
  assert.throws(() => serverUrl("ftp://example.com"), CliError);
  assert.throws(() => serverUrl("http://admin:pw@example.com"), /--username\/--password/);
  assert.throws(() => serverUrl(""), CliError);
});

test("keyMatches: same host and port; a key without a port means the scheme's default", () => {
  const local = serverUrl("localhost:5000");
  assert.ok(keyMatches("localhost:5000", local));
  assert.ok(keyMatches("http://localhost:5000", local));
  assert.ok(keyMatches("https://LOCALHOST:5000/v1/", local));
  assert.ok(!keyMatches("localhost", local));
  assert.ok(!keyMatches("localhost:5001", local));
  assert.ok(!keyMatches("127.0.0.1:5000", local));
  const remote = serverUrl("registry.example.com");
  assert.ok(keyMatches("registry.example.com", remote));
  assert.ok(keyMatches("registry.example.com:443", remote));
  assert.ok(keyMatches("https://registry.example.com/v1/", remote));
  assert.ok(!keyMatches("registry.example.com:5000", remote));
  assert.ok(!keyMatches("example.com", remote));
  assert.ok(keyMatches("registry.example.com:80", serverUrl("http://registry.example.com")));
});

test("loginConfigPaths: HELM_REGISTRY_CONFIG, else helm's config home; DOCKER_CONFIG, else ~/.docker", () => {
  assert.deepEqual(loginConfigPaths({}, "/h"), ["/h/.config/helm/registry/config.json", "/h/.docker/config.json"]);
  assert.deepEqual(loginConfigPaths({ HELM_REGISTRY_CONFIG: "/r.json", DOCKER_CONFIG: "/d" }, "/h"), ["/r.json", "/d/config.json"]);
  assert.deepEqual(loginConfigPaths({ XDG_CONFIG_HOME: "/x" }, "/h")[0], "/x/helm/registry/config.json");
  assert.deepEqual(loginConfigPaths({ HELM_CONFIG_HOME: "/hc", XDG_CONFIG_HOME: "/x" }, "/h")[0], "/hc/registry/config.json");
});

test("resolveConnection: flags win over the environment, which wins over the config files", async (t) => {
  const home = await tempHome(t);
  await writeConfig(join(home, ".config/helm/registry/config.json"), { auths: { "localhost:5000": { auth: b64("helmuser:helmpw") } } });
  await writeConfig(join(home, ".docker/config.json"), { auths: { "localhost:5000": { auth: b64("dockeruser:dockerpw") } } });
  const env = { BERTH_SERVER: "localhost:5000", BERTH_USERNAME: "envuser", BERTH_PASSWORD: "envpw" };

  const fromFlags = await resolveConnection({ flags: { server: "http://localhost:5000", username: "flaguser", password: "flagpw" }, env, home, credentialHelper: noHelper });
  assert.equal(fromFlags.server.href, "http://localhost:5000/");
  assert.deepEqual(fromFlags.credentials, { username: "flaguser", password: "flagpw", source: "--username/--password" });

  const fromEnv = await resolveConnection({ flags: {}, env, home, credentialHelper: noHelper });
  assert.equal(fromEnv.server.href, "http://localhost:5000/");
  assert.deepEqual(fromEnv.credentials, { username: "envuser", password: "envpw", source: "BERTH_USERNAME/BERTH_PASSWORD" });

  const mixed = await resolveConnection({ flags: { username: "flaguser" }, env, home, credentialHelper: noHelper });
  assert.equal(mixed.credentials?.username, "flaguser");
  assert.equal(mixed.credentials?.password, "envpw");

  const fromHelm = await resolveConnection({ flags: { server: "localhost:5000" }, env: {}, home, credentialHelper: noHelper });
  assert.deepEqual(fromHelm.credentials, { username: "helmuser", password: "helmpw", source: join(home, ".config/helm/registry/config.json") });

  await rm(join(home, ".config"), { recursive: true });
  const fromDocker = await resolveConnection({ flags: { server: "localhost:5000" }, env: {}, home, credentialHelper: noHelper });
  assert.deepEqual(fromDocker.credentials, { username: "dockeruser", password: "dockerpw", source: join(home, ".docker/config.json") });
});

test("resolveConnection: HELM_REGISTRY_CONFIG and DOCKER_CONFIG point elsewhere; username/password fields work too", async (t) => {
  const home = await tempHome(t);
  const helmConfig = await writeConfig(join(home, "elsewhere/helm.json"), { auths: { "registry.example.com": { username: "u1", password: "p:with:colons" } } });
  const dockerDir = join(home, "dockercfg");
  await writeConfig(join(dockerDir, "config.json"), { auths: { "https://other.example.com/v1/": { auth: b64("u2:p2:x") } } });
  const env = { HELM_REGISTRY_CONFIG: helmConfig, DOCKER_CONFIG: dockerDir };

  const helm = await resolveConnection({ flags: { server: "https://registry.example.com:443" }, env, home, credentialHelper: noHelper });
  assert.deepEqual(helm.credentials, { username: "u1", password: "p:with:colons", source: helmConfig });
  const docker = await resolveConnection({ flags: { server: "other.example.com" }, env, home, credentialHelper: noHelper });
  assert.deepEqual(docker.credentials, { username: "u2", password: "p2:x", source: join(dockerDir, "config.json") });
  const none = await resolveConnection({ flags: { server: "registry.example.com:5000" }, env, home, credentialHelper: noHelper });
  assert.equal(none.credentials, null, "a login for another port is not used");
});

test("resolveConnection: a credential helper (credHelpers, or credsStore with an empty auths entry) is asked for the host", async (t) => {
  const home = await tempHome(t);
  const asked: string[] = [];
  const helper: ResolveInput["credentialHelper"] = (name, host) => {
    asked.push(`${name} ${host}`);
    return { username: `${name}-user`, password: "secret" };
  };
  await writeConfig(join(home, ".docker/config.json"), { auths: { "b.example.com": {} }, credsStore: "desktop", credHelpers: { "a.example.com": "pass" } });
  const a = await resolveConnection({ flags: { server: "a.example.com" }, env: {}, home, credentialHelper: helper });
  assert.equal(a.credentials?.username, "pass-user");
  const b = await resolveConnection({ flags: { server: "b.example.com" }, env: {}, home, credentialHelper: helper });
  assert.equal(b.credentials?.username, "desktop-user");
  assert.deepEqual(asked, ["pass a.example.com", "desktop b.example.com"]);
});

test("resolveConnection: without a server it asks for --server and lists the logins it found, even a single one", async (t) => {
  const home = await tempHome(t);
  await assert.rejects(resolveConnection({ flags: {}, env: {}, home }), (err: Error) => err instanceof CliError && /--server/.test(err.message) && /BERTH_SERVER/.test(err.message));
  await writeConfig(join(home, ".config/helm/registry/config.json"), { auths: { "localhost:5000": { auth: b64("a:b") } } });
  await assert.rejects(resolveConnection({ flags: {}, env: {}, home }), (err: Error) => err instanceof CliError && /pass --server/.test(err.message) && /localhost:5000/.test(err.message));
});

test("resolveConnection: half a credential pair, a bad auth field and broken JSON are clear errors; passwords stay out of messages", async (t) => {
  const home = await tempHome(t);
  await assert.rejects(resolveConnection({ flags: { server: "localhost:5000", username: "admin" }, env: {}, home }), /without a password/);
  await assert.rejects(resolveConnection({ flags: { server: "localhost:5000", password: "hunter2" }, env: {}, home }), (err: Error) => /without a user name/.test(err.message) && !err.message.includes("hunter2"));
  const path = await writeConfig(join(home, ".config/helm/registry/config.json"), { auths: { "localhost:5000": { auth: b64("no-colon") } } });
  await assert.rejects(resolveConnection({ flags: { server: "localhost:5000" }, env: {}, home, credentialHelper: noHelper }), /helm registry login localhost:5000/);
  await writeFile(path, "{not json");
  await assert.rejects(resolveConnection({ flags: { server: "localhost:5000" }, env: {}, home }), (err: Error) => err.message.includes(path) && /not valid JSON/.test(err.message));
});

test("resolveConnection: --password-stdin reads the password and drops the trailing newline", async (t) => {
  const home = await tempHome(t);
  const c = await resolveConnection({ flags: { server: "localhost:5000", username: "admin", passwordStdin: true }, env: { BERTH_PASSWORD: "ignored" }, home, readStdin: async () => "s3cret\n" });
  assert.deepEqual(c.credentials, { username: "admin", password: "s3cret", source: "--username/--password-stdin" });
  await assert.rejects(resolveConnection({ flags: { server: "localhost:5000", username: "admin", passwordStdin: true }, env: {}, home, readStdin: async () => "\n" }), /empty password/);
});

/** A server answering every request with one status and body. */
async function answering(t: TestContext, status: number, body: string, seen: IncomingMessage[] = []): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req);
    req.resume();
    req.on("end", () => res.writeHead(status, { "content-type": "application/json" }).end(body));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const address = server.address();
  return `127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}

test("BerthClient: sends Basic auth, and words 401, 409, {error} bodies and refused connections", async (t) => {
  const seen: IncomingMessage[] = [];
  const unauthorized = await answering(t, 401, JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }), seen);
  const client = new BerthClient({ server: serverUrl(unauthorized), credentials: { username: "admin", password: "wrong", source: "--username/--password" } });
  await assert.rejects(client.request("GET", ["helm", "v1", "repo", "_charts"]), (err: Error) =>
    err instanceof CliError && err.message === `authentication failed for http://${unauthorized}: check --username/--password or run \`helm registry login ${unauthorized}\`` && !err.message.includes("wrong"));
  assert.equal(seen[0]?.headers.authorization, `Basic ${b64("admin:wrong")}`);
  assert.equal(seen[0]?.url, "/helm/v1/repo/_charts");

  const conflict = await answering(t, 409, JSON.stringify({ errors: [{ code: "CHART_EXISTS", message: "mychart 0.1.0 exists" }] }));
  const c2 = new BerthClient({ server: serverUrl(conflict), credentials: null });
  await assert.rejects(c2.request("PUT", ["x"], { explain: { 409: "version already exists: use --force to overwrite" } }), { message: "version already exists: use --force to overwrite" });
  await assert.rejects(c2.request("PUT", ["x"]), { message: `http://${conflict}: mychart 0.1.0 exists (CHART_EXISTS)` });

  const museum = await answering(t, 400, JSON.stringify({ error: "chart name is required" }));
  await assert.rejects(new BerthClient({ server: serverUrl(museum), credentials: null }).request("GET", ["x"]), /chart name is required/);

  const refused = new BerthClient({ server: serverUrl(`127.0.0.1:${await freePort()}`), credentials: null });
  await assert.rejects(refused.request("GET", ["x"]), (err: Error) => err instanceof CliError && /^cannot reach http:\/\/127\.0\.0\.1:\d+: is Berth running\?$/.test(err.message));
});

test("BerthClient.url: under the server's path prefix; `+` stays literal as helm sends it, the rest is percent-encoded", () => {
  const client = new BerthClient({ server: serverUrl("https://example.com/berth/"), credentials: null });
  assert.equal(client.url(["helm", "v1", "team/charts", "_blobs", "app-1.0.0+build.1.tgz"]).href, "https://example.com/berth/helm/v1/team/charts/_blobs/app-1.0.0+build.1.tgz");
  assert.equal(client.url(["helm", "v1", "repo", "_charts", "a b?#%"]).pathname, "/berth/helm/v1/repo/_charts/a%20b%3F%23%25");
});

test("serverUrl: --plain-http makes any bare host http, --insecure makes it https; --plain-http with an https:// URL is refused", () => {
  assert.equal(serverUrl("registry.example.com:5000", { plainHttp: true }).href, "http://registry.example.com:5000/");
  assert.equal(serverUrl("oci://registry.example.com", { plainHttp: true }).href, "http://registry.example.com/");
  assert.equal(serverUrl("localhost:5000", { insecure: true }).href, "https://localhost:5000/");
  assert.equal(serverUrl("registry.example.com", { insecure: true }).href, "https://registry.example.com/");
  assert.equal(serverUrl("localhost:5000", { plainHttp: true, insecure: true }).href, "http://localhost:5000/", "--plain-http wins, as in oras");
  assert.equal(serverUrl("http://registry.example.com", { plainHttp: true }).href, "http://registry.example.com/");
  assert.throws(() => serverUrl("https://registry.example.com", { plainHttp: true }), /--plain-http asks for http, but https:\/\/registry\.example\.com says https/);
});

test("resolveConnection: --plain-http and --insecure decide the scheme and the certificate check", async (t) => {
  const home = await tempHome(t);
  const plain = await resolveConnection({ flags: { server: "registry.example.com:5000", plainHttp: true }, env: {}, home, credentialHelper: noHelper });
  assert.equal(plain.server.href, "http://registry.example.com:5000/");
  assert.equal(plain.insecure, false);
  const insecure = await resolveConnection({ flags: { server: "localhost:5000", insecure: true, username: "u", password: "p" }, env: {}, home, credentialHelper: noHelper });
  assert.equal(insecure.server.href, "https://localhost:5000/");
  assert.equal(insecure.insecure, true);
  const fromEnv = await resolveConnection({ flags: { plainHttp: true }, env: { BERTH_SERVER: "registry.example.com" }, home, credentialHelper: noHelper });
  assert.equal(fromEnv.server.href, "http://registry.example.com/", "the flag applies to BERTH_SERVER too");
});

test("every berth command that takes --server also takes --plain-http and --insecure", () => {
  const missing: string[] = [];
  let withServer = 0;
  const walk = (command: typeof program, path: string) => {
    const flags = command.options.map((o) => o.long);
    if (flags.includes("--server")) {
      withServer++;
      for (const wanted of ["--plain-http", "--insecure"]) if (!flags.includes(wanted)) missing.push(`${path} ${wanted}`);
    }
    for (const sub of command.commands) walk(sub as unknown as typeof program, `${path} ${sub.name()}`);
  };
  walk(program, "berth");
  assert.ok(withServer > 30, `found ${withServer} commands with --server`);
  assert.deepEqual(missing, []);
});

test("BerthClient: --insecure talks to a server with a self-signed certificate; without it, the error names --insecure", { skip: !hasOpenssl() && "needs openssl" }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
  assert.equal(made.status, 0, made.stderr?.toString());
  const server = createHttpsServer({ key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const port = (server.address() as { port: number }).port;
  const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  t.after(() => {
    if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
  });
  const home = await tempHome(t);
  const strict = new BerthClient({ server: new URL(`https://localhost:${port}`), credentials: null });
  await assert.rejects(strict.json(z.unknown(), "GET", ["x"]), (err: Error) => err instanceof CliError && /TLS with https:\/\/localhost:\d+ failed .*--insecure/.test(err.message));
  const insecure = new BerthClient(await resolveConnection({ flags: { server: `localhost:${port}`, insecure: true }, env: {}, home, credentialHelper: noHelper }));
  assert.deepEqual(await insecure.json(z.unknown(), "GET", ["x"]), { ok: true });
});

function hasOpenssl(): boolean {
  return spawnSync("openssl", ["version"]).status === 0;
}

test("json(schema): a field the CLI does not know is ignored; a missing or mistyped one is an error naming it", async (t) => {
  const client = (host: string) => new BerthClient({ server: new URL(`http://${host}`), credentials: null });
  const newer = await answering(t, 200, JSON.stringify({ enabled: true, passwords: [], addedLater: 1 }));
  assert.deepEqual(await client(newer).json(AdminView, "GET", ["api", "v1", "admin"]), { enabled: true, passwords: [], addedLater: 1 });
  const broken = await answering(t, 200, JSON.stringify({ enabled: "yes", passwords: [] }));
  await assert.rejects(client(broken).json(AdminView, "GET", ["api", "v1", "admin"]), (err: Error) => err instanceof CliError && /enabled: .*same version/.test(err.message));
});

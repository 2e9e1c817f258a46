// The HTTP client the `berth helm` and `berth chart` commands share: which server, which
// credentials, and fetch helpers that turn Berth's error bodies into a message saying what to do.
//
// Where the server and credentials come from, first match wins (research/helm.md §3.4):
//   1. flags --server, -u/--username, -p/--password | --password-stdin
//   2. environment BERTH_SERVER, BERTH_USERNAME, BERTH_PASSWORD
//   3. the login `helm registry login` wrote: $HELM_REGISTRY_CONFIG, else <helm config home>/registry/config.json
//   4. the docker login: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
// A config file never picks the server: with no --server, a single login found is still not a guess
// worth making (it may be another registry), so the error lists the hosts instead.
// The environment and home directory are arguments (not read here) so tests never touch the real ones.
// --plain-http and --insecure (the flags oras and helm users type) are decided in serverUrl, the
// one place the scheme is: every command with --server or a reference gets them from serverOptions.
// 490 lines: resolution, requests and error wording share CliError and read best in one place.
import { spawnSync } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Option, type Command, type OptionValues } from "@commander-js/extra-typings";
import type { z } from "zod";

/** An expected failure: `berth: <message>` on stderr and exit code 1 (main.ts exits 2 for the rest). */
export class CliError extends Error {
  override name = "CliError";
}

/** Wraps a command action so a CliError ends the process the expected way. */
export function handled<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      process.stderr.write(`berth: ${err.message}\n`);
      process.exitCode = 1;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Options

/** How to reach the server, as oras and helm spell it. */
export interface TransportFlags {
  /** http, whatever the URL's host: `oras --plain-http`, `helm --plain-http`. */
  plainHttp?: boolean;
  /** https without verifying the certificate: `oras --insecure`, `helm --insecure-skip-tls-verify`. */
  insecure?: boolean;
}

export interface ConnectionFlags extends TransportFlags {
  server?: string;
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

export const passwordOption = () =>
  new Option("-p, --password <password>", "password (env BERTH_PASSWORD); prefer --password-stdin, which keeps it out of the shell history");
export const passwordStdinOption = () => new Option("--password-stdin", "read the password from stdin");

/**
 * Adds --server and -u only: for commands where -p or --password-stdin means something else
 * (`berth user add --password-stdin` reads the new user's password, `berth token rotate --password 2`
 * picks a slot). They add the caller's password option that does not clash.
 */
export function serverOptions<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>) {
  return transportOptions(command.addOption(new Option("--server <url>", "Berth's URL, e.g. http://localhost:5000; a bare host:port is http for localhost, else https (env BERTH_SERVER)"))).addOption(
    new Option("-u, --username <name>", "user name (env BERTH_USERNAME) [default: the `berth login`, `helm registry login` or docker login for the server]"),
  );
}

/** Adds --plain-http and --insecure: for every command that takes --server or a reference. */
export function transportOptions<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>) {
  return command
    .addOption(new Option("--plain-http", "use http even for a host that is not localhost (as oras and helm take it)"))
    .addOption(new Option("--insecure", "use https without verifying the server's certificate (as oras --insecure, helm --insecure-skip-tls-verify)"));
}

/** Adds --server, -u, -p and --password-stdin to a command. */
export function connectionOptions<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>) {
  return serverOptions(command).addOption(passwordOption()).addOption(passwordStdinOption().conflicts("password"));
}

// ---------------------------------------------------------------------------------------------
// Server URL

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * `http://host:5000` and `https://host` are taken as given; a bare `host:port` (or `oci://host`, as
 * helm writes it) is http with --plain-http, https with --insecure, else http for localhost and
 * 127.x.x.x and https elsewhere. A path (a reverse-proxy prefix) is kept.
 */
export function serverUrl(text: string, transport: TransportFlags = {}): URL {
  const trimmed = text.trim().replace(/^oci:\/\//i, "");
  if (trimmed === "") throw new CliError("--server is empty: give Berth's URL, e.g. --server http://localhost:5000");
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      url = new URL(trimmed);
    } catch {
      throw new CliError(`${text} is not a URL: give Berth's URL, e.g. --server http://localhost:5000`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${text}: the server URL must start with http:// or https://`);
    if (transport.plainHttp && url.protocol === "https:") throw new CliError(`--plain-http asks for http, but ${text} says https: drop one of them`);
  } else {
    let probe: URL;
    try {
      probe = new URL(`http://${trimmed}`);
    } catch {
      throw new CliError(`${text} is not a host[:port] or URL: give Berth's URL, e.g. --server http://localhost:5000`);
    }
    const http = transport.plainHttp || (!transport.insecure && LOOPBACK.test(probe.hostname));
    url = new URL(`${http ? "http" : "https"}://${trimmed}`);
  }
  if (url.username || url.password) throw new CliError("put credentials in --username/--password, not in the server URL");
  url.search = "";
  url.hash = "";
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}

/** The URL as messages show it: no trailing slash. */
export function displayServer(url: URL): string {
  return `${url.origin}${url.pathname === "/" ? "" : url.pathname}`;
}

// ---------------------------------------------------------------------------------------------
// Credentials from helm's and docker's config.json

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages: "--username/--password", "BERTH_USERNAME/BERTH_PASSWORD", a file path. */
  source: string;
}

export interface Connection {
  server: URL;
  credentials: Credentials | null;
  /** --insecure: the server's certificate is not verified. */
  insecure?: boolean;
}

/**
 * --insecure: TLS without verifying the certificate. Node's global fetch takes no per-request TLS
 * options (that needs undici's Agent, which Berth does not depend on), so verification is turned
 * off for this CLI process, which talks to the one server the user named; Node warns once on stderr.
 */
export function skipTlsVerification(): void {
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
}

export interface ResolveInput {
  flags: ConnectionFlags;
  env: Readonly<Record<string, string | undefined>>;
  /** The home directory (os.homedir() in the commands). */
  home: string;
  /** Reads the password for --password-stdin. */
  readStdin?: () => Promise<string>;
  /** Runs a docker credential helper (`docker-credential-<name> get`); replaceable in tests. */
  credentialHelper?: (name: string, host: string) => { username: string; password: string } | null;
}

/** The config files to search, in order: helm's registry login, then docker's. */
export function loginConfigPaths(env: ResolveInput["env"], home: string): string[] {
  // Helm's own lookup (pkg/helmpath): HELM_CONFIG_HOME, else $XDG_CONFIG_HOME/helm, else ~/.config/helm.
  const helmHome = env.HELM_CONFIG_HOME || join(env.XDG_CONFIG_HOME || join(home, ".config"), "helm");
  return [
    env.HELM_REGISTRY_CONFIG || join(helmHome, "registry", "config.json"),
    join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"),
  ];
}

interface LoginConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string } | null>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

function readLoginConfig(path: string): LoginConfig | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return null;
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as LoginConfig) : {};
  } catch {
    throw new CliError(`${path} is not valid JSON: fix it, or pass --username/--password`);
  }
}

/** A config key ("host:5000", "https://host/v1/", "HOST") as hostname and port ("" when none was written). */
function keyHost(key: string): { hostname: string; port: string } | null {
  const bare = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "");
  try {
    // A scheme with no default port, so an explicit :80 or :443 survives parsing.
    const url = new URL(`berth-key://${bare}`);
    return { hostname: url.hostname.toLowerCase(), port: url.port };
  } catch {
    return null;
  }
}

/** Whether a login key names this server: same host and port, a key without a port meaning the scheme's default. */
export function keyMatches(key: string, server: URL): boolean {
  const parsed = keyHost(key);
  if (!parsed) return false;
  const defaultPort = server.protocol === "https:" ? "443" : "80";
  return parsed.hostname === server.hostname.toLowerCase() && (parsed.port || defaultPort) === (server.port || defaultPort);
}

function decodeAuth(auth: string, path: string, key: string): { username: string; password: string } {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) throw new CliError(`the login for ${key} in ${path} is not base64 of user:password: run \`helm registry login ${key}\` again`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function runCredentialHelper(name: string, host: string): { username: string; password: string } | null {
  const result = spawnSync(`docker-credential-${name}`, ["get"], { input: host, encoding: "utf8", timeout: 30_000 });
  if (result.error || result.status !== 0) return null;
  try {
    const parsed = JSON.parse(result.stdout) as { Username?: string; Secret?: string };
    // "<token>" marks an identity token, which Berth's Basic auth cannot use.
    if (!parsed.Username || !parsed.Secret || parsed.Username === "<token>") return null;
    return { username: parsed.Username, password: parsed.Secret };
  } catch {
    return null;
  }
}

/** The login stored for the server in one config file, or null. */
export function credentialsFromConfig(
  config: LoginConfig,
  path: string,
  server: URL,
  helper: NonNullable<ResolveInput["credentialHelper"]> = runCredentialHelper,
): Credentials | null {
  for (const [key, name] of Object.entries(config.credHelpers ?? {})) {
    if (!keyMatches(key, server)) continue;
    const found = helper(name, key);
    if (found) return { ...found, source: `docker-credential-${name} (${path})` };
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!entry || !keyMatches(key, server)) continue;
    if (entry.auth) return { ...decodeAuth(entry.auth, path, key), source: path };
    if (entry.username && entry.password) return { username: entry.username, password: entry.password, source: path };
    if (config.credsStore) {
      const found = helper(config.credsStore, key);
      if (found) return { ...found, source: `docker-credential-${config.credsStore} (${path})` };
    }
  }
  return null;
}

/** All of stdin, for --password-stdin; refuses a terminal, where the user would wait on an invisible read. */
export async function readAllStdin(example = 'echo "$PW" | berth helm list --password-stdin ...'): Promise<string> {
  if (process.stdin.isTTY) throw new CliError(`--password-stdin reads the password from a pipe, e.g. \`${example}\``);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Server and credentials, in the order the file header describes. */
export async function resolveConnection(input: ResolveInput): Promise<Connection> {
  const { flags, env } = input;
  const paths = loginConfigPaths(env, input.home);
  const serverText = flags.server ?? (env.BERTH_SERVER || undefined);
  if (serverText === undefined) {
    const hosts = new Set<string>();
    for (const path of paths) for (const key of Object.keys(readLoginConfig(path)?.auths ?? {})) hosts.add(key);
    const found = hosts.size > 0 ? ` (logins found for ${[...hosts].join(", ")}; pick one with --server)` : "";
    throw new CliError(`which Berth? pass --server <url>, e.g. --server http://localhost:5000, or set BERTH_SERVER${found}`);
  }
  const server = serverUrl(serverText, flags);
  const insecure = flags.insecure === true;

  let password = flags.password;
  let passwordSource = "--password";
  if (flags.passwordStdin) {
    password = (await (input.readStdin ?? readAllStdin)()).replace(/\r?\n$/, "");
    passwordSource = "--password-stdin";
    if (password === "") throw new CliError("--password-stdin read an empty password");
  }
  if (password === undefined && env.BERTH_PASSWORD) {
    password = env.BERTH_PASSWORD;
    passwordSource = "BERTH_PASSWORD";
  }
  const usernameSource = flags.username !== undefined ? "--username" : "BERTH_USERNAME";
  const username = flags.username ?? (env.BERTH_USERNAME || undefined);

  if (username !== undefined && password !== undefined) {
    return { server, insecure, credentials: { username, password, source: `${usernameSource}/${passwordSource}` } };
  }
  const helper = input.credentialHelper ?? runCredentialHelper;
  let stored: Credentials | null = null;
  for (const path of paths) {
    const config = readLoginConfig(path);
    stored = config && credentialsFromConfig(config, path, server, helper);
    if (stored) break;
  }
  if (username === undefined && password === undefined) return { server, insecure, credentials: stored };
  // One of the pair was given: complete it from a stored login for the same user, else say what is missing.
  if (username !== undefined && stored && stored.username === username) return { server, insecure, credentials: { ...stored, username } };
  if (username !== undefined) throw new CliError(`${usernameSource} given without a password: add -p/--password, --password-stdin or BERTH_PASSWORD`);
  throw new CliError(`${passwordSource} given without a user name: add -u/--username or BERTH_USERNAME`);
}

// ---------------------------------------------------------------------------------------------
// Requests

/** What a failed response said: Berth's registry body {"errors":[{code,message}]} or ChartMuseum's {"error":...}. */
export interface ServerError {
  status: number;
  code: string | null;
  message: string;
  /** Retry-After on a 429 (seconds or an HTTP date), as the server sent it. */
  retryAfter?: string;
  /** A 403 from a policy (a quota, a tag rule: its detail names it), not from missing rights: the message says what to do. */
  byPolicy?: boolean;
}

/** Per-status messages a command adds; a function gets the server's own words. */
export type Explain = Partial<Record<number, string | ((err: ServerError) => string)>>;

export interface RequestOptions {
  /** A file streamed as the body. */
  body?: { file: string; size: number; contentType: string };
  /** A JSON body (the management API). */
  json?: unknown;
  /** An application/x-www-form-urlencoded body (the token service). */
  form?: Record<string, string>;
  /** Query parameters; undefined ones are left out, a list repeats the parameter. */
  query?: Record<string, string | readonly string[] | undefined>;
  /** Send no Authorization header even when credentials are known (`berth login` signs in with the form instead). */
  anonymous?: boolean;
  /** Statuses that count as success (default: any 2xx). */
  ok?: readonly number[];
  explain?: Explain;
}

async function readServerError(res: Response): Promise<ServerError> {
  const text = await res.text().catch(() => "");
  let code: string | null = null;
  let message = "";
  let byPolicy = false;
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[]; error?: unknown; message?: unknown };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (first) {
      code = typeof first.code === "string" ? first.code : null;
      message = typeof first.message === "string" ? first.message : "";
      const detail = first.detail;
      byPolicy = typeof detail === "object" && detail !== null && ("quota" in detail || "rule" in detail);
    } else if (typeof body.error === "string") {
      message = body.error;
    } else if (typeof body.message === "string") {
      message = body.message;
    }
  } catch {
    message = text.length > 0 && text.length < 300 && !/<html/i.test(text) ? text.trim() : "";
  }
  const retryAfter = res.headers.get("retry-after") ?? undefined;
  return { status: res.status, code, message: message || `${res.status} ${res.statusText}`.trim(), ...(retryAfter ? { retryAfter } : {}), ...(byPolicy ? { byPolicy } : {}) };
}

/** fetch's "fetch failed" as a sentence: the cause's code decides. */
export function connectionFailure(err: unknown, server: string): CliError {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[]; message?: string } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? "";
  if (code === "ECONNREFUSED") return new CliError(`cannot reach ${server}: is Berth running?`);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return new CliError(`cannot reach ${server}: the host name does not resolve; check --server`);
  if (code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return new CliError(`cannot reach ${server}: the connection timed out; check --server and the network`);
  if (/SSL|TLS|CERT/i.test(code) || /ssl|tls|certificate/i.test(cause?.message ?? "")) {
    return new CliError(`TLS with ${server} failed (${cause?.message ?? code}); if Berth serves plain HTTP, add --plain-http (or use --server http://...); to skip verifying its certificate, add --insecure`);
  }
  return new CliError(`cannot reach ${server}: ${cause?.message ?? (err as Error).message}`);
}

/**
 * Percent-encodes what a path segment cannot hold, but keeps the characters RFC 3986 allows in one
 * (`+` in `1.0.0+build.1`, `@`, `:`...) as they are: helm requests `_blobs/x-1.0.0+build.1.tgz` literally.
 */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(2B|40|3A|24|26|2C|3B|3D)/gi, (escaped) => decodeURIComponent(escaped));
}

export class BerthClient {
  readonly server: URL;
  readonly credentials: Credentials | null;
  readonly insecure: boolean;
  readonly #fetch: typeof fetch;

  constructor(connection: Connection, fetchImpl: typeof fetch = fetch) {
    this.server = connection.server;
    this.credentials = connection.credentials;
    this.insecure = connection.insecure === true;
    this.#fetch = fetchImpl;
  }

  /** The URL for a path under the server's base, each segment percent-encoded. */
  url(segments: readonly string[]): URL {
    const path = segments.flatMap((s) => s.split("/")).filter((s) => s !== "").map(encodeSegment).join("/");
    return new URL(`${this.server.pathname.replace(/\/$/, "")}/${path}`, this.server.origin);
  }

  /** Sends the request; a failure becomes a CliError naming the fix. */
  async request(method: string, segments: readonly string[], options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "berth-cli" };
    if (this.credentials && !options.anonymous) {
      headers.authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64")}`;
    }
    const init: RequestInit & { duplex?: "half" } = { method, headers };
    if (options.body) {
      // Streamed from disk, never read whole; content-length lets Berth refuse an oversized chart at once.
      headers["content-type"] = options.body.contentType;
      headers["content-length"] = String(options.body.size);
      init.body = Readable.toWeb(createReadStream(options.body.file)) as ReadableStream<Uint8Array>;
      init.duplex = "half";
    } else if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.json);
    } else if (options.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams(options.form).toString();
    }
    const url = this.url(segments);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (typeof value === "string") url.searchParams.set(key, value);
      else for (const each of value ?? []) url.searchParams.append(key, each);
    }
    if (this.insecure && url.protocol === "https:") skipTlsVerification();
    let res: Response;
    try {
      res = await this.#fetch(url, init);
    } catch (err) {
      throw connectionFailure(err, displayServer(this.server));
    }
    const ok = options.ok ? options.ok.includes(res.status) : res.ok;
    if (ok) return res;
    throw this.explain(await readServerError(res), options.explain ?? {});
  }

  /**
   * Sends the request and parses the JSON answer with `schema`, for /api from src/api-contract/.
   * Fields this CLI does not know are ignored (a newer server may add some); a missing or
   * mistyped field is an error naming it, not an `undefined` printed later.
   */
  async json<S extends z.ZodType>(schema: S, method: string, segments: readonly string[], options: RequestOptions = {}): Promise<z.infer<S>> {
    const res = await this.request(method, segments, options);
    const text = await res.text();
    let body: unknown;
    try {
      body = text === "" ? null : JSON.parse(text);
    } catch {
      throw new CliError(`${displayServer(this.server)} answered ${method} ${res.url} with something that is not JSON: is this Berth?`);
    }
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    if (result.error.issues.every((issue) => issue.code === "unrecognized_keys")) return body as z.infer<S>;
    const issue = result.error.issues.find((i) => i.code !== "unrecognized_keys")!;
    throw new CliError(`${displayServer(this.server)} answered ${method} ${res.url} in a shape this berth does not know (${issue.path.join(".") || "the body"}: ${issue.message}): are the server and the CLI the same version?`);
  }

  explain(err: ServerError, explain: Explain): CliError {
    const server = displayServer(this.server);
    const custom = explain[err.status];
    if (custom !== undefined) return new CliError(typeof custom === "function" ? custom(err) : custom);
    switch (err.status) {
      case 401:
        return new CliError(
          this.credentials
            ? `authentication failed for ${server}: check --username/--password or run \`helm registry login ${this.server.host}\``
            : `${server} wants credentials: pass --username/--password or run \`helm registry login ${this.server.host}\``,
        );
      case 403:
        if (err.byPolicy) return new CliError(`refused by ${server}: ${err.message}`);
        return new CliError(`access denied by ${server}: ${err.message}; ask an administrator for the right role`);
      case 413:
        return new CliError(`${server} refused the upload as too large: ${err.message}`);
      case 429:
        return new CliError(`${server} refused: too many requests (${err.message}); try again ${err.retryAfter ? `after ${/^\d+$/.test(err.retryAfter) ? `${err.retryAfter} s` : err.retryAfter}` : "later"}`);
      default:
        if (err.status >= 500) return new CliError(`${server} failed (${err.status}): ${err.message}; see Berth's log`);
        return new CliError(`${server}: ${err.message}${err.code ? ` (${err.code})` : ""}`);
    }
  }
}

/** A client from the command's flags, the process environment and the home directory. */
export async function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv, home: string): Promise<BerthClient> {
  return new BerthClient(await resolveConnection({ flags, env, home }));
}

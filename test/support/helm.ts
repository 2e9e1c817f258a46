// Helm 3 and Helm 4 as real clients (scripts/install-tools.sh builds .tools/bin/helm3 and
// .tools/bin/helm4), each run in a sandbox of its own: every HELM_* home, the registry and
// repository config, both caches, GNUPGHOME and HOME point into a temp dir, so no login,
// repository or cached index leaks between tests or into the real home. Flags per version:
// shared/research/helm.md §3.5 (Helm 4 has no plain-HTTP fallback: --plain-http on every
// OCI command; Helm 3.22 accepts the flag too).
//
// Also here: charts made the way users make them (`helm create` + `helm package`) and a
// throwaway GnuPG key in the legacy keyring files `helm package --sign` and `--verify` read.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { runBerthCli, startBerth, type RunningBerth, type StartOptions } from "./berth.ts";
import { requireTool, run, toolsBin, type RunResult } from "./tools.ts";

export type HelmVersion = "v3" | "v4";

/** What the helm helpers need of a registry: one Berth, or a balancer in front of several. */
export type HelmServer = Pick<RunningBerth, "host" | "url" | "username" | "password" | "basicAuth">;
export const HELM_VERSIONS: HelmVersion[] = ["v3", "v4"];

/** One real client in its sandbox. */
export interface ClientRunner {
  /** "helm3" or "helm4", for test names and messages. */
  name: string;
  version: HelmVersion;
  /** The sandbox: cwd of every command, and where charts are built. */
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Runs helm and throws with the whole output unless it exits 0. */
  run(args: string[], options?: HelmRunOptions): Promise<RunResult>;
  /** Runs helm and hands back whatever happened. */
  attempt(args: string[], options?: HelmRunOptions): Promise<RunResult>;
  /** Runs helm (with `-o json` in args) and parses stdout. */
  json<T>(args: string[]): Promise<T>;
}

export interface HelmRunOptions {
  /** stdin */
  input?: string;
  /** Working directory; the sandbox's work dir by default. */
  cwd?: string;
}

/** Where install-tools.sh puts the cm-push plugin (a plugin.yaml + bin/helm-cm-push). */
export const helmPluginsDir = join(toolsBin, "../helm-plugins");

/**
 * A helm client in a fresh sandbox, or null when the binary is missing (the test is then
 * skipped, or failed under CI=true).
 */
export async function helmClient(t: TestContext, version: HelmVersion): Promise<ClientRunner | null> {
  const name = version === "v3" ? "helm3" : "helm4";
  const bin = requireTool(t, name);
  if (!bin) return null;
  const dir = await mkdtemp(join(tmpdir(), `berth-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const sub of ["home", "cache", "config", "data", "gnupg", "work"]) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    HOME: join(dir, "home"),
    HELM_CACHE_HOME: join(dir, "cache"),
    HELM_CONFIG_HOME: join(dir, "config"),
    HELM_DATA_HOME: join(dir, "data"),
    HELM_REGISTRY_CONFIG: join(dir, "config/registry/config.json"),
    HELM_REPOSITORY_CONFIG: join(dir, "config/repositories.yaml"),
    HELM_REPOSITORY_CACHE: join(dir, "cache/repository"),
    HELM_CONTENT_CACHE: join(dir, "cache/content"),
    HELM_PLUGINS: helmPluginsDir,
    // Helm falls back to ~/.docker/config.json for registry credentials: keep that empty too.
    DOCKER_CONFIG: join(dir, "home/.docker"),
    GNUPGHOME: join(dir, "gnupg"),
    KUBECONFIG: join(dir, "home/kubeconfig"),
    HELM_DEBUG: undefined,
    HELM_NAMESPACE: undefined,
    HELM_KUBECONTEXT: undefined,
    HELM_REPO_USERNAME: undefined,
    HELM_REPO_PASSWORD: undefined,
    NO_COLOR: "1",
  };
  const cwd = join(dir, "work");
  const attempt = (args: string[], options: HelmRunOptions = {}) => run(bin, args, { env, cwd: options.cwd ?? cwd, input: options.input });
  const runner: ClientRunner = {
    name,
    version,
    dir: cwd,
    env,
    attempt,
    run: async (args, options) => {
      const result = await attempt(args, options);
      if (result.code !== 0) {
        throw new Error(`${name} ${args.join(" ")} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      }
      return result;
    },
    json: async <T>(args: string[]) => {
      const result = await runner.run(args);
      try {
        return JSON.parse(result.stdout) as T;
      } catch {
        throw new Error(`${name} ${args.join(" ")} printed no JSON:\n${result.stdout}\nstderr:\n${result.stderr}`);
      }
    },
  };
  return runner;
}

/** The flags every OCI command needs against Berth over http (login, push, pull, show, template). */
export const plainHttp = ["--plain-http"];

/** `helm registry login host` with the admin credentials (password on stdin). */
export async function registryLogin(helm: ClientRunner, berth: HelmServer): Promise<RunResult> {
  const result = await helm.run(["registry", "login", berth.host, ...plainHttp, "--username", berth.username, "--password-stdin"], { input: berth.password });
  if (!/Login Succeeded/.test(result.stdout + result.stderr)) throw new Error(`${helm.name} registry login printed no "Login Succeeded":\n${result.stdout}${result.stderr}`);
  return result;
}

/** `helm repo add <name> http://host/helm/v1/<repository>` with the admin credentials. */
export function repoAdd(helm: ClientRunner, berth: HelmServer, name = "berth", repository = "repo"): Promise<RunResult> {
  return helm.run(["repo", "add", name, `${berth.url}/helm/v1/${repository}`, "--username", berth.username, "--password", berth.password]);
}

export interface ChartSpec {
  name: string;
  version: string;
  appVersion?: string;
  /** Chart.yaml apiVersion: v2 (default, what `helm create` writes) or v1 (Helm 2 style). */
  apiVersion?: "v1" | "v2";
  description?: string;
}

export interface PackagedChart extends ChartSpec {
  /** Absolute path of <name>-<version>.tgz. */
  path: string;
  file: string;
  bytes: Buffer;
  /** Bare hex sha256 of the package, as in an index.yaml `digest`. */
  sha256: string;
  /** The .tgz.prov next to it, when signed. */
  prov?: { path: string; bytes: Buffer };
}

/**
 * `helm create` + a Chart.yaml of our own + `helm package` (optionally `--sign`), in a
 * directory of its own under the sandbox so two versions of one chart do not collide.
 */
export async function packageChart(helm: ClientRunner, spec: ChartSpec, signer?: GpgKey): Promise<PackagedChart> {
  const base = await mkdtemp(join(helm.dir, `${spec.name}-${spec.version}-`));
  await helm.run(["create", spec.name], { cwd: base });
  const lines = [
    `apiVersion: ${spec.apiVersion ?? "v2"}`,
    `name: ${spec.name}`,
    `description: ${spec.description ?? `The ${spec.name} chart for Berth's end-to-end tests`}`,
    ...(spec.apiVersion === "v1" ? [] : ["type: application"]),
    `version: ${spec.version}`,
    `appVersion: "${spec.appVersion ?? "1.0.0"}"`,
  ];
  await writeFile(join(base, spec.name, "Chart.yaml"), `${lines.join("\n")}\n`);
  const sign = signer ? ["--sign", "--key", signer.name, "--keyring", signer.secring] : [];
  await helm.run(["package", spec.name, "--destination", base, ...sign], { cwd: base });
  const file = `${spec.name}-${spec.version}.tgz`;
  const path = join(base, file);
  const bytes = await readFile(path);
  const packaged: PackagedChart = { ...spec, path, file, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
  if (signer) packaged.prov = { path: `${path}.prov`, bytes: await readFile(`${path}.prov`) };
  return packaged;
}

export interface GpgKey {
  /** The user id helm's --key matches. */
  name: string;
  /** Legacy keyring files (what helm's openpgp reads; GnuPG 2 keeps .kbx). */
  pubring: string;
  secring: string;
}

/**
 * A throwaway RSA signing key without a passphrase, made with the real gpg in a temp
 * GNUPGHOME and exported as the legacy pubring.gpg/secring.gpg helm reads. The keyrings sit
 * outside GNUPGHOME: a secring.gpg inside it makes gpg start a key migration.
 */
export async function throwawayGpgKey(t: TestContext): Promise<GpgKey | null> {
  const gpg = requireTool(t, "gpg");
  if (!gpg) return null;
  const dir = await mkdtemp(join(tmpdir(), "berth-gpg-"));
  const home = join(dir, "home");
  await mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  t.after(async () => {
    await run("gpgconf", ["--kill", "all"], { env }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const name = "Berth Test Signer";
  const params = ["%no-protection", "Key-Type: RSA", "Key-Length: 2048", "Key-Usage: sign", `Name-Real: ${name}`, "Name-Email: signer@berth.test", "Expire-Date: 0", "%commit", ""].join("\n");
  const made = await run(gpg, ["--batch", "--gen-key"], { env, input: params });
  if (made.code !== 0) throw new Error(`gpg --gen-key exited ${made.code}:\n${made.stderr}`);
  // Through files: run() decodes stdout as text, which would mangle the binary keyrings.
  const pubring = join(dir, "pubring.gpg");
  const secring = join(dir, "secring.gpg");
  await exportTo(gpg, env, ["--export"], pubring);
  await exportTo(gpg, env, ["--pinentry-mode", "loopback", "--passphrase", "", "--export-secret-keys"], secring);
  return { name, pubring, secring };
}

async function exportTo(gpg: string, env: NodeJS.ProcessEnv, args: string[], file: string): Promise<void> {
  const result = await run(gpg, ["--batch", "--yes", "--output", file, ...args], { env });
  if (result.code !== 0) throw new Error(`gpg ${args.join(" ")} exited ${result.code}:\n${result.stderr}`);
}

/** A fresh Berth for one test, stopped and removed after it. */
export async function berthFor(t: TestContext, options: StartOptions = {}): Promise<RunningBerth> {
  const berth = await startBerth(options);
  t.after(async () => {
    // A server that does not stop on SIGTERM must not hang the whole file: kill it, then fail.
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      berth.stop().then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000))),
    ]);
    clearTimeout(timer);
    if (!stopped) await berth.kill();
    await berth.dispose();
    // Fail the test, but from a hook added now, which runs after the others: node:test stops at an
    // after hook that throws, and a browser left open by a skipped hook kept CI's run alive for an hour.
    if (!stopped) t.after(() => { throw new Error(`berth did not exit within 10 s of SIGTERM; output:\n${berth.output().slice(-4000)}`); });
  });
  return berth;
}

/** fetch against Berth with the admin's pre-emptive Basic credentials (as helm sends them). */
export function berthFetch(berth: HelmServer, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", berth.basicAuth);
  return fetch(`${berth.url}${path}`, { ...init, headers });
}

/** ACR's upload: PUT (or PATCH, to overwrite) /helm/v1/<repository>/_blobs/<file>, raw body. */
export function putBlob(berth: HelmServer, file: string, bytes: Buffer, options: { repository?: string; method?: "PUT" | "PATCH" } = {}): Promise<Response> {
  return berthFetch(berth, `/helm/v1/${options.repository ?? "repo"}/_blobs/${file}`, {
    method: options.method ?? "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array(bytes),
  });
}

/**
 * The request `helm cm-push` sends (chartmuseum/helm-push pkg/chartmuseum/upload.go): a
 * multipart POST with one file field `chart` (and `prov` when given) to
 * /api/helm/v1/<repository>/charts, where cm-push posts for a repo added as /helm/v1/<repository>.
 */
export function chartMuseumPost(berth: HelmServer, parts: { chart?: Buffer; prov?: Buffer; file?: string }, repository = "repo"): Promise<Response> {
  const form = new FormData();
  const file = parts.file ?? "chart.tgz";
  if (parts.chart) form.append("chart", new Blob([new Uint8Array(parts.chart)], { type: "application/octet-stream" }), file);
  if (parts.prov) form.append("prov", new Blob([new Uint8Array(parts.prov)], { type: "application/octet-stream" }), `${file}.prov`);
  return berthFetch(berth, `/api/helm/v1/${repository}/charts`, { method: "POST", body: form });
}

/** `berth helm push <tgz>` over HTTP with the admin credentials and JSON output. */
export async function berthHelmPush(berth: HelmServer, tgz: string, extra: string[] = []): Promise<unknown> {
  const args = ["helm", "push", tgz, "--server", berth.url, "--username", berth.username, "--password", berth.password, "--output", "json", ...extra];
  const result = await runBerthCli(args);
  if (result.code !== 0) throw new Error(`berth ${args.join(" ")} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return JSON.parse(result.stdout) as unknown;
}

/** The raw index.yaml of a classic repository (status and exact bytes). */
export async function fetchIndex(berth: HelmServer, repository = "repo"): Promise<{ status: number; bytes: Buffer; etag: string | null }> {
  const res = await berthFetch(berth, `/helm/v1/${repository}/index.yaml`);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), etag: res.headers.get("etag") };
}

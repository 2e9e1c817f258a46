// The docker config.json entry `berth login` writes and `berth logout` removes: auths["host:port"] =
// {auth: base64("00000000-0000-0000-0000-000000000000:<refresh token>")}, the form ACR's
// `az acr login` leaves behind (research/registries.md §3.6). docker, oras, crane and skopeo read it
// and send it as Basic, or trade it at the token service; Berth takes the zero-GUID user with a
// refresh token as its password.
//
// Written the way docker writes it: other registries' entries and unknown keys kept, a temp file
// in the same folder (mode 0600) renamed over the old one, so a crash or a concurrent reader never
// sees half a file; a symlinked config.json is followed, not replaced.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, realpath, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CliError, keyMatches } from "./client.ts";

/** ACR's EMPTY_GUID: the user name that says "the password is a token Berth issued". */
export const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json (docker's own lookup). */
export function dockerConfigPath(env: Readonly<Record<string, string | undefined>>, home: string): string {
  return join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json");
}

interface DockerConfig {
  auths?: Record<string, unknown>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

async function readDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON: fix or remove it; it was left as it is`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new CliError(`${path} is not a JSON object: fix or remove it; it was left as it is`);
  return parsed as DockerConfig;
}

/** The file to replace: the target of a symlinked config.json, else the path itself. */
async function realTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

async function writeAtomically(path: string, config: DockerConfig): Promise<void> {
  const target = await realTarget(path);
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const temp = join(dirname(target), `.config.json.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const file = await open(temp, "wx", 0o600);
    try {
      await file.chmod(0o600); // whatever the umask
      await file.writeFile(JSON.stringify(config, null, "\t") + "\n");
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw new CliError(`cannot write ${target}: ${(err as Error).message}`);
  }
  await chmod(target, 0o600).catch(() => undefined);
}

/** Entries naming the same host and port, however written (`host:5000`, `http://host:5000/`). */
function sameServerKeys(auths: Record<string, unknown>, server: URL): string[] {
  return Object.keys(auths).filter((key) => key === server.host || keyMatches(key, server));
}

export interface SavedLogin {
  path: string;
  key: string;
  /** Set when a credential helper will be asked instead of this entry. */
  warning?: string;
}

/** Stores the login for the server, replacing any entry for the same host:port and keeping all others. */
export async function saveLogin(path: string, server: URL, username: string, secret: string): Promise<SavedLogin> {
  const config = await readDockerConfig(path);
  const auths = typeof config.auths === "object" && config.auths !== null && !Array.isArray(config.auths) ? { ...config.auths } : {};
  for (const key of sameServerKeys(auths, server)) delete auths[key];
  const key = server.host;
  auths[key] = { auth: Buffer.from(`${username}:${secret}`).toString("base64") };
  await writeAtomically(path, { ...config, auths });
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => keyMatches(k, server))?.[1] ?? config.credsStore;
  const warning = helper
    ? `${path} names the credential helper "${helper}", which docker and oras ask instead of this entry; ` +
      `use \`berth login --expose-token\` with \`docker login\` to store the token there`
    : undefined;
  return { path, key, ...(warning ? { warning } : {}) };
}

/** Removes the server's entries; returns the keys removed (none: there was no login). */
export async function removeLogin(path: string, server: URL): Promise<string[]> {
  const config = await readDockerConfig(path);
  if (typeof config.auths !== "object" || config.auths === null || Array.isArray(config.auths)) return [];
  const auths = { ...config.auths };
  const removed = sameServerKeys(auths, server);
  if (removed.length === 0) return [];
  for (const key of removed) delete auths[key];
  await writeAtomically(path, { ...config, auths });
  return removed;
}

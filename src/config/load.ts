// Layers defaults < YAML file (--config) < BERTH_* environment < flags, then validates once.
// Nothing else in Berth reads process.env.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigSchema, type Config } from "./schema.ts";

type Tree = { [key: string]: unknown };

/** Short variables for the settings people set most. */
const ENV_ALIASES: Record<string, string> = {
  BERTH_PORT: "http.port",
  BERTH_HOST: "http.host",
  BERTH_DATA: "storage.data",
  BERTH_ADMIN_PASSWORD: "auth.adminPassword",
  BERTH_ANONYMOUS_PULL: "auth.anonymousPull",
  BERTH_LOG_LEVEL: "log.level",
};

export class ConfigError extends Error {}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys.at(-1)!] = value;
}

/** Every leaf path of the schema, e.g. "uploads.expireAfter", "storage.s3.bucket" (nested sections are walked). */
export function settingPaths(): { path: string; env: string; description: string; default: unknown }[] {
  const result: { path: string; env: string; description: string; default: unknown }[] = [];
  const walk = (prefix: string, shape: Record<string, unknown>, defaults: Tree) => {
    for (const [key, leaf] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const inner = sectionOf(leaf);
      if (inner) {
        walk(path, inner.shape, (defaults[key] ?? {}) as Tree);
        continue;
      }
      result.push({ path, env: envName(path), description: (leaf as z.ZodType).description ?? "", default: defaults[key] });
    }
  };
  walk("", ConfigSchema.shape, ConfigSchema.parse({}) as Tree);
  return result;
}

/** The object inside a section (`z.strictObject(…).prefault({})`), or null for a setting. */
function sectionOf(schema: unknown): z.ZodObject | null {
  const inner = schema instanceof z.ZodPrefault ? (schema as unknown as { unwrap(): unknown }).unwrap() : schema;
  return inner instanceof z.ZodObject ? inner : null;
}

/** uploads.expireAfter → BERTH_UPLOADS_EXPIRE_AFTER */
export function envName(path: string): string {
  return "BERTH_" + path.replace(/\./g, "_").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings from flags, by path. */
  overrides?: Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  let tree: Tree = {};
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(err as Error).message}`);
    }
    const parsed = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true }) as unknown;
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`${sources.file}: the top level must be a mapping`);
      tree = parsed as Tree;
    }
  }
  const env = sources.env ?? {};
  const byEnv = new Map(settingPaths().map((s) => [s.env, s.path]));
  for (const [name, path] of Object.entries(ENV_ALIASES)) byEnv.set(name, path);
  for (const [name, value] of Object.entries(env)) {
    const path = byEnv.get(name);
    if (path && value !== undefined && value !== "") setPath(tree, path, value);
  }
  for (const [path, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) setPath(tree, path, value);
  }
  const result = ConfigSchema.safeParse(tree);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.join(".");
      return `  ${path || "(top level)"}: ${issue.message}${path ? ` (YAML key ${path}, variable ${envName(path)})` : ""}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

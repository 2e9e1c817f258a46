// Options shared by the commands that open the stores, mapped onto configuration paths.
import { Option } from "@commander-js/extra-typings";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

export const configOption = () => new Option("-c, --config <file>", "YAML configuration file");
export const dataOption = () => new Option("-d, --data <dir>", "data directory (storage.data; env BERTH_DATA) [default: ./data]");
export const outputOption = () => new Option("-o, --output <format>", "output format").choices(["table", "json"] as const).default("table" as const);

export function configFrom(options: { config?: string; data?: string }, overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ file: options.config, env: process.env, overrides: { "storage.data": options.data, ...overrides } });
}

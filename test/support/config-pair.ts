// `berth serve` processes started from one --config file over one data directory, as instances
// behind a load balancer: on PostgreSQL two at once over one database, on SQLite (no URL) one,
// both clients on it. The file is the one `berth fsck --config` and `berth gc --config` open.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { startBerth, type RunningBerth } from "./berth.ts";
import { OciClient } from "./oci-client.ts";

export interface ConfigPair {
  /** The PostgreSQL database's URL; null on SQLite. */
  url: string | null;
  config: string;
  dataDir: string;
  berths: RunningBerth[];
  clients: [OciClient, OciClient];
  /** Stops the instances and removes the data directory. */
  stop(): Promise<void>;
}

export async function startConfigPair(url: string | null, settings: Record<string, unknown>, options: { prefix: string; poolSize: number }): Promise<ConfigPair> {
  const dataDir = await mkdtemp(join(tmpdir(), options.prefix));
  const config = join(dataDir, "berth.yaml");
  await writeFile(config, stringify({ storage: { data: dataDir }, ...(url && { metadata: { driver: "postgres", postgres: { url, poolSize: options.poolSize } } }), ...settings }));
  const start = () => startBerth({ dataDir, args: ["--config", config] });
  const berths: RunningBerth[] = url ? await Promise.all([start(), start()]) : [await start()];
  const clients = [0, 1].map((i) => berths[i % berths.length]!).map((b) => new OciClient({ baseUrl: b.url, authorization: b.basicAuth })) as [OciClient, OciClient];
  return {
    url, config, dataDir, berths, clients,
    stop: async () => {
      await Promise.all(berths.map((b) => b.stop()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

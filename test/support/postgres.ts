// A throwaway PostgreSQL 15 cluster per test file: initdb into a fresh temporary directory owned by
// the postgres user, started on a free port with its socket in that directory, fsync off (a test
// database need not survive power loss), stopped immediately and removed after the file's tests.
// Tests never depend on a system service. A cluster that cannot start fails the tests (no skip):
// the PostgreSQL store is part of what Berth ships.
//
//   const pg = usePostgres();                  // at the top of a test file
//   test("…", async () => { const url = await pg().database(); … });
// (The getter is for use inside tests: a file whose own `before` needs the cluster, as an e2e
// file starting servers, calls startPostgres() in that hook and stop() in its `after`.)
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import pg from "pg";

const BIN = process.env.BERTH_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface PostgresCluster {
  host: string;
  port: number;
  /** postgres://… of the maintenance database `postgres`. */
  url: string;
  /** Creates an empty database; returns its URL. */
  database(): Promise<string>;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the postgres user (initdb and postgres refuse to run as root). */
function asPostgres(command: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(BIN, command), ...args]] : [join(BIN, command), args];
  execFileSync(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
}

/** `settings`: server settings beside the defaults (`-c name=value`), e.g. shared_preload_libraries. */
export async function startPostgres(extra: { settings?: Record<string, string> } = {}): Promise<PostgresCluster> {
  const dir = mkdtempSync(join(tmpdir(), "berth-pg-"));
  if (process.getuid?.() === 0) {
    const owner = execFileSync("id", ["-u", "postgres"]).toString().trim();
    const group = execFileSync("id", ["-g", "postgres"]).toString().trim();
    chownSync(dir, Number(owner), Number(group));
  }
  const data = join(dir, "data");
  const port = await freePort();
  let started = false;
  const stop = () => {
    if (started) spawnSync(process.getuid?.() === 0 ? "runuser" : join(BIN, "pg_ctl"), [...(process.getuid?.() === 0 ? ["-u", "postgres", "--", join(BIN, "pg_ctl")] : []), "-D", data, "-m", "immediate", "-w", "stop"], { stdio: "ignore" });
    started = false;
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies without its after hooks still stops its server.
  process.once("exit", stop);
  try {
    asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
    const options = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200${Object.entries(extra.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join("")}`;
    started = true;
    asPostgres("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-o", options, "start"]);
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    stop();
    throw new Error(`PostgreSQL 15 did not start from ${BIN}: ${(err as Error).message}\n${detail}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let count = 0;
  return {
    host: "127.0.0.1",
    port,
    url,
    async database() {
      const name = `berth_${process.pid}_${++count}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`create database "${name}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}

/** One query on its own connection (opened and ended here): the rows. */
export async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** One cluster for the calling test file: started before its first test, stopped after its last. */
export function usePostgres(): () => PostgresCluster {
  let cluster: PostgresCluster | null = null;
  before(async () => {
    cluster = await startPostgres();
  });
  after(() => cluster?.stop());
  return () => {
    if (!cluster) throw new Error("the PostgreSQL cluster did not start (see the before hook's error)");
    return cluster;
  };
}

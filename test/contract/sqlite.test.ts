// The metadata store contract (metadata-contract.ts) on the embedded default: KyselyMetadataStore
// over node:sqlite, as app.ts openStores() opens it, on a fresh database file per test.
// PostgreSQL joins with one more metadataContract("postgresql", factory) line.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely } from "kysely";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import { metadataContract } from "./metadata-contract.ts";

metadataContract("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "berth-contract-sqlite-"));
  const db = new Kysely<Database>({ dialect: openSqlite(join(dir, "berth.db")).dialect });
  const store = await KyselyMetadataStore.open(db);
  return {
    store,
    // A second store over the same connection: node:sqlite blocks the thread while a connection
    // waits for SQLite's write lock, so a second connection in this process would wait on the
    // first forever. SQLite runs one write transaction at a time either way; two real processes
    // on one database are test/e2e/two-processes.test.ts.
    another: () => KyselyMetadataStore.open(db),
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

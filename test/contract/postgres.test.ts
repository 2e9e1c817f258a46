// The metadata store contract (metadata-contract.ts) on PostgreSQL 15: KyselyMetadataStore over
// `pg`, as app.ts openStores() opens it for metadata.driver postgres, on a fresh database per
// test in a throwaway cluster (test/support/postgres.ts). `another` is a second pool, as a second
// `berth serve` opens, so the race suite runs two real connections side by side.
import { Kysely } from "kysely";
import { KyselyMetadataStore } from "../../src/metadata/kysely-store.ts";
import { openPostgres } from "../../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../../src/metadata/schema.ts";
import { usePostgres } from "../support/postgres.ts";
import { metadataContract } from "./metadata-contract.ts";

const cluster = usePostgres();

const open = (url: string) => KyselyMetadataStore.open(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 4 }).dialect }));

metadataContract("postgresql", async () => {
  const url = await cluster().database();
  const store = await open(url);
  const others: KyselyMetadataStore[] = [];
  return {
    store,
    another: async () => {
      const other = await open(url);
      others.push(other);
      return other;
    },
    close: async () => {
      for (const other of others) await other.close();
      await store.close();
    },
  };
});

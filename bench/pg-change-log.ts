// `node bench/pg-change-log.ts`: change-appending transactions per second on PostgreSQL,
// 8 concurrent writers (2 pools), with numbering at commit (seal) and with seal disabled.
import { Kysely } from "kysely";
import { KyselyMetadataStore } from "../src/metadata/kysely-store.ts";
import { ChangeStore } from "../src/metadata/change-store.ts";
import { openPostgres } from "../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../src/metadata/schema.ts";
import { startPostgres } from "../test/support/postgres.ts";
import { digestBytes } from "../src/domain/digest.ts";

const cluster = await startPostgres();
try {
  for (const mode of ["no seal", "seal", "no seal", "seal", "no seal", "seal"]) {
    const url = await cluster.database();
    const open = () => KyselyMetadataStore.open(new Kysely<Database>({ dialect: openPostgres({ url, poolSize: 4 }).dialect }));
    const stores = [await open(), await open()];
    const seal = ChangeStore.prototype.seal;
    if (mode === "no seal") ChangeStore.prototype.seal = async () => {};
    const perWriter = 150;
    const start = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, w) => (async () => {
      for (let i = 0; i < perWriter; i++) {
        await stores[w % 2]!.transaction(async (tx) => {
          const digest = digestBytes(Buffer.from(`${w}-${i}`));
          await tx.tags.set(`r${w}` as never, `t${i % 10}` as never, digest);
          await tx.changes.append({ kind: "tag.set", repository: `r${w}`, tag: `t${i % 10}`, digest, previous: null } as never);
        });
      }
    })()));
    const seconds = (performance.now() - start) / 1000;
    ChangeStore.prototype.seal = seal;
    console.log(`${mode}: ${(8 * perWriter / seconds).toFixed(0)} transactions/s (${8 * perWriter} in ${seconds.toFixed(2)} s)`);
    for (const s of stores) await s.close();
  }
} finally {
  cluster.stop();
}

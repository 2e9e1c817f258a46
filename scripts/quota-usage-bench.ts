// Measures what counting quota usage when asked costs on a large store (docs/lifecycle.md#quotas):
// fills a SQLite (or, with a URL, PostgreSQL) metadata store with REPOS repositories in TEAMS
// namespaces, each linking its own layers and a share of common ones, plus one manifest per image,
// then times usage() for the whole registry, one namespace and one repository, and holds().
//   node scripts/quota-usage-bench.ts [/tmp/bench.db | postgres://…] [repos=2000] [layersPerRepo=100]
import { performance } from "node:perf_hooks";
import { Kysely, sql } from "kysely";
import { digestBytes } from "../src/domain/digest.ts";
import { KyselyMetadataStore } from "../src/metadata/kysely-store.ts";
import { openPostgres } from "../src/metadata/postgres/postgres-dialect.ts";
import { openSqlite } from "../src/metadata/sqlite/node-sqlite-dialect.ts";
import type { Database } from "../src/metadata/schema.ts";
import type { RepositoryName } from "../src/domain/names.ts";
import { admitToQuotas } from "../src/services/quotas.ts";

const target = process.argv[2] ?? "/tmp/berth-quota-bench.db";
const REPOS = Number(process.argv[3] ?? 2000);
const LAYERS = Number(process.argv[4] ?? 100);
const TEAMS = 20;
const SHARED = 500; // common base layers, each linked by many repositories

const dialect = target.startsWith("postgres") ? openPostgres({ url: target, poolSize: 2 }).dialect : openSqlite(target).dialect;
const db = new Kysely<Database>({ dialect });
const store = await KyselyMetadataStore.open(db);
const d = (text: string) => digestBytes(Buffer.from(text));

const have = Number((await sql<{ n: number }>`select count(*) as n from blob_links`.execute(db)).rows[0]?.n ?? 0);
if (have === 0) {
  const started = performance.now();
  for (let r = 0; r < REPOS; r++) {
    const repository = `team-${r % TEAMS}/app-${r}`;
    const now = Date.now();
    const blobs: { digest: string; size: number; created_at: number }[] = [];
    const links: { repository: string; digest: string; linked_at: number }[] = [];
    for (let l = 0; l < LAYERS; l++) {
      const shared = l < LAYERS / 5; // a fifth of each image's layers come from the shared set
      const digest = shared ? d(`shared ${(r * 7 + l) % SHARED}`) : d(`layer ${r} ${l}`);
      blobs.push({ digest, size: 1_000_000 + l, created_at: now });
      links.push({ repository, digest, linked_at: now });
    }
    await db.transaction().execute(async (tx) => {
      await tx.insertInto("repositories").values({ name: repository, created_at: now }).onConflict((c) => c.doNothing()).execute();
      await tx.insertInto("blobs").values(blobs).onConflict((c) => c.doNothing()).execute();
      await tx.insertInto("blob_links").values(links).onConflict((c) => c.doNothing()).execute();
      const body = Buffer.from(JSON.stringify({ repository, layers: links.map((l) => l.digest) }));
      await tx.insertInto("manifests").values({ repository, digest: digestBytes(body), media_type: "application/vnd.oci.image.manifest.v1+json", size: body.length, body, subject: null, artifact_type: null, annotations: null, created_at: now }).execute();
    });
  }
  console.log(`filled ${REPOS} repositories x ${LAYERS} layers in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
// PostgreSQL plans from statistics; a bulk fill has none until autovacuum analyzes (as it would soon on a real store).
if (target.startsWith("postgres")) await sql`analyze`.execute(db);
const count = async (table: "blob_links" | "blobs" | "manifests") => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]?.n);
console.log(`rows: blob_links ${await count("blob_links")}, blobs ${await count("blobs")}, manifests ${await count("manifests")}`);

async function time(label: string, work: () => Promise<unknown>): Promise<void> {
  await work(); // warm
  const runs: number[] = [];
  let value: unknown;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    value = await work();
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  console.log(`${label}: median ${runs[2]!.toFixed(1)} ms (min ${runs[0]!.toFixed(1)}, max ${runs[4]!.toFixed(1)}) -> ${String(value)}`);
}
await time("usage(*)", () => store.quotas.usage("*"));
await time("usage(team-3/*)", () => store.quotas.usage("team-3/*"));
await time("usage(team-3/app-3)", () => store.quotas.usage("team-3/app-3"));
await time("holds(*, shared layer)", () => store.quotas.holds("*", d("shared 7")));
await time("holds(team-3/*, new digest)", () => store.quotas.holds("team-3/*", d("absent")));
await time("ceiling(*)", () => store.quotas.ceiling("*"));
// One admission of a new 1 MB layer, in a write transaction rolled back after (what a push pays).
const admit = (scope: string, limit: number, repository: string) => async () => {
  await store.quotas.set({ scope, limit, created: new Date(), createdBy: "bench" });
  const outcome = await store
    .transaction(async (tx) => {
      await admitToQuotas(tx, repository as RepositoryName, [{ digest: d(`new ${Math.random()}`), size: 1_000_000 }], null);
      throw new Error("admitted");
    })
    .catch((err: Error) => err.message.slice(0, 20));
  await store.quotas.remove(scope);
  return outcome;
};
await time("admit under * far from the limit", admit("*", 10 ** 15, "team-3/app-3"));
await time("admit under * near the limit", admit("*", 160_524_413_754 + 500_000, "team-3/app-3"));
await time("admit under team-3/*", admit("team-3/*", 10 ** 15, "team-3/app-3"));
await time("admit under team-3/app-3", admit("team-3/app-3", 10 ** 15, "team-3/app-3"));
await store.close();

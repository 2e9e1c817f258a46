// `node bench/events-filter.ts`: one page of GET /api/v1/events?action= (ChangeRows.events, limit
// 1000) over a change log of 200,000 entries of which 10 are the asked action, on SQLite and
// PostgreSQL. Beside it, what a page cost before migration 025 (read 1,000 entries, filter them:
// the page is cheap but almost always empty, so finding the 10 takes a walk of the whole log), and
// the new query without the 025 indexes (what they buy). Medians of 5 runs, in ms.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely, sql } from "kysely";
import type { Change } from "../src/domain/changes.ts";
import { digestBytes } from "../src/domain/digest.ts";
import { eventOf, sourcesOf, type EventAction } from "../src/domain/events.ts";
import { KyselyMetadataStore } from "../src/metadata/kysely-store.ts";
import { openPostgres } from "../src/metadata/postgres/postgres-dialect.ts";
import type { Database } from "../src/metadata/schema.ts";
import { openSqlite } from "../src/metadata/sqlite/node-sqlite-dialect.ts";
import { startPostgres } from "../test/support/postgres.ts";

const ENTRIES = 200_000;
const RARE = 10;
const LIMIT = 1000;

/** Entry i: every 20,000th a retention run, the next one a referrer, one in 20,000 (offset) in repository "rare"; the rest pushes, blob links and tag sets in "team/app". */
function changeAt(i: number): Change {
  const digest = digestBytes(Buffer.from(String(i)));
  if (i % (ENTRIES / RARE) === 7) return { kind: "retention.ran", trigger: "schedule", summary: { tagsDeleted: 1, manifestsDeleted: 1, skipped: 0, policies: [] } };
  if (i % (ENTRIES / RARE) === 8) return { kind: "manifest.pushed", repository: "team/app", digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 500, tag: null, artifactType: "application/vnd.example.sig", subject: digestBytes(Buffer.from(String(i - 1))) };
  const repository = i % (ENTRIES / RARE) === 9 ? "rare" : "team/app";
  if (i % 3 === 0) return { kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 500, tag: `t${i}`, artifactType: null, subject: null };
  if (i % 3 === 1) return { kind: "blob.linked", repository, digest };
  return { kind: "tag.set", repository, tag: `t${i}`, digest, previous: null };
}

async function fill(db: Kysely<Database>): Promise<void> {
  for (let start = 0; start < ENTRIES; start += 1000) {
    const rows = Array.from({ length: 1000 }, (_, k) => {
      const change = changeAt(start + k);
      return { at: Date.now(), kind: change.kind, repository: "repository" in change ? change.repository : null, body: JSON.stringify(change), actor: null };
    });
    await db.insertInto("changes").values(rows).execute();
  }
}

async function median(run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[2]!;
}

/** The page as it was read before: the newest 1,000 entries, filtered after reading. */
async function oldPage(db: Kysely<Database>, action: EventAction | null, repository: string | null, before: number | null) {
  let query = db.selectFrom("changes").select(["id", "at", "body", "actor"]);
  if (before !== null) query = query.where("id", "<", before);
  const rows = await query.orderBy("id", "desc").limit(LIMIT).execute();
  const entries = rows.map((r) => ({ id: Number(r.id), at: new Date(Number(r.at)), change: JSON.parse(r.body) as Change }));
  const events = entries.map(eventOf).filter((e) => e !== null && (!action || e.action === action) && (!repository || e.target.repository === repository));
  return { events, next: entries.length < LIMIT ? 0 : entries.at(-1)!.id };
}

async function measure(name: string, db: Kysely<Database>): Promise<void> {
  const store = await KyselyMetadataStore.open(db);
  await fill(db);
  if (name === "postgresql") await sql`analyze changes`.execute(db);
  const asks: [string, EventAction | null, string | null][] = [["every action", null, null], ["action=retention", "retention", null], ["action=referrer", "referrer", null], ["repository=rare", null, "rare"], ["action=push&repository=rare", "push", "rare"]];
  const rows: string[] = [];
  const newQuery = (action: EventAction | null, repository: string | null, newest: boolean) => store.changes.events({ sources: sourcesOf(action ? [action] : undefined), ...(repository && { repository }) }, newest ? { before: null } : { after: 0 }, LIMIT);
  for (const [label, action, repository] of asks) {
    const oldOne = await median(() => oldPage(db, action, repository, null));
    const walkStart = performance.now();
    let found = 0;
    let pages = 0;
    for (let before: number | null = null; ; pages++) {
      const page = await oldPage(db, action, repository, before);
      found += page.events.length;
      if (page.next === 0) break;
      before = page.next;
    }
    const walk = performance.now() - walkStart;
    const newest = await median(() => newQuery(action, repository, true));
    const oldest = await median(() => newQuery(action, repository, false));
    const got = (await newQuery(action, repository, true)).length;
    rows.push(`${name} ${label}: before: one page ${oldOne.toFixed(1)} ms (${(await oldPage(db, action, repository, null)).events.length} events), all ${found} events in ${pages + 1} pages ${walk.toFixed(0)} ms | after: one page, ${got} events, newest first ${newest.toFixed(1)} ms, oldest first ${oldest.toFixed(1)} ms`);
  }
  await sql`drop index changes_referrers`.execute(db);
  await sql`drop index changes_repository`.execute(db);
  for (const [label, action, repository] of asks) {
    rows.push(`${name} ${label}: after, without migration 025's indexes: newest first ${(await median(() => newQuery(action, repository, true))).toFixed(1)} ms, oldest first ${(await median(() => newQuery(action, repository, false))).toFixed(1)} ms`);
  }
  for (const row of rows) console.log(row);
  await store.close();
}

const dir = await mkdtemp(join(tmpdir(), "berth-bench-events-"));
try {
  await measure("sqlite", new Kysely<Database>({ dialect: openSqlite(join(dir, "berth.db")).dialect }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
const cluster = await startPostgres();
try {
  await measure("postgresql", new Kysely<Database>({ dialect: openPostgres({ url: await cluster.database(), poolSize: 4 }).dialect }));
} finally {
  cluster.stop();
}

// Named locks held until the transaction ends: what SQLite's single writer gave for free, made
// explicit so PostgreSQL (READ COMMITTED, transactions side by side) keeps the same promises.
//
//   transaction { hold(name); read; decide; write }    // per name, one at a time
//
// PostgreSQL: pg_advisory_xact_lock(hashtextextended(name, 0)), a lock in the server's memory
// keyed by a 64-bit hash of the name, released at commit or rollback (also when the connection
// dies). A second transaction asking for the same name waits at this statement until the first
// ends, then reads what the first wrote. No row is written, so per-key locks (one per digest)
// cost no table space and no WAL. Two names share a hash once in 2^64: then they wait for each
// other now and then, never wrongly.
// SQLite: every write transaction already runs alone (BEGIN IMMEDIATE); the lock is an upsert of
// the name's row in `locks` (migration 009), so a named lock never costs more than one small
// write. Per-key names are spread over BUCKETS rows there, so the table never grows past that.
//
// Who takes which (each names its reason where it takes it):
//   blob:<digest>          commitBlob's record + link + publish, gc's re-check + delete, a
//                          manifest's check of the blobs it references (the gc/push race)
//   metadata-value:<key>   metadataValues.change: max(version) + 1, then insert
//   signing-keys:first     signingKeys.addFirst: two instances starting on an empty database
//   sign-in:<key>          sign-in failure counting (auth/rate-limit.ts)
//   changes                the change log's numbering at commit (change-store.ts)
//   quota:<scope>          a quota's count + decide + link/record (services/quotas.ts), taken
//                          after the blob locks and in scope order, so no two writers wait in a cycle
//   repository:<name>      shared by every manifest push and delete in it, exclusive for a whole
//                          repository's delete (TagRows.hold, ManifestRows.hold, RepositoryRows.hold)
//   tag:<name,tag>         a push's tags and a delete by tag, before they read the tag: no push
//                          moves it meanwhile (a replacing push's target, a delete's manifest)
//   manifest:<name,digest> a manifest's push (its own digest, its children, its subject, what a
//                          replacing push deletes) and its delete, by digest or by tag: the delete
//                          decides on what a push of the same manifest committed, or the push
//                          writes after the delete committed; never a tag left naming nothing
//                          (these three on PostgreSQL only: kysely-store.ts writersOverlap)
//   summary:<name>         a summary counted from its rows because it had none to add to
//                          (catalog-store.ts refresh): one count at a time, taken at commit's edge
//
// The order every taker follows, so no two transactions wait on each other in a cycle (PostgreSQL
// would end one with a deadlock error): blob locks (sorted), repository, tag locks (sorted),
// manifest locks (sorted), quota locks, then row locks (tags, manifests, charts; several tag
// rows in the tags' order: TagRows.lockRows, deleteAllFor; soft delete's records by their `trash`
// row, several in id order, before their refs and bodies: TrashRows.hold (a restore holds them
// before its quota locks: no one holding a quota lock waits for a record); a webhook's row before
// several of its deliveries: webhook-store.ts gate), then blob reference
// counts (at the transaction's end, by repository and digest: catalog-store.ts SummaryDeltas), then
// summaries (their rows, or a summary lock and then its row), then `changes` at commit.
//
// And one lock held for longer than a transaction, by a process: `exclusively` (one gc at a time).
import { createHash } from "node:crypto";
import { sql, type Kysely, type Transaction } from "kysely";
import { familyOf } from "./migrations/portable.ts";
import type { Database } from "./schema.ts";

type Db = Kysely<Database> | Transaction<Database>;

/** On SQLite, per-key locks spread over this many rows per kind. */
const BUCKETS = 1024;

export async function holdLock(db: Db, name: string, mode: "exclusive" | "shared" = "exclusive"): Promise<void> {
  if (!db.isTransaction) throw new Error(`lock ${name} taken outside a transaction would be released at once`);
  if (familyOf(db as Kysely<unknown>) === "postgres") {
    if (mode === "shared") await sql`select pg_advisory_xact_lock_shared(hashtextextended(${name}, 0))`.execute(db);
    else await sql`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`.execute(db);
    return;
  }
  // SQLite: writers run one at a time anyway, so shared is exclusive.
  const now = Date.now();
  await db.insertInto("locks").values({ name, taken_at: now }).onConflict((c) => c.column("name").doUpdateSet({ taken_at: now })).execute();
}

/** The lock for one key of a kind (a metadata key, a digest), held until the transaction ends. */
export async function holdKeyLock(db: Db, kind: string, ...key: string[]): Promise<void> {
  return holdKeyLockAs(db, "exclusive", kind, key);
}

/** holdKeyLock, shared (PostgreSQL): holders of the shared lock run side by side; the exclusive one waits for them all. */
export async function holdSharedKeyLock(db: Db, kind: string, ...key: string[]): Promise<void> {
  return holdKeyLockAs(db, "shared", kind, key);
}

async function holdKeyLockAs(db: Db, mode: "exclusive" | "shared", kind: string, key: string[]): Promise<void> {
  if (familyOf(db as Kysely<unknown>) === "postgres") return holdLock(db, `${kind}:${JSON.stringify(key)}`, mode); // text without NUL
  const bucket = createHash("sha256").update(key.join("\u0000")).digest().readUInt32BE(0) % BUCKETS;
  return holdLock(db, `${kind}:${bucket}`);
}

/**
 * Runs `work` while holding the process-wide lock `name`, or not at all when another session
 * holds it. PostgreSQL: pg_try_advisory_lock on one connection kept from the pool for as long as
 * `work` runs (a session lock lives on its connection; the server drops it if the process dies,
 * so a crashed gc never blocks the next). SQLite: `work` runs: every one of its writes is a
 * transaction the single writer already serialises.
 */
export async function exclusively<T>(db: Kysely<Database>, name: string, work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  if (familyOf(db as Kysely<unknown>) !== "postgres") return { ran: true, value: await work() };
  return db.connection().execute(async (session) => {
    const taken = await sql<{ taken: boolean }>`select pg_try_advisory_lock(hashtextextended(${name}, 0)) as taken`.execute(session);
    if (!taken.rows[0]?.taken) return { ran: false };
    try {
      return { ran: true, value: await work() };
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended(${name}, 0))`.execute(session);
    }
  });
}

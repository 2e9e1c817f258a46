// The change log's SQL (see migrations/007-changes.ts). Entries are ordered by an integer id, and
// a reader that has seen id N must have seen every entry up to N: ChangeFeed keeps only a cursor.
//
// SQLite's single writer commits entries in id order. PostgreSQL does not: ids come from a
// sequence when a row is inserted, and transactions commit side by side, so T1 may take id N,
// T2 take N+1 and commit first; a reader at that moment sees N+1, moves its cursor there and
// never reads N. Of the ways out (a reader that re-reads a window or waits out gaps, which must
// guess how long a gap may stay open and stalls behind any long transaction; a lock from the
// first append to commit, which deadlocks with row locks taken after it), Berth takes
// numbering at commit: inside its transaction an entry carries a provisional id (the
// transaction sees its own entries as usual), and as the transaction's last step `seal()` takes
// the log's lock (locks.ts) and renumbers them from the same sequence, in order. The lock is held
// until commit, so final ids are handed out in commit order: whoever takes a higher id commits
// after every lower one. Nothing is locked after it, so it cannot close a cycle of waits, and
// transactions wait for each other only for that last step. Uncommitted rows are invisible to
// other transactions, so no reader ever sees a provisional id.
//
//   transaction { …work; append → provisional ids } ─▶ seal: lock "changes"; id := nextval, in order ─▶ commit
import { sql, type Kysely, type Transaction } from "kysely";
import type { Change, ChangeActor, ChangeEntry, ChangeKind } from "../domain/changes.ts";
import { repositoryOf } from "../domain/changes.ts";
import { holdLock } from "./locks.ts";
import { familyOf, jsonField } from "./migrations/portable.ts";
import type { Database } from "./schema.ts";
import type { ChangeFilter, ChangeRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

/** The PostgreSQL channel new entries are announced on (postgres/change-announcements.ts). */
export const CHANGES_CHANNEL = "berth_changes";

export class ChangeStore implements ChangeRows {
  private readonly db: Db;
  /** Told after each append (the store then tells its listeners once the transaction commits). */
  private readonly appended: (change: Change) => void | Promise<void>;
  private readonly numberedAtCommit: boolean;
  /** This transaction's entries, by provisional id, in append order (PostgreSQL). */
  private provisional: number[] = [];
  /** Who the transaction acts for: recorded with each entry (MetadataStore.transaction's option). */
  private readonly actor: ChangeActor | null;

  constructor(db: Db, appended: (change: Change) => void | Promise<void>, actor: ChangeActor | null = null) {
    this.db = db;
    this.appended = appended;
    this.actor = actor;
    this.numberedAtCommit = familyOf(db as Kysely<unknown>) === "postgres";
  }

  async append(change: Change): Promise<void> {
    if (this.numberedAtCommit && !this.db.isTransaction) {
      // Alone, an entry is still numbered under the lock: its own transaction, sealed.
      await (this.db as Kysely<Database>).transaction().execute(async (trx) => {
        const alone = new ChangeStore(trx, () => undefined, this.actor);
        await alone.append(change);
        await alone.seal();
      });
      await this.appended(change);
      return;
    }
    const row = await this.db.insertInto("changes").values({ at: Date.now(), kind: change.kind, repository: repositoryOf(change), body: JSON.stringify(change), actor: this.actor ? JSON.stringify(this.actor) : null }).returning("id").executeTakeFirstOrThrow();
    if (this.numberedAtCommit) this.provisional.push(Number(row.id));
    await this.appended(change);
  }

  /**
   * The transaction's last step before commit: its entries take their final ids (see the top of
   * this file). Nothing to do on SQLite, or when the transaction appended nothing.
   */
  async seal(): Promise<void> {
    if (this.provisional.length === 0) return;
    await holdLock(this.db, "changes");
    // One statement for all of them. nextval runs in append order: PostgreSQL evaluates a
    // volatile output column after the subquery's ORDER BY (since 9.6). The notification is
    // delivered to every LISTENing instance when this transaction commits, never if it rolls
    // back (postgres/change-announcements.ts).
    await sql`
      with renumbered as (
        update changes set id = final.id
        from (select provisional, nextval(pg_get_serial_sequence('changes', 'id')) as id
              from unnest(${this.provisional}::bigint[]) with ordinality as p(provisional, position)
              order by position) as final
        where changes.id = final.provisional
        returning changes.id)
      select pg_notify(${CHANGES_CHANNEL}, ''), (select count(*) from renumbered)`.execute(this.db);
    this.provisional = [];
  }

  async since(cursor: number, limit: number): Promise<ChangeEntry[]> {
    const rows = await this.db.selectFrom("changes").select(["id", "at", "body", "actor"]).where("id", ">", cursor).orderBy("id").limit(limit).execute();
    return rows.map(entryOf);
  }

  async entries(ids: readonly number[]): Promise<ChangeEntry[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom("changes").select(["id", "at", "body", "actor"]).where("id", "in", [...ids]).orderBy("id").execute();
    return rows.map(entryOf);
  }

  async events(filter: ChangeFilter, from: { after: number } | { before: number | null }, limit: number): Promise<ChangeEntry[]> {
    const newest = "before" in from;
    const direction = newest ? "desc" : "asc";
    // One index range per selector (a kind, or referrers), each cut at `limit`, then the first
    // `limit` of them all: a page reads at most selectors × limit index entries and `limit` rows,
    // however rare the action is (migrations/025-event-filters.ts). The kinds are written as
    // literals: SQLite uses a partial index only for a query that states its terms, not `kind = ?`.
    const ranges = filter.sources.map((source) => {
      let range = this.db.selectFrom("changes").select("id").where("kind", "=", sql.lit(source.kind));
      if (source.referrer !== undefined) range = range.where(sql<boolean>`${this.subject} ${source.referrer ? sql`is not null` : sql`is null`}`);
      if (filter.repository !== undefined) range = range.where("repository", "=", filter.repository);
      if (!newest) range = range.where("id", ">", from.after);
      else if (from.before !== null) range = range.where("id", "<", from.before);
      return this.db.selectFrom(range.orderBy("id", direction).limit(limit).as("range")).select("range.id");
    });
    const [first, ...rest] = ranges;
    if (!first) return [];
    const ids = rest.reduce((all, range) => all.unionAll(range), first).orderBy("id", direction).limit(limit);
    const rows = await this.db.selectFrom("changes").select(["id", "at", "body", "actor"]).where("id", "in", ids).orderBy("id", direction).execute();
    return rows.map(entryOf);
  }

  /** The subject a manifest.pushed entry names (a referrer's), as migrations/025-event-filters.ts indexes it. */
  private get subject() {
    return jsonField(this.db as Kysely<unknown>, "body", "subject");
  }

  async latest(kinds?: readonly ChangeKind[]): Promise<number> {
    let query = this.db.selectFrom("changes").select((eb) => eb.fn.max("id").as("id"));
    if (kinds) query = query.where("kind", "in", [...kinds]);
    const row = await query.executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  async claim(consumer: string, owner: string, limit: number, leaseMs: number): Promise<ChangeEntry[]> {
    const now = Date.now();
    // A new consumer starts at the end of the log: it sees what happens from now on.
    await this.db
      .insertInto("change_consumers")
      .values({ consumer, cursor: await this.latest(), owner: null, lease_until: 0 })
      .onConflict((oc) => oc.column("consumer").doNothing())
      .execute();
    // Taking the lease and reading the cursor in one statement: the cursor returned is the one
    // the lease was taken over, whatever another owner acks around it.
    const taken = await this.db
      .updateTable("change_consumers")
      .set({ owner, lease_until: now + leaseMs })
      .where("consumer", "=", consumer)
      .where((eb) => eb.or([eb("owner", "is", null), eb("owner", "=", owner), eb("lease_until", "<", now)]))
      .returning("cursor")
      .executeTakeFirst();
    if (!taken) return [];
    return this.since(Number(taken.cursor), limit);
  }

  async release(consumer: string, owner: string): Promise<void> {
    await this.db.updateTable("change_consumers").set({ owner: null, lease_until: 0 }).where("consumer", "=", consumer).where("owner", "=", owner).execute();
  }

  async ack(consumer: string, owner: string, through: number): Promise<boolean> {
    const result = await this.db
      .updateTable("change_consumers")
      .set({ cursor: through, owner: null, lease_until: 0 })
      .where("consumer", "=", consumer)
      .where("owner", "=", owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async prune(before: Date): Promise<number> {
    // One statement, so a consumer that acks or is created meanwhile is weighed as it is then.
    const result = await this.db
      .deleteFrom("changes")
      .where("at", "<", before.getTime())
      // The newest entry of each kind stays: it names what caches show (the index.yaml ETag is
      // the newest chart change), so a process started after a prune agrees with one running.
      .where("id", "not in", this.db.selectFrom("changes").select((eb) => eb.fn.max("id").as("id")).groupBy("kind"))
      // Nothing a consumer has not acknowledged (no consumers: no limit).
      .where((eb) => eb.not(eb.exists(eb.selectFrom("change_consumers").select("consumer").whereRef("change_consumers.cursor", "<", "changes.id"))))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function entryOf(r: { id: number | string | bigint; at: number | string | bigint; body: string; actor: string | null }): ChangeEntry {
  return { id: Number(r.id), at: new Date(Number(r.at)), change: JSON.parse(r.body) as Change, actor: r.actor ? (JSON.parse(r.actor) as ChangeActor) : null };
}

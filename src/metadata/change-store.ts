// The change log's SQL (see migrations/007-changes.ts). Entries are ordered by an integer id;
// SQLite's single writer commits them in id order, so a reader that has seen id N has seen
// every entry up to N. (A store whose writers commit concurrently must keep that promise
// itself, e.g. by appending under a lock: the PostgreSQL store's task.)
import type { Kysely, Transaction } from "kysely";
import type { Change, ChangeEntry, ChangeKind } from "../domain/changes.ts";
import { repositoryOf } from "../domain/changes.ts";
import type { Database } from "./schema.ts";
import type { ChangeRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

export class ChangeStore implements ChangeRows {
  private readonly db: Db;
  /** Told after each append (the store then tells its listeners once the transaction commits). */
  private readonly appended: (change: Change) => void | Promise<void>;

  constructor(db: Db, appended: (change: Change) => void | Promise<void>) {
    this.db = db;
    this.appended = appended;
  }

  async append(change: Change): Promise<void> {
    await this.db.insertInto("changes").values({ at: Date.now(), kind: change.kind, repository: repositoryOf(change), body: JSON.stringify(change) }).execute();
    await this.appended(change);
  }

  async since(cursor: number, limit: number): Promise<ChangeEntry[]> {
    const rows = await this.db.selectFrom("changes").select(["id", "at", "body"]).where("id", ">", cursor).orderBy("id").limit(limit).execute();
    return rows.map((r) => ({ id: Number(r.id), at: new Date(Number(r.at)), change: JSON.parse(r.body) as Change }));
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

// Job leases (migrations/015-jobs.ts): one conditional UPDATE takes a lease, so two instances
// asking at once never both get it.
import type { Kysely, Transaction } from "kysely";
import { dbNow } from "./db-clock.ts";
import type { Database } from "./schema.ts";
import type { JobRows } from "./types.ts";

type Db = Kysely<Database> | Transaction<Database>;

export class Jobs implements JobRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async claim(job: string, owner: string, forMs: number): Promise<boolean> {
    // A job no one has run yet gets a row that has already run out, for the UPDATE to take.
    await this.db.insertInto("jobs").values({ name: job, owner, lease_until: 0 }).onConflict((c) => c.column("name").doNothing()).execute();
    const db = this.db;
    const taken = await db
      .updateTable("jobs")
      .set((eb) => ({ owner, lease_until: eb(dbNow(db), "+", forMs) }))
      .where("name", "=", job)
      .where((eb) => eb.or([eb("owner", "=", owner), eb("lease_until", "<=", dbNow(db))]))
      .executeTakeFirst();
    return Number(taken.numUpdatedRows) > 0;
  }

  async release(job: string, owner: string): Promise<void> {
    await this.db.updateTable("jobs").set({ lease_until: 0 }).where("name", "=", job).where("owner", "=", owner).execute();
  }
}

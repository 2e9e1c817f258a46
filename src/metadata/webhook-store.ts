// Webhooks and deliveries (migration 017, webhook-types.ts): plain rows, portable SQL.
// A delivery's lease, its attempts and the trimming of old ones commit without a WAL sync of their
// own on SQLite (UNSYNCED, UNSYNCED_NEXT_TRANSACTION): what a power cut takes back is at most an
// attempt's record, and the delivery is then sent again, which at-least-once delivery allows.
// Queueing (the fan-out) syncs. The worker's hot path (the webhook's row before each delivery, a
// batch's lease, its record) costs a few statements per batch, not per delivery (webhook-worker.ts).
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { familyOf } from "./migrations/portable.ts";
import { ReusedQuery } from "./reused-query.ts";
import { UNSYNCED, UNSYNCED_NEXT_TRANSACTION } from "./sqlite/node-sqlite-dialect.ts";
import type { Database } from "./schema.ts";
import type { AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, NewDelivery, RecordedAttempt, SentRequest, Webhook, WebhookFormat, WebhookRows } from "./webhook-types.ts";

/** Rows a statement inserts at most: 9 values each stays under SQLite's 32,766 bound values. */
const ENQUEUE_SLICE = 500;

type Db = Kysely<Database> | Transaction<Database>;

function toWebhook(r: Selectable<Database["webhooks"]>): Webhook {
  return {
    name: r.name,
    url: r.url,
    actions: JSON.parse(r.actions) as string[],
    scope: r.scope,
    headers: JSON.parse(r.headers) as Record<string, string>,
    format: r.format as WebhookFormat,
    enabled: Number(r.enabled) === 1,
    secret: r.secret,
    createdAt: new Date(Number(r.created_at)),
    updatedAt: new Date(Number(r.updated_at)),
  };
}

function toDelivery(r: Selectable<Database["webhook_deliveries"]>): Delivery {
  return {
    id: Number(r.id),
    webhook: r.webhook,
    eventId: Number(r.event_id),
    action: r.action,
    createdAt: new Date(Number(r.created_at)),
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAt: new Date(Number(r.next_at)),
    requestHeaders: JSON.parse(r.request_headers) as Record<string, string>,
    body: r.body,
    responseStatus: r.response_status === null ? null : Number(r.response_status),
    latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
    error: r.error,
    finishedAt: r.finished_at === null ? null : new Date(Number(r.finished_at)),
    recentAttempts: attemptsOf(r.recent_attempts),
  };
}

/** The kept attempts as the row holds them: JSON, times as epoch ms. */
interface StoredAttempt {
  at: number;
  responseStatus: number | null;
  latencyMs: number | null;
  error: string | null;
}

function attemptsOf(json: string): DeliveryAttempt[] {
  return (JSON.parse(json) as StoredAttempt[]).map((a) => ({ at: new Date(a.at), responseStatus: a.responseStatus, latencyMs: a.latencyMs, error: a.error }));
}

function attemptsJson(attempts: readonly DeliveryAttempt[]): string {
  return JSON.stringify(attempts.map((a): StoredAttempt => ({ at: a.at.getTime(), responseStatus: a.responseStatus, latencyMs: a.latencyMs, error: a.error })));
}

/** An attempt's outcome (and what it sent, and its recent attempts; null: kept as they are) as the attempt statement's values, in its order. */
function attemptValues(id: number, o: AttemptOutcome, sent?: SentRequest): [number, string, number, number, number | null, number | null, string | null, number | null, string | null, string | null, string | null] {
  return [id, o.status, o.attempts, o.nextAt.getTime(), o.responseStatus, o.latencyMs, o.error, o.finishedAt ? o.finishedAt.getTime() : null, sent ? JSON.stringify(sent.requestHeaders) : null, sent?.body ?? null, o.recentAttempts ? attemptsJson(o.recentAttempts) : null];
}

export class WebhookStore implements WebhookRows {
  private readonly db: Db;
  /** The worker reads a webhook before each batch (a change, a rotated secret, applies to the next): compiled once (reused-query.ts). */
  private readonly byName: ReusedQuery<Selectable<Database["webhooks"]>, [string]>;
  /** The worker asks every tick (webhooks.interval). */
  private readonly dueQuery: ReusedQuery<{ webhook: string }, [number, number]>;

  constructor(db: Db) {
    this.db = db;
    this.byName = new ReusedQuery(db, (name) => db.selectFrom("webhooks").selectAll().where("name", "=", name));
    this.dueQuery = new ReusedQuery(db, (now: number, firstBefore: number) =>
      db
        .selectFrom("webhook_deliveries as d")
        .innerJoin("webhooks as w", "w.name", "d.webhook")
        .select("d.webhook")
        .distinct()
        .where("d.status", "=", "pending")
        .where((eb) => eb.or([eb.and([eb("d.attempts", "=", 0), eb("d.next_at", "<=", firstBefore)]), eb.and([eb("d.attempts", ">", 0), eb("d.next_at", "<=", now)])]))
        .where("w.enabled", "=", 1),
    );
  }

  async create(w: Webhook): Promise<boolean> {
    const result = await this.db
      .insertInto("webhooks")
      .values({
        name: w.name,
        url: w.url,
        actions: JSON.stringify(w.actions),
        scope: w.scope,
        headers: JSON.stringify(w.headers),
        format: w.format,
        enabled: w.enabled ? 1 : 0,
        secret: w.secret,
        created_at: w.createdAt.getTime(),
        updated_at: w.updatedAt.getTime(),
      })
      .onConflict((oc) => oc.column("name").doNothing())
      .returning("name")
      .executeTakeFirst();
    return result !== undefined;
  }

  async get(name: string): Promise<Webhook | null> {
    const row = await this.byName.first(name);
    return row ? toWebhook(row) : null;
  }

  async hold(name: string): Promise<Webhook | null> {
    const query = this.db.selectFrom("webhooks").selectAll().where("name", "=", name);
    const row = familyOf(this.db as Kysely<unknown>) === "postgres" ? await query.forUpdate().executeTakeFirst() : await query.executeTakeFirst();
    return row ? toWebhook(row) : null;
  }

  async list(): Promise<Webhook[]> {
    return (await this.db.selectFrom("webhooks").selectAll().orderBy("name").execute()).map(toWebhook);
  }

  async update(name: string, c: Partial<Omit<Webhook, "name" | "createdAt">>): Promise<boolean> {
    const result = await this.db
      .updateTable("webhooks")
      .set({
        ...(c.url !== undefined && { url: c.url }),
        ...(c.actions !== undefined && { actions: JSON.stringify(c.actions) }),
        ...(c.scope !== undefined && { scope: c.scope }),
        ...(c.headers !== undefined && { headers: JSON.stringify(c.headers) }),
        ...(c.format !== undefined && { format: c.format }),
        ...(c.enabled !== undefined && { enabled: c.enabled ? 1 : 0 }),
        ...(c.secret !== undefined && { secret: c.secret }),
        updated_at: (c.updatedAt ?? new Date()).getTime(),
      })
      .where("name", "=", name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(name: string): Promise<boolean> {
    if (!this.db.isTransaction) return (this.db as Kysely<Database>).transaction().execute((trx) => new WebhookStore(trx).delete(name));
    // The row first: on PostgreSQL its delete waits for a fan-out holding it (`queueable`), and the
    // next statement, under READ COMMITTED, then sees the deliveries that fan-out committed.
    const result = await this.db.deleteFrom("webhooks").where("name", "=", name).executeTakeFirst();
    await this.db.deleteFrom("webhook_deliveries").where("webhook", "=", name).execute();
    return Number(result.numDeletedRows) > 0;
  }

  async queueable(): Promise<Webhook[]> {
    const query = this.db.selectFrom("webhooks").selectAll().where("enabled", "=", 1).orderBy("name");
    const rows = familyOf(this.db as Kysely<unknown>) === "postgres" ? await query.forShare().execute() : await query.execute();
    return rows.map(toWebhook);
  }

  async enqueue(deliveries: readonly NewDelivery[], at: Date): Promise<void> {
    for (let from = 0; from < deliveries.length; from += ENQUEUE_SLICE) {
      await this.db
        .insertInto("webhook_deliveries")
        .values(
          deliveries.slice(from, from + ENQUEUE_SLICE).map((d) => ({
          webhook: d.webhook,
          event_id: d.eventId,
          action: d.action,
          created_at: at.getTime(),
          status: "pending",
          attempts: 0,
          next_at: at.getTime(),
            request_headers: JSON.stringify(d.requestHeaders),
            body: d.body,
          })),
        )
        .onConflict((oc) => oc.columns(["webhook", "event_id"]).doNothing())
        .execute();
    }
  }

  async due(now: Date, firstBefore: Date = now): Promise<string[]> {
    const rows = await this.dueQuery.rows(now.getTime(), Math.min(now.getTime(), firstBefore.getTime()));
    return rows.map((r) => r.webhook);
  }

  async head(webhook: string): Promise<Delivery | null> {
    const row = await this.db.selectFrom("webhook_deliveries").selectAll().where("webhook", "=", webhook).where("status", "=", "pending").orderBy("id").limit(1).executeTakeFirst();
    return row ? toDelivery(row) : null;
  }

  async lease(id: number, owner: string, now: Date, until: Date): Promise<boolean> {
    const result = await this.db
      .updateTable("webhook_deliveries")
      .set({ lease_owner: owner, lease_until: until.getTime() })
      .where("id", "=", id)
      .where("status", "=", "pending")
      .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_owner", "=", owner), eb("lease_until", "<", now.getTime())]))
      .modifyEnd(sql.raw(UNSYNCED))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async leaseDue(webhook: string, owner: string, now: Date, until: Date, limit: number): Promise<Delivery[]> {
    // The webhook's first `limit` pending rows (q), and of them those before the first that is
    // not due or another owner's lease still holds: a prefix of its queue, so order holds. On
    // PostgreSQL q locks its rows (FOR UPDATE): a second leaser waits, then sees the first's
    // leases, instead of leasing rows past them from an older snapshot.
    // And first the webhook's row, shared: a delete of the webhook, which takes it
    // exclusively before its deliveries, waits for this or this finds none (gate).
    const postgres = familyOf(this.db as Kysely<unknown>) === "postgres";
    const lock = postgres ? sql.raw(" for update") : sql.raw("");
    const t = now.getTime();
    const { rows } = await sql<Selectable<Database["webhook_deliveries"]>>`
      with ${postgres ? sql`${gate(webhook)},` : sql``}
           q as (select id, next_at, lease_owner, lease_until from webhook_deliveries
                 where webhook = ${gatedName(postgres, webhook)} and status = 'pending' order by id limit ${limit}${lock})
      update webhook_deliveries set lease_owner = ${owner}, lease_until = ${until.getTime()}
      where status = 'pending'
        and (lease_owner is null or lease_owner = ${owner} or lease_until < ${t})
        and id in (select id from q where id < coalesce((select min(id) from q
              where next_at > ${t} or (lease_owner is not null and lease_owner <> ${owner} and lease_until >= ${t})), ${Number.MAX_SAFE_INTEGER}))
      returning *${sql.raw(UNSYNCED)}`.execute(this.db);
    return rows.map(toDelivery).sort((a, b) => a.id - b.id);
  }

  async attempted(id: number, o: AttemptOutcome): Promise<void> {
    await this.attemptStatement(this.db, UNSYNCED).changed(...attemptValues(id, o));
  }

  async record(webhook: string, owner: string, attempts: readonly RecordedAttempt[], release: readonly number[], keep: number): Promise<void> {
    const write = async (db: Db) => {
      // The webhook's row first, shared, as every writer of several of its deliveries (gate).
      if (familyOf(db as Kysely<unknown>) === "postgres") await db.selectFrom("webhooks").select("name").where("name", "=", webhook).forKeyShare().execute();
      const update = this.attemptStatement(db, "");
      for (const a of attempts) await update.changed(...attemptValues(a.id, a.outcome, a.sent));
      if (release.length > 0) await db.updateTable("webhook_deliveries").set({ lease_owner: null, lease_until: 0 }).where("id", "in", release).where("lease_owner", "=", owner).execute();
      if (attempts.some((a) => a.outcome.status !== "pending")) await new WebhookStore(db).trimWith(webhook, keep, "");
    };
    // Inside a caller's transaction its commit decides (the 410 path: synced, with its audit line).
    if (this.db.isTransaction) return write(this.db);
    // On its own: one transaction that need not sync (SQLite: lowered for it on the connection it
    // holds; PostgreSQL: synchronous_commit off for it alone).
    const postgres = familyOf(this.db as Kysely<unknown>) === "postgres";
    await (this.db as Kysely<Database>).connection().execute(async (connection) => {
      if (!postgres) await sql.raw(UNSYNCED_NEXT_TRANSACTION).execute(connection);
      await connection.transaction().execute(async (trx) => {
        if (postgres) await sql`set local synchronous_commit = off`.execute(trx);
        await write(trx);
      });
    });
  }

  private attemptStatement(db: Db, marker: string) {
    return new ReusedQuery(db, (id: number, status: string, attempts: number, nextAt: number, responseStatus: number | null, latencyMs: number | null, error: string | null, finishedAt: number | null, headers: string | null, body: string | null, recent: string | null) =>
      db
        .updateTable("webhook_deliveries")
        .set({
          lease_owner: null,
          lease_until: 0,
          status,
          attempts,
          next_at: nextAt,
          response_status: responseStatus,
          latency_ms: latencyMs,
          error,
          finished_at: finishedAt,
          // What the attempt went out with (the webhook's headers and format at its batch); null: as kept.
          request_headers: sql<string>`coalesce(${headers}, request_headers)`,
          body: sql<string>`coalesce(${body}, body)`,
          // The worker appended this attempt to what it leased (the lease keeps other writers off the row); null: as kept.
          recent_attempts: sql<string>`coalesce(${recent}, recent_attempts)`,
        })
        .where("id", "=", id)
        .modifyEnd(sql.raw(marker)),
    );
  }

  async deliveries(webhook: string, limit: number): Promise<Delivery[]> {
    return (await this.db.selectFrom("webhook_deliveries").selectAll().where("webhook", "=", webhook).orderBy("id", "desc").limit(limit).execute()).map(toDelivery);
  }

  async delivery(webhook: string, id: number): Promise<Delivery | null> {
    const row = await this.db.selectFrom("webhook_deliveries").selectAll().where("webhook", "=", webhook).where("id", "=", id).executeTakeFirst();
    return row ? toDelivery(row) : null;
  }

  async redeliver(webhook: string, id: number, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable("webhook_deliveries")
      .set({ status: "pending", attempts: 0, next_at: at.getTime(), finished_at: null })
      .where("webhook", "=", webhook)
      .where("id", "=", id)
      .where("status", "!=", "pending")
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async trim(webhook: string, keep: number): Promise<number> {
    return this.trimWith(webhook, keep, UNSYNCED);
  }

  private async trimWith(webhook: string, keep: number, marker: string): Promise<number> {
    // One statement: below the keep-th newest finished delivery's id, every finished one goes
    // (none when there are not that many: the comparison with no row is not true).
    const postgres = familyOf(this.db as Kysely<unknown>) === "postgres";
    const { numAffectedRows } = await sql`
      ${postgres ? sql`with ${gate(webhook)}` : sql``}
      delete from webhook_deliveries where webhook = ${gatedName(postgres, webhook)} and status <> 'pending'
        and id <= (select id from webhook_deliveries where webhook = ${webhook} and status <> 'pending' order by id desc limit 1 offset ${keep})${sql.raw(marker)}`.execute(this.db);
    return Number(numAffectedRows ?? 0);
  }

}

/**
 * PostgreSQL: the webhook's row, key-shared, before a statement writes several of its deliveries. A
 * webhook's delete takes the row exclusively, then deletes its deliveries in its plan's order
 * (the queue index: finished ones first); the worker recording a batch held the batch's rows and
 * wanted a finished one to trim: a deadlock (locks.ts). The row orders them: one waits for the
 * other, whole. KEY SHARE conflicts with the delete alone (a change of the webhook's settings does
 * not wait for the worker). As a CTE (`w`), so a single statement takes it before any delivery's row:
 * `gatedName` reads it in the statement's WHERE (an init plan, run before the scan).
 */
function gate(webhook: string) {
  return sql`w as (select name from webhooks where name = ${webhook} for key share)`;
}

function gatedName(postgres: boolean, webhook: string) {
  return postgres ? sql`(select name from w)` : sql`${webhook}`;
}

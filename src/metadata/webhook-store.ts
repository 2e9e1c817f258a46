// Webhooks and deliveries (migration 017, webhook-types.ts): plain rows, portable SQL.
// A delivery's lease, its attempts and the trimming of old ones commit without a WAL sync of their
// own on SQLite (UNSYNCED): what a power cut takes back is at most an attempt's record, and the
// delivery is then sent again, which at-least-once delivery allows. Queueing (the fan-out) syncs.
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { UNSYNCED } from "./sqlite/node-sqlite-dialect.ts";
import type { Database } from "./schema.ts";
import type { AttemptOutcome, Delivery, DeliveryStatus, NewDelivery, Webhook, WebhookFormat, WebhookRows } from "./webhook-types.ts";

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
  };
}

export class WebhookStore implements WebhookRows {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
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
    const row = await this.db.selectFrom("webhooks").selectAll().where("name", "=", name).executeTakeFirst();
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
    await this.db.deleteFrom("webhook_deliveries").where("webhook", "=", name).execute();
    const result = await this.db.deleteFrom("webhooks").where("name", "=", name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async enqueue(deliveries: readonly NewDelivery[], at: Date): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto("webhook_deliveries")
      .values(
        deliveries.map((d) => ({
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

  async due(now: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom("webhook_deliveries as d")
      .innerJoin("webhooks as w", "w.name", "d.webhook")
      .select("d.webhook")
      .distinct()
      .where("d.status", "=", "pending")
      .where("d.next_at", "<=", now.getTime())
      .where("w.enabled", "=", 1)
      .execute();
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

  async attempted(id: number, o: AttemptOutcome): Promise<void> {
    await this.db
      .updateTable("webhook_deliveries")
      .set({
        lease_owner: null,
        lease_until: 0,
        status: o.status,
        attempts: o.attempts,
        next_at: o.nextAt.getTime(),
        response_status: o.responseStatus,
        latency_ms: o.latencyMs,
        error: o.error,
        finished_at: o.finishedAt ? o.finishedAt.getTime() : null,
      })
      .where("id", "=", id)
      .modifyEnd(sql.raw(UNSYNCED))
      .execute();
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
    // The id of the keep-th newest finished delivery: everything finished below it goes.
    const boundary = await this.db
      .selectFrom("webhook_deliveries")
      .select("id")
      .where("webhook", "=", webhook)
      .where("status", "!=", "pending")
      .orderBy("id", "desc")
      .offset(keep)
      .limit(1)
      .executeTakeFirst();
    if (!boundary) return 0;
    const result = await this.db
      .deleteFrom("webhook_deliveries")
      .where("webhook", "=", webhook)
      .where("status", "!=", "pending")
      .where("id", "<=", Number(boundary.id))
      .modifyEnd(sql.raw(UNSYNCED))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

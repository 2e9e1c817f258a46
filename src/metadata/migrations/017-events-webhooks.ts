import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered, serialKey } from "./portable.ts";

/**
 * The event stream and webhooks (docs/lifecycle.md). The change log stays the one place changes
 * are recorded: each entry now also names who made it (`changes.actor`, JSON: identity name and
 * kind, address, user agent, request id), written in the same transaction, so an event is a
 * change entry read with its actor. Webhooks (`webhooks`) and their deliveries
 * (`webhook_deliveries`, one row per event per matching webhook, numbered in event order): the
 * delivery worker survives restarts because what it still owes is rows, and a finished delivery
 * keeps its request, response status, latency and error (the newest N per webhook).
 */
export const eventsWebhooks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    const id = serialKey(db);
    await db.schema.alterTable("changes").addColumn("actor", "text").execute();
    await db.schema
      .createTable("webhooks")
      .addColumn("name", "text", key((c) => c.primaryKey()))
      .addColumn("url", "text", (c) => c.notNull())
      .addColumn("actions", "text", (c) => c.notNull())
      .addColumn("scope", "text", (c) => c.notNull())
      .addColumn("headers", "text", (c) => c.notNull())
      .addColumn("format", "text", (c) => c.notNull())
      .addColumn("enabled", "integer", (c) => c.notNull())
      // Kept as it is: HMAC signing needs the secret itself (docs/lifecycle.md says why).
      .addColumn("secret", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("webhook_deliveries")
      .addColumn("id", id.type, id.column)
      .addColumn("webhook", "text", key((c) => c.notNull()))
      .addColumn("event_id", "bigint", (c) => c.notNull())
      .addColumn("action", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      // pending (owed; next_at says when), delivered, failed (gave up, or the receiver said 410)
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("attempts", "integer", (c) => c.notNull())
      .addColumn("next_at", "bigint", (c) => c.notNull())
      .addColumn("request_headers", "text", (c) => c.notNull())
      .addColumn("body", "text", (c) => c.notNull())
      .addColumn("response_status", "integer")
      .addColumn("latency_ms", "integer")
      .addColumn("error", "text")
      .addColumn("finished_at", "bigint")
      // Who is sending it now, until when: one sender per delivery across instances, so a worker
      // that lost its job lease mid-send cannot race the one that took it over.
      .addColumn("lease_owner", "text")
      .addColumn("lease_until", "bigint", (c) => c.notNull().defaultTo(0))
      .execute();
    // One delivery per event per webhook however often the fan-out is retried.
    await db.schema.createIndex("webhook_deliveries_event").unique().on("webhook_deliveries").columns(["webhook", "event_id"]).execute();
    await db.schema.createIndex("webhook_deliveries_queue").on("webhook_deliveries").columns(["webhook", "status", "id"]).execute();
  },
};

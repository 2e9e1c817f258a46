// Webhooks (ACR: `az acr webhook`) and the event stream they are sent from.
import { DeliveriesQuery, EventsQuery, NewWebhook, WebhookPatch } from "../../api-contract/webhooks.ts";
import { RegistryError } from "../../domain/errors.ts";
import { bodyOf, param, queryOf, type ApiContext } from "./context.ts";

export async function getWebhooks(ctx: ApiContext) {
  return { webhooks: await ctx.webhooks.list() };
}

export async function postWebhook(ctx: ApiContext) {
  const { name, ...input } = bodyOf(ctx, NewWebhook);
  const { webhook, secret } = await ctx.webhooks.create(name, input, ctx.by);
  return ctx.reply.code(201).send({ ...webhook, secret });
}

export async function getWebhook(ctx: ApiContext) {
  return ctx.webhooks.get(param(ctx, "name"));
}

export async function patchWebhook(ctx: ApiContext) {
  const { webhook, secret } = await ctx.webhooks.update(param(ctx, "name"), bodyOf(ctx, WebhookPatch), ctx.by);
  return secret ? { ...webhook, secret } : webhook;
}

export async function deleteWebhook(ctx: ApiContext) {
  await ctx.webhooks.delete(param(ctx, "name"), ctx.by);
  return { deleted: true };
}

export async function postPing(ctx: ApiContext) {
  return ctx.webhooks.ping(param(ctx, "name"));
}

export async function getDeliveries(ctx: ApiContext) {
  const { limit = 20 } = queryOf(ctx, DeliveriesQuery);
  return { deliveries: await ctx.webhooks.deliveries(param(ctx, "name"), limit) };
}

export async function postRedeliver(ctx: ApiContext) {
  const id = param(ctx, "id");
  if (!/^[0-9]{1,15}$/.test(id)) throw new RegistryError("INVALID_REQUEST", `not a delivery id: ${id.slice(0, 40)}`);
  return ctx.webhooks.redeliver(param(ctx, "name"), Number(id), ctx.by);
}

/** Reads the change log from a cursor; entries that are not events (blob links, keys) are skipped, the cursor still moves past them. */
export async function getEvents(ctx: ApiContext) {
  const { after = 0, limit = 100, action, repository, order = "oldest", before } = queryOf(ctx, EventsQuery);
  if (order === "oldest" && before !== undefined) throw new RegistryError("INVALID_REQUEST", "before= goes with order=newest; oldest first pages with after=", { before });
  if (order === "newest" && after !== 0) throw new RegistryError("INVALID_REQUEST", "after= goes with order=oldest; newest first pages with before=", { after });
  const only = { ...(action && { actions: [action] }), ...(repository !== undefined && { repository }) };
  return order === "newest" ? await ctx.webhooks.newest(before ?? null, limit, only) : await ctx.webhooks.events(after, limit, only);
}

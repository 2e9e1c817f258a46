// `berth webhook create|list|show|update|delete|ping|deliveries|redeliver` in the conventions of
// `az acr webhook`, and `berth event list` (the event stream webhooks are sent from). Over the
// management API, /api/v1/webhooks and /api/v1/events (docs/lifecycle.md).
//
//   berth webhook create ci --uri https://ci.example.com/hook --actions push delete --scope 'team/*' \
//       --headers 'Authorization=Bearer x' --format cloudevents
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printLine, printTable, shortDigest, shortTime, truncate } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { CreatedWebhook, DeliveryList, DeliveryView, EventList, UpdatedWebhook, WebhookList, WebhookView } from "../api-contract/webhooks.ts";
import { EVENT_ACTIONS, WEBHOOK_FORMATS } from "../domain/events.ts";
import type { z } from "zod";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const hooks = (...rest: string[]) => ["api", "v1", "webhooks", ...rest];
const notFound = (name: string) => `webhook ${name} not found: see \`berth webhook list\``;

const actionsOption = () => new Option("--actions <action...>", `events to send: ${EVENT_ACTIONS.join(", ")}`).choices(EVENT_ACTIONS);
const formatOption = () => new Option("--format <format>", "payload: acr (ACR's webhook JSON), distribution (application/vnd.docker.distribution.events.v1+json), cloudevents (CloudEvents 1.0 JSON)").choices(WEBHOOK_FORMATS);
const statusOption = () => new Option("--status <status>", "enabled or disabled").choices(["enabled", "disabled"] as const);
const headersOption = () => new Option("--headers <name=value...>", "custom headers sent with every delivery (e.g. Authorization=Bearer …)");
const scopeOption = () => new Option("--scope <pattern>", "repositories whose events are sent: *, team/*, or a repository name (as scope maps write them)");

function parseHeaders(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new CliError(`--headers takes name=value, not ${pair}`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}

function printWebhook(w: z.infer<typeof WebhookView>): void {
  printDetails([
    ["name", w.name],
    ["uri", w.url],
    ["actions", w.actions.join(", ")],
    ["scope", w.scope],
    ["format", w.format],
    ["status", w.enabled ? "enabled" : "disabled"],
    ["headers", Object.keys(w.headers).join(", ")],
    ["created", shortTime(w.createdAt)],
    ["updated", shortTime(w.updatedAt)],
  ]);
}

function printSecret(secret: string): void {
  printLine("");
  printDetails([["secret", secret]]);
  process.stderr.write(
    "Deliveries carry Berth-Signature: sha256=HMAC-SHA256(secret, \"<Berth-Timestamp>.<body>\"); verify it with this secret.\nSave it now: it is not shown again (rotate it with `berth webhook update --rotate-secret`).\n",
  );
}

const createCommand = connectionOptions(
  new Command("create")
    .description("create a webhook: Berth POSTs a signed event to the URI for each matching change")
    .argument("<name>", "webhook name: letters, digits, - and _ (up to 63)")
    .addOption(new Option("--uri <url>", "where deliveries go (http:// or https://; the host must be allowed by webhooks.allowedHosts)").makeOptionMandatory())
    .addOption(actionsOption().makeOptionMandatory())
    .addOption(scopeOption())
    .addOption(headersOption())
    .addOption(formatOption())
    .addOption(statusOption())
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Actions: push (a manifest, with its tag), delete (a tag or a manifest), chart_push and chart_delete
(classic or OCI), referrer (a signature, SBOM or attestation attached), identity (users, tokens,
scope maps, attributes; linked to the audit line).

Examples:
  berth webhook create ci --uri https://ci.example.com/hook --actions push delete --scope 'team/*' \\
      --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth webhook create events --uri https://hooks.example.com/berth --actions push chart_push --format cloudevents`,
  )
  .action(
    handled(async (name, options) => {
      const created = await (await client(options)).json(CreatedWebhook, "POST", hooks(), {
        json: {
          name,
          url: options.uri,
          actions: options.actions,
          ...(options.scope !== undefined && { scope: options.scope }),
          ...(options.headers && { headers: parseHeaders(options.headers) }),
          ...(options.format && { format: options.format }),
          ...(options.status && { enabled: options.status === "enabled" }),
        },
      });
      if (options.output === "json") return printJson(created);
      printLine(`Created webhook ${created.name}`);
      printWebhook(created);
      printSecret(created.secret);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the webhooks").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth webhook list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(WebhookList, "GET", hooks());
      if (options.output === "json") return printJson(found);
      if (found.webhooks.length === 0) return printLine("no webhooks: create one with `berth webhook create <name> --uri <url> --actions push`");
      printTable(
        ["NAME", "STATUS", "ACTIONS", "SCOPE", "FORMAT", "URI"],
        found.webhooks.map((w) => [w.name, w.enabled ? "enabled" : "disabled", w.actions.join(","), w.scope, w.format, w.url]),
      );
    }),
  );

const showCommand = connectionOptions(new Command("show").description("show a webhook (never its secret)").argument("<name>", "webhook name").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth webhook show ci -o json`)
  .action(
    handled(async (name, options) => {
      const w = await (await client(options)).json(WebhookView, "GET", hooks(name), { explain: { 404: notFound(name) } });
      return options.output === "json" ? printJson(w) : printWebhook(w);
    }),
  );

const updateCommand = connectionOptions(
  new Command("update")
    .description("change a webhook; --rotate-secret prints a new signing secret once")
    .argument("<name>", "webhook name")
    .addOption(new Option("--uri <url>", "where deliveries go (checked against the allow list again)"))
    .addOption(actionsOption())
    .addOption(scopeOption())
    .addOption(headersOption())
    .addOption(formatOption())
    .addOption(statusOption())
    .addOption(new Option("--rotate-secret", "generate a new signing secret (the old one stops signing at once)"))
    .addOption(outputOption()),
)
  .addHelpText("after", `\nExamples:\n  berth webhook update ci --status disabled\n  berth webhook update ci --actions push delete chart_push --rotate-secret`)
  .action(
    handled(async (name, options) => {
      const updated = await (await client(options)).json(UpdatedWebhook, "PATCH", hooks(name), {
        json: {
          ...(options.uri !== undefined && { url: options.uri }),
          ...(options.actions && { actions: options.actions }),
          ...(options.scope !== undefined && { scope: options.scope }),
          ...(options.headers && { headers: parseHeaders(options.headers) }),
          ...(options.format && { format: options.format }),
          ...(options.status && { enabled: options.status === "enabled" }),
          ...(options.rotateSecret && { rotateSecret: true }),
        },
        explain: { 404: notFound(name) },
      });
      if (options.output === "json") return printJson(updated);
      printLine(`Updated webhook ${updated.name}`);
      printWebhook(updated);
      if (updated.secret) printSecret(updated.secret);
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("delete a webhook and its deliveries (pending ones are not sent)").argument("<name>", "webhook name").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth webhook delete ci --yes`)
  .action(
    handled(async (name, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Delete webhook ${name} on ${berth.server.host}?`))) return printLine("nothing deleted");
      const result = await berth.json(Deleted, "DELETE", hooks(name), { explain: { 404: notFound(name) } });
      return options.output === "json" ? printJson(result) : printLine(`Deleted webhook ${name}`);
    }),
  );

function deliveryRow(d: z.infer<typeof DeliveryView>): string[] {
  return [String(d.id), d.eventId < 0 ? "ping" : String(d.eventId), d.action, d.status, String(d.attempts), d.responseStatus === null ? "" : String(d.responseStatus), d.latencyMs === null ? "" : `${d.latencyMs} ms`, shortTime(d.createdAt), truncate(d.error ?? "", 60)];
}
const DELIVERY_HEAD = ["ID", "EVENT", "ACTION", "STATUS", "ATTEMPTS", "HTTP", "LATENCY", "CREATED", "ERROR"];

/** A delivery's kept requests, one row each, newest first as the deliveries are. */
function attemptRows(d: z.infer<typeof DeliveryView>): string[][] {
  return [...d.recentAttempts].reverse().map((a) => [String(d.id), d.eventId < 0 ? "ping" : String(d.eventId), shortTime(a.at), a.responseStatus === null ? "" : String(a.responseStatus), a.latencyMs === null ? "" : `${a.latencyMs} ms`, truncate(a.error ?? "", 60)]);
}
const ATTEMPT_HEAD = ["DELIVERY", "EVENT", "SENT", "HTTP", "LATENCY", "ERROR"];

const pingCommand = connectionOptions(new Command("ping").description("send a ping event to the webhook now and show the answer").argument("<name>", "webhook name").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth webhook ping ci`)
  .action(
    handled(async (name, options) => {
      const d = await (await client(options)).json(DeliveryView, "POST", hooks(name, "ping"), { json: {}, explain: { 404: notFound(name) } });
      if (options.output === "json") return printJson(d);
      printTable(DELIVERY_HEAD, [deliveryRow(d)]);
    }),
  );

const deliveriesCommand = connectionOptions(
  new Command("deliveries")
    .description("a webhook's deliveries, newest first: status, attempts, response status, latency, error")
    .argument("<name>", "webhook name")
    .addOption(new Option("--top <n>", "how many (the newest kept per webhook: webhooks.keepDeliveries)").default("20"))
    .addOption(new Option("--attempts", "each delivery's recent requests instead (its newest 10): when sent, HTTP status, latency, error"))
    .addOption(outputOption()),
)
  .addHelpText("after", `\nExamples:\n  berth webhook deliveries ci\n  berth webhook deliveries ci --attempts   # each retry: when, status, latency\n  berth webhook deliveries ci -o json   # with each request's headers and body, and its recentAttempts`)
  .action(
    handled(async (name, options) => {
      const found = await (await client(options)).json(DeliveryList, "GET", hooks(name, "deliveries"), { query: { limit: options.top }, explain: { 404: notFound(name) } });
      if (options.output === "json") return printJson(found);
      if (found.deliveries.length === 0) return printLine(`no deliveries for ${name} yet`);
      if (options.attempts) return printTable(ATTEMPT_HEAD, found.deliveries.flatMap(attemptRows));
      printTable(DELIVERY_HEAD, found.deliveries.map(deliveryRow));
    }),
  );

const redeliverCommand = connectionOptions(
  new Command("redeliver").description("send a finished delivery again (before the webhook's newer ones)").argument("<name>", "webhook name").argument("<id>", "delivery id (berth webhook deliveries)").addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth webhook redeliver ci 42`)
  .action(
    handled(async (name, id, options) => {
      // A 404 is the webhook's (said as the other webhook commands say it) or the delivery's (the server's words).
      const d = await (await client(options)).json(DeliveryView, "POST", hooks(name, "deliveries", id, "redeliver"), { json: {}, explain: { 404: (err) => (err.message === `no webhook named ${name}` ? notFound(name) : err.message) } });
      if (options.output === "json") return printJson(d);
      printLine(`Delivery ${d.id} of ${name} is owed again; it goes at the worker's next look`);
    }),
  );

export const webhookCommand = new Command("webhook")
  .description("webhooks: signed HTTP deliveries of registry events (push, delete, chart_push, ...), like az acr webhook")
  .addCommand(createCommand)
  .addCommand(listCommand)
  .addCommand(showCommand)
  .addCommand(updateCommand)
  .addCommand(deleteCommand)
  .addCommand(pingCommand)
  .addCommand(deliveriesCommand)
  .addCommand(redeliverCommand);

const eventListCommand = connectionOptions(
  new Command("list")
    .alias("ls")
    .description("the event stream, oldest first from a cursor: who did what to which repository")
    .addOption(new Option("--after <id>", "events after this id (the `next` of the previous page)").default("0"))
    .addOption(new Option("--top <n>", "events to show (of the action and repository asked, however far back)").default("100"))
    .addOption(new Option("--action <action>", "only this action").choices(EVENT_ACTIONS))
    .addOption(new Option("--repository <name>", "only this repository"))
    .addOption(outputOption()),
)
  .addHelpText("after", `\nExamples:\n  berth event list --repository team/app\n  berth event list --action retention --top 5\n  berth event list --after 120 -o json`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(EventList, "GET", ["api", "v1", "events"], { query: { after: options.after, limit: options.top, action: options.action, repository: options.repository } });
      if (options.output === "json") return printJson(found);
      if (found.events.length === 0) return printLine(`no events after ${options.after}`);
      printTable(
        ["ID", "TIME", "ACTION", "REPOSITORY", "TAG", "DIGEST", "ACTOR", "ADDRESS"],
        found.events.map((e) => [
          String(e.id),
          shortTime(e.timestamp),
          e.target.restored ? `${e.action} (restored)` : e.target.purged ? `${e.action} (purged)` : e.action,
          e.target.repository ?? e.target.principal ?? e.target.scopeMap ?? retentionText(e.target.retention),
          e.target.tag ?? "",
          shortDigest(e.target.digest),
          e.actor ? `${e.actor.name} (${e.actor.kind})` : "",
          e.actor?.address ?? "",
        ]),
      );
      printLine(`next: ${found.next}`);
    }),
  );

/** A retention run's event has no repository: its counts stand in that column. */
function retentionText(run: { tagsDeleted: number; manifestsDeleted: number; skipped: number } | undefined): string {
  return run ? `${run.tagsDeleted} tags, ${run.manifestsDeleted} manifests deleted, ${run.skipped} skipped` : "";
}

export const eventCommand = new Command("event").description("the registry's event stream (what webhooks are sent from)").addCommand(eventListCommand);


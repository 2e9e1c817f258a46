// `berth audit`: the newest sign-ins, token grants, refusals and identity changes, from the
// management API's GET /api/v1/audit?limit=N (owners only), filtered on the server by who, event,
// action, repository, outcome and time. Berth records no secrets there.
import { homedir } from "node:os";
import { Command } from "@commander-js/extra-typings";
import { optionParser, parsePositiveInteger } from "./arguments.ts";
import { connect, connectionOptions, handled } from "./client.ts";
import { printJson, printLine, printTable, shortTime } from "./output.ts";
import { outputOption } from "./store-options.ts";
import { AuditList } from "../api-contract/repositories.ts";

export const auditCommand = connectionOptions(
  new Command("audit")
    .description("show the audit trail, newest first: sign-ins, tokens issued, access refused, identities changed")
    .option("--limit <n>", "how many events [default: 50]", optionParser(parsePositiveInteger))
    .option("--identity <name>", "only this identity's events (a user or token name, a service principal's id, admin)")
    .option("--event <event>", "only this event, e.g. sign-in, access.denied, attributes.changed")
    .option("--action <action>", "only this action, e.g. create, update, push")
    .option("--repository <name>", "only events about this repository")
    .option("--outcome <outcome>", "only success, failure or denied")
    .option("--since <time>", "only events at or after this ISO 8601 time, e.g. 2026-12-06T10:00:00Z")
    .option("--until <time>", "only events before this ISO 8601 time")
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth audit --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth audit --limit 500 -o json | jq '.events[] | select(.outcome != "success")'
  berth audit --identity ci-bot --outcome denied --since 2026-12-06T00:00:00Z`,
  )
  .action(
    handled(async (options) => {
      const berth = await connect(options, process.env, homedir());
      const found = await berth.json(AuditList, "GET", ["api", "v1", "audit"], {
        query: {
          limit: String(options.limit ?? 50),
          ...(options.identity ? { identity: options.identity } : {}),
          ...(options.event ? { event: options.event } : {}),
          ...(options.action ? { action: options.action } : {}),
          ...(options.repository ? { repository: options.repository } : {}),
          ...(options.outcome ? { outcome: options.outcome } : {}),
          ...(options.since ? { from: options.since } : {}),
          ...(options.until ? { to: options.until } : {}),
        },
      });
      if (options.output === "json") return printJson(found);
      if (found.events.length === 0) return printLine("no audit events yet");
      printTable(
        ["AT", "EVENT", "IDENTITY", "ACTION", "REPOSITORY", "OUTCOME", "CLIENT"],
        found.events.map((e) => [shortTime(e.at), e.event, e.identity, e.action, e.repository ?? "", e.outcome, e.client ?? ""]),
      );
    }),
  );

// `berth audit`: the newest sign-ins, token grants, refusals and identity changes, from the
// management API's GET /api/v1/audit?limit=N (owners only). Berth records no secrets there.
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
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth audit --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth audit --limit 500 -o json | jq '.events[] | select(.outcome != "success")'`,
  )
  .action(
    handled(async (options) => {
      const berth = await connect(options, process.env, homedir());
      const found = await berth.json(AuditList, "GET", ["api", "v1", "audit"], { query: { limit: String(options.limit ?? 50) } });
      if (options.output === "json") return printJson(found);
      if (found.events.length === 0) return printLine("no audit events yet");
      printTable(
        ["AT", "EVENT", "IDENTITY", "ACTION", "REPOSITORY", "OUTCOME", "CLIENT"],
        found.events.map((e) => [shortTime(e.at), e.event, e.identity, e.action, e.repository ?? "", e.outcome, e.client ?? ""]),
      );
    }),
  );

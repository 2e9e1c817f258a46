// `berth quota set|list|delete`: storage quotas, over /api/v1/quotas. A push that would take a
// scope past its limit is refused with DENIED naming the quota (docs/lifecycle.md#quotas).
//
//   berth quota set 'team-a/*' 10GiB
//   berth quota set '*' 2TB
import { homedir } from "node:os";
import { Command } from "@commander-js/extra-typings";
import { connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printJson, printLine, printTable } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { QuotaList, QuotaView } from "../api-contract/quotas.ts";
import { formatSize } from "../domain/quotas.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const quotas = (...rest: string[]) => ["api", "v1", "quotas", ...rest];

const SCOPE = "* (the whole registry), team/* (team and below) or one repository";

const setCommand = connectionOptions(
  new Command("set")
    .description("set a storage quota: the most a scope may hold, counting each distinct blob and manifest once")
    .argument("<scope>", SCOPE)
    .argument("<limit>", "bytes, or a size: 10GiB, 500MiB (1024-based), 2GB (1000-based)")
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Setting the quota of a scope that has one changes its limit. A limit below what the scope holds
refuses every new blob or manifest until deletes and gc bring it under. Owners only.

Examples:
  berth quota set 'team-a/*' 10GiB --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth quota set '*' 2TB -o json`,
  )
  .action(
    handled(async (scope, limit, options) => {
      const quota = await (await client(options)).json(QuotaView, "PUT", quotas(), { json: { scope, limit: /^\d+$/.test(limit) ? Number(limit) : limit } });
      if (options.output === "json") return printJson(quota);
      printLine(`Quota ${quota.scope}: ${formatSize(quota.limit)} (${quota.limit} bytes); it holds ${formatSize(quota.used)} now`);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the storage quotas with what each scope holds now").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth quota list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(QuotaList, "GET", quotas());
      if (options.output === "json") return printJson(found);
      if (found.quotas.length === 0) return printLine("no quotas: pushes are limited only by the disk (set one with `berth quota set <scope> <limit>`)");
      printTable(["SCOPE", "USED", "RESTORABLE", "LIMIT", "PERCENT"], found.quotas.map((q) => [q.scope, formatSize(q.used), formatSize(q.restorable), formatSize(q.limit), q.percent === null ? "-" : `${q.percent}%`]));
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("remove a storage quota").argument("<scope>", "the scope as set (see berth quota list)").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth quota delete 'team-a/*' --yes --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (scope, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Remove the quota of ${scope} on ${berth.server.host}?`))) return printLine("nothing removed");
      const result = await berth.json(Deleted, "DELETE", quotas(...scope.split("/")), { explain: { 404: `no quota for ${scope}: see \`berth quota list\`` } });
      return options.output === "json" ? printJson(result ?? { deleted: true }) : printLine(`Removed the quota of ${scope}`);
    }),
  );

export const quotaCommand = new Command("quota")
  .description("storage quotas: the most a repository scope or the whole registry may hold (unique blobs, counted once)")
  .addCommand(setCommand)
  .addCommand(listCommand)
  .addCommand(deleteCommand);

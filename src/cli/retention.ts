// `berth retention create|list|delete|run`: retention policies and runs, over
// /api/v1/retention-policies and /api/v1/retention-runs (docs/lifecycle.md#retention).
//
//   berth retention create --repository 'team/*' --untagged-days 7
//   berth retention create --repository 'team/app' --keep-newest 10 --tags 'v*'
//   berth retention run --dry-run
import { homedir } from "node:os";
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printJson, printLine, printTable, shortTime } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { RetentionPolicyList, RetentionPolicyView, RetentionRunView } from "../api-contract/retention.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const policies = (...rest: string[]) => ["api", "v1", "retention-policies", ...rest];

/** A whole number as typed; the server says whether it is in range. */
function wholeNumber(text: string): number {
  if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError("a whole number");
  return Number(text);
}

function ruleText(p: RetentionPolicyView): string {
  if (p.untaggedDays === 0) return "every untagged manifest goes";
  return p.untaggedDays !== null ? `untagged manifests pushed ${p.untaggedDays} day${p.untaggedDays === 1 ? "" : "s"} ago or more go` : `only the newest ${p.keepNewest} tags matching ${p.tags} stay`;
}

const createCommand = connectionOptions(
  new Command("create")
    .description("create a retention policy: delete untagged manifests after N days, or keep only the newest N tags")
    .addOption(new Option("--repository <pattern>", "repositories: team/app, team/* (team and below) or *").makeOptionMandatory())
    .addOption(new Option("--untagged-days <n>", "untagged manifests pushed N days ago or more go (0: any untagged manifest)").argParser(wholeNumber).conflicts("keepNewest"))
    .addOption(new Option("--keep-newest <n>", "of the tags --tags matches, only the newest N pushed stay").argParser(wholeNumber))
    .addOption(new Option("--tags <pattern>", "with --keep-newest: a glob (v*, release-*) or semver [default: * (every tag)]"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Retention runs every retention.interval seconds inside berth serve, and on demand (berth retention
run). Deleting a tag leaves its manifest, untagged; an untagged policy deletes it once old enough.
A manifest a kept one references (an index's child) stays; a referrer stays while its subject does
and goes with it. Immutable tags and delete-locked content are skipped. Owners only.

Examples:
  berth retention create --repository 'team/*' --untagged-days 7 --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth retention create --repository team/app --keep-newest 10 --tags 'v*' -o json`,
  )
  .action(
    handled(async (options) => {
      const body = { repository: options.repository, untaggedDays: options.untaggedDays, keepNewest: options.keepNewest, tags: options.tags };
      const policy = await (await client(options)).json(RetentionPolicyView, "POST", policies(), { json: body });
      if (options.output === "json") return printJson(policy);
      printLine(`Created retention policy ${policy.id}: in ${policy.repository}, ${ruleText(policy)}`);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the retention policies, oldest first").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth retention list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(RetentionPolicyList, "GET", policies());
      if (options.output === "json") return printJson(found);
      if (found.policies.length === 0) return printLine("no retention policies: nothing is deleted by retention (create one with `berth retention create`)");
      printTable(["ID", "REPOSITORY", "RULE", "CREATED", "BY"], found.policies.map((p) => [p.id, p.repository, ruleText(p), shortTime(p.created), p.createdBy]));
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("remove a retention policy").argument("<id>", "the policy's id (see berth retention list)").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth retention delete 3f2a… --yes --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (id, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Remove retention policy ${id} on ${berth.server.host}?`))) return printLine("nothing removed");
      const result = await berth.json(Deleted, "DELETE", policies(id), { explain: { 404: `no retention policy ${id}: see \`berth retention list\`` } });
      return options.output === "json" ? printJson(result ?? { deleted: true }) : printLine(`Removed retention policy ${id}`);
    }),
  );

const runCommand = connectionOptions(
  new Command("run")
    .description("run every retention policy now; with --dry-run, list what would go and why, deleting nothing")
    .addOption(new Option("--dry-run", "list what would be deleted, with the reason for each, and delete nothing"))
    .addOption(outputOption()),
)
  .addHelpText("after", `\nExamples:\n  berth retention run --dry-run --server http://localhost:5000 -u admin -p "$ADMIN_PW"\n  berth retention run -o json`)
  .action(
    handled(async (options) => {
      const report = await (await client(options)).json(RetentionRunView, "POST", ["api", "v1", "retention-runs"], { json: { dryRun: options.dryRun ?? false } });
      if (options.output === "json") return printJson(report);
      const s = report.summary;
      if (report.items.length > 0) {
        printTable(
          ["OUTCOME", "REPOSITORY", "TARGET", "REASON"],
          report.items.map((i) => [i.outcome === "planned" ? "would delete" : i.outcome, i.repository, i.tag !== undefined ? `tag ${i.tag}` : i.digest, i.protected ? `${i.reason}; skipped: ${i.protected}` : i.reason]),
        );
      }
      const verb = report.dryRun ? "would delete" : "deleted";
      printLine(`${report.dryRun ? "Dry run: " : ""}${verb} ${s.tagsDeleted} tag${s.tagsDeleted === 1 ? "" : "s"} and ${s.manifestsDeleted} manifest${s.manifestsDeleted === 1 ? "" : "s"}; skipped ${s.skipped}`);
    }),
  );

export const retentionCommand = new Command("retention")
  .description("retention policies: delete untagged manifests after N days, keep only the newest N tags; run them now or dry")
  .addCommand(createCommand)
  .addCommand(listCommand)
  .addCommand(deleteCommand)
  .addCommand(runCommand);

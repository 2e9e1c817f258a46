// `berth tag-rule create|list|delete`: tag immutability rules, over /api/v1/tag-rules. A tag a
// rule covers, once pushed, is never moved to other content or deleted (docs/lifecycle.md).
//
//   berth tag-rule create --repository 'team/*' --tags 'release-*'
//   berth tag-rule create --repository '*' --tags semver
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printJson, printLine, printTable, shortTime } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { TagRuleList, TagRuleView } from "../api-contract/tag-rules.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const rules = (...rest: string[]) => ["api", "v1", "tag-rules", ...rest];

const createCommand = connectionOptions(
  new Command("create")
    .description("make tags immutable: once pushed, a tag the rule covers is never moved to other content or deleted")
    .addOption(new Option("--repository <pattern>", "repositories: team/app, team/* (team and below) or *").makeOptionMandatory())
    .addOption(new Option("--tags <pattern>", "tags: a glob (release-*, v1.*, v1.{0,1}.?) or semver (1.2.3, v1.2.3-rc.1)").makeOptionMandatory())
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
A push that would move such a tag, and a delete of the tag or of the content it names, is refused
(403 DENIED, naming the rule); pushing the same content again is allowed. Owners only.

Examples:
  berth tag-rule create --repository 'team/*' --tags 'release-*' --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth tag-rule create --repository '*' --tags semver -o json`,
  )
  .action(
    handled(async (options) => {
      const rule = await (await client(options)).json(TagRuleView, "POST", rules(), { json: { repository: options.repository, tags: options.tags } });
      if (options.output === "json") return printJson(rule);
      printLine(`Created tag rule ${rule.id}: tags ${rule.tags} in ${rule.repository} are immutable`);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the tag immutability rules, oldest first").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth tag-rule list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(TagRuleList, "GET", rules());
      if (options.output === "json") return printJson(found);
      if (found.rules.length === 0) return printLine("no tag rules: every tag may be moved and deleted (create one with `berth tag-rule create --repository <r> --tags <glob>`)");
      printTable(["ID", "REPOSITORY", "TAGS", "CREATED", "BY"], found.rules.map((r) => [r.id, r.repository, r.tags, shortTime(r.created), r.createdBy]));
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("remove a tag immutability rule: its tags may be moved and deleted again").argument("<id>", "the rule's id (see berth tag-rule list)").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth tag-rule delete 3f2a… --yes --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (id, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Remove tag rule ${id} on ${berth.server.host}?`))) return printLine("nothing removed");
      const result = await berth.json(Deleted, "DELETE", rules(id), { explain: { 404: `no tag rule ${id}: see \`berth tag-rule list\`` } });
      return options.output === "json" ? printJson(result ?? { deleted: true }) : printLine(`Removed tag rule ${id}`);
    }),
  );

export const tagRuleCommand = new Command("tag-rule")
  .description("tag immutability rules: tags that, once pushed, are never moved or deleted (release-*, semver)")
  .addCommand(createCommand)
  .addCommand(listCommand)
  .addCommand(deleteCommand);

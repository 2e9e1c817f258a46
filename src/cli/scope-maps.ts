// `berth scope-map create|list|show|delete`: named sets of repository rules that tokens are bound
// to, as `az acr scope-map` (research/registries.md §3.6). Over the management API, /api/v1/scope-maps.
//
//   berth scope-map create ci --repository team/app --action content/read --action content/write \
//                             --repository 'base/*' --action content/read
// Each --action belongs to the --repository before it; `team/app:content/read,content/write` says both at once.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { actionRuleOption, ArgumentError, repositoryRuleOption, scopeMapRules, type ScopeMapRule } from "./arguments.ts";
import { CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printLine, printTable } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { ScopeMapList, ScopeMapView } from "../api-contract/identities.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const maps = (...rest: string[]) => ["api", "v1", "scope-maps", ...rest];
const notFound = (name: string) => `scope map ${name} not found: see \`berth scope-map list\``;

function printRules(rules: readonly ScopeMapRule[]): void {
  printTable(["REPOSITORY", "ACTIONS"], rules.map((r) => [r.repository, r.actions.join(", ")]));
}

function printMap(map: ScopeMapView): void {
  printDetails([
    ["name", map.name],
    ["description", map.description],
  ]);
  printLine("");
  printRules(map.rules);
}

const createCommand = connectionOptions(
  new Command("create")
    .description("create a scope map: which repositories a token bound to it may use, and how")
    .argument("<name>", "scope-map name: letters, digits, . _ - (up to 63)")
    .addOption(repositoryRuleOption())
    .addOption(actionRuleOption())
    .addOption(new Option("--description <text>", "what the map is for"))
    .addOption(new Option("--replace", "replace the rules of an existing map of this name (tokens bound to it change at once)"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Actions: content/read (pull), content/write (push), content/delete, metadata/read (list tags and
manifests, read attributes), metadata/write (write provenance metadata), attributes/write (lock
repositories and tags, switch anonymous pull).

Examples:
  berth scope-map create ci-push --repository team/app --action content/read --action content/write \\
      --repository 'base/*' --action content/read --description "CI for team/app" \\
      --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth scope-map create readers --repository 'team/*:content/read,metadata/read'
Then: berth token create ci --scope-map ci-push`,
  )
  .action(
    handled(async (name, options) => {
      let rules: ScopeMapRule[];
      try {
        rules = scopeMapRules([...(options.repository ?? []), ...(options.action ?? [])]);
      } catch (err) {
        if (err instanceof ArgumentError) throw new CliError(err.message);
        throw err;
      }
      const berth = await client(options);
      if (!options.replace) {
        const existing = await berth.request("GET", maps(name), { ok: [200, 404] });
        await existing.body?.cancel();
        if (existing.status === 200) throw new CliError(`scope map ${name} already exists: pass --replace to replace its rules, or pick another name`);
      }
      const map = await berth.json(ScopeMapView, "PUT", maps(name), {
        json: { rules, ...(options.description !== undefined ? { description: options.description } : {}) },
      });
      if (options.output === "json") return printJson(map);
      printLine(`${options.replace ? "Saved" : "Created"} scope map ${map.name}`);
      printRules(map.rules);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the scope maps and their rules").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth scope-map list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(ScopeMapList, "GET", maps());
      if (options.output === "json") return printJson(found);
      if (found.scopeMaps.length === 0) return printLine("no scope maps: create one with `berth scope-map create <name> --repository <r> --action content/read`");
      printTable(
        ["NAME", "RULES", "DESCRIPTION"],
        found.scopeMaps.map((m) => [m.name, m.rules.map((r) => `${r.repository}: ${r.actions.join(",")}`).join("; "), m.description ?? ""]),
      );
    }),
  );

const showCommand = connectionOptions(new Command("show").description("show a scope map's rules").argument("<name>", "scope-map name").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth scope-map show ci-push -o json --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (name, options) => {
      const map = await (await client(options)).json(ScopeMapView, "GET", maps(name), { explain: { 404: notFound(name) } });
      return options.output === "json" ? printJson(map) : printMap(map);
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("delete a scope map no token is bound to").argument("<name>", "scope-map name").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth scope-map delete ci-push --yes --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (name, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Delete scope map ${name} on ${berth.server.host}?`))) return printLine("nothing deleted");
      const result = await berth.json(Deleted, "DELETE", maps(name), {
        explain: {
          404: notFound(name),
          409: (err) => `cannot delete scope map ${name}: ${err.message} (see \`berth token list\`)`,
        },
      });
      return options.output === "json" ? printJson(result ?? { deleted: true }) : printLine(`Deleted scope map ${name}`);
    }),
  );

export const scopeMapCommand = new Command("scope-map")
  .description("scope maps: repository rules (content/read, content/write, ...) that tokens are bound to, like az acr scope-map")
  .addCommand(createCommand)
  .addCommand(listCommand)
  .addCommand(showCommand)
  .addCommand(deleteCommand);

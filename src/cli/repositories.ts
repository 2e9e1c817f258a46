// `berth repository show|update`: ACR's repository and tag attributes (`az acr repository update
// --write-enabled false` locks a repository or a tag; research/registries.md §3.6). Over the
// management API, GET/PATCH /api/v1/repositories/<name>/attributes[?tag=T].
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { booleanOption } from "./arguments.ts";
import { CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, yesNo } from "./output.ts";
import { outputOption } from "./store-options.ts";
import { AttributesView } from "../api-contract/repositories.ts";
import { catalogCommands } from "./catalog.ts";
import { deletedCommand, restoreCommand } from "./deleted.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const attributes = (name: string) => ["api", "v1", "repositories", name, "attributes"];
const tagOption = () => new Option("--tag <tag>", "one tag's attributes instead of the repository's");

function printAttributes(a: AttributesView): void {
  const tag = "tag" in a ? a.tag : undefined;
  printDetails([
    ["repository", a.repository],
    ["tag", tag],
    ["read enabled", yesNo(a.readEnabled)],
    ["write enabled", yesNo(a.writeEnabled)],
    ["delete enabled", yesNo(a.deleteEnabled)],
    ["list enabled", yesNo(a.listEnabled)],
    ["anonymous pull", "anonymousPull" in a ? yesNo(a.anonymousPull) : undefined],
  ]);
}

const showCommand = connectionOptions(
  new Command("show")
    .description("show a repository's (or a tag's) attributes: whether it may be read, written, deleted, listed, pulled anonymously")
    .argument("<name>", "repository, e.g. team/app")
    .addOption(tagOption())
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth repository show team/app --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth repository show team/app --tag v1 -o json`,
  )
  .action(
    handled(async (name, options) => {
      const found = await (await client(options)).json(AttributesView, "GET", attributes(name), { query: { tag: options.tag } });
      return options.output === "json" ? printJson(found) : printAttributes(found);
    }),
  );

const updateCommand = connectionOptions(
  new Command("update")
    .description("change a repository's (or a tag's) attributes; --write-enabled false --delete-enabled false locks it")
    .argument("<name>", "repository, e.g. team/app")
    .addOption(tagOption())
    .addOption(booleanOption("--read-enabled <bool>", "true|false: whether it may be pulled"))
    .addOption(booleanOption("--write-enabled <bool>", "true|false: whether it may be pushed to (false: pushes are refused with 403)"))
    .addOption(booleanOption("--delete-enabled <bool>", "true|false: whether manifests and tags may be deleted"))
    .addOption(booleanOption("--list-enabled <bool>", "true|false: whether it shows in the catalog (a tag: in tags/list)"))
    .addOption(booleanOption("--anonymous-pull <bool>", "true|false: whether anyone may pull it without signing in (repository only, not with --tag)"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth repository update team/app --tag v1 --write-enabled false --delete-enabled false   # lock tag v1
  berth repository update team/app --write-enabled false --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth repository update public/tools --anonymous-pull true`,
  )
  .action(
    handled(async (name, options) => {
      const change = {
        readEnabled: options.readEnabled,
        writeEnabled: options.writeEnabled,
        deleteEnabled: options.deleteEnabled,
        listEnabled: options.listEnabled,
        anonymousPull: options.anonymousPull,
      };
      const given = Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined));
      if (Object.keys(given).length === 0) {
        throw new CliError("nothing to change: give at least one of --read-enabled, --write-enabled, --delete-enabled, --list-enabled, --anonymous-pull");
      }
      if (options.tag !== undefined && options.anonymousPull !== undefined) {
        throw new CliError("--anonymous-pull applies to a whole repository, not to one tag: leave out --tag");
      }
      const updated = await (await client(options)).json(AttributesView, "PATCH", attributes(name), { query: { tag: options.tag }, json: given });
      return options.output === "json" ? printJson(updated) : printAttributes(updated);
    }),
  );

export const repositoryCommand = new Command("repository")
  .alias("repo")
  .description("repositories, tags and manifests: list, show-tags, show-manifests, delete, deleted (and deleted purge), restore; attributes: lock a tag, stop pushes, hide from listings, allow anonymous pull (like az acr repository)")
  // Each subcommand's options are its own, down to `deleted purge` (deleted.ts).
  .enablePositionalOptions()
  .addCommand(showCommand)
  .addCommand(updateCommand);
for (const command of [...catalogCommands, deletedCommand, restoreCommand]) repositoryCommand.addCommand(command);

// `berth repository deleted <repository>`, `berth repository deleted purge <repository> [tag|digest]`
// and `berth repository restore <repository> <tag|digest>`: soft delete
// (docs/lifecycle.md#soft-delete), over /api/v1/deleted/<repository>.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { DeletedList, Purged, Restored, type DeletedView } from "../api-contract/deleted.ts";
import { CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { allRows, formatOption, printStructured, topOption } from "./catalog.ts";
import { humanSize, printLine, printTable, shortDigest, shortTime } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());

function printDeleted(rows: readonly DeletedView[]): void {
  printTable(
    ["DIGEST", "TAGS", "KIND", "CONTENT", "SIZE", "DELETED", "BY", "EXPIRES"],
    rows.map((d) => [shortDigest(d.digest), d.tags.join(","), d.kind, d.storedAs ? `chart (${d.storedAs})` : d.content, humanSize(d.size), shortTime(d.deleted), d.deletedBy ? `${d.deletedBy.name} (${d.deletedBy.kind})` : "", shortTime(d.expires)]),
  );
}

const purgeCommand = connectionOptions(
  new Command("purge")
    .description("forget deleted content now, before its restore window ends: the next gc frees what only it used (a leaked secret need not wait a week)")
    .argument("<repository>", "e.g. team/app")
    .argument("[reference]", "only what was deleted as this tag (every record holding it) or digest (every record of it); default: all of the repository's")
    .addOption(yesOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
Purged content can no longer be restored; each record purged is a delete event marked purged.
Blobs it named stay until the next gc (berth gc), which frees those nothing else uses. Purging by
tag forgets the whole record holding it, with any other tags deleted alongside (the list shows
them). A tag or digest that names nothing restorable is an error (404).

Examples:
  berth repository deleted purge team/app v1
  berth repository deleted purge team/app sha256:0123… --yes
  berth repository deleted purge team/app --yes && berth gc`,
  )
  .action(
    handled(async (repository, reference, options) => {
      const what = reference ? `what was deleted as ${repository}${reference.includes(":") ? "@" : ":"}${reference}` : `everything deleted in ${repository}`;
      if (!options.yes && !(await confirm(`Purge ${what}? It can no longer be restored.`))) throw new CliError("not purged");
      const purged = await (await client(options)).json(Purged, "DELETE", ["api", "v1", "deleted", repository], { query: { reference } });
      if (printStructured(options.output, purged)) return;
      if (purged.purged.length === 0) return printLine(`nothing deleted in ${purged.repository} was restorable: nothing purged`);
      printDeleted(purged.purged);
      printLine(`purged ${purged.purged.length} from ${purged.repository}: run berth gc to free what only they used`);
    }),
  );

export const deletedCommand = connectionOptions(
  new Command("deleted")
    .description("list a repository's deleted tags and manifests that can still be restored, newest first (soft delete: deletion.restorableFor); purge them early")
    .argument("<repository>", "e.g. team/app")
    .addOption(topOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
KIND: manifest (deleted by digest, as a chart version, or with its repository; its tags went with
it) or tag (only the tag was deleted). CONTENT: image, index, chart (STORED: classic, oci, both)
or artifact; SIZE: the manifest's own bytes. After EXPIRES it can no longer be restored, and gc
frees what only it used; berth repository deleted purge forgets it at once. Tags hidden from
listings (listEnabled false) are not shown.

Examples:
  berth repository deleted team/app
  berth repository deleted team/app -o json | jq -r '.deleted[].digest'
  berth repository deleted purge team/app v1`,
  )
  .action(
    handled(async (repository, options) => {
      const { rows, first } = await allRows(await client(options), DeletedList, ["api", "v1", "deleted", repository], {}, (p) => p.deleted, options.top);
      if (printStructured(options.output, { repository: first.repository, restorableFor: first.restorableFor, deleted: rows })) return;
      if (first.restorableFor === 0) return printLine("soft delete is off on this server (deletion.restorableFor is 0): deletes are final");
      if (rows.length === 0) return printLine(`nothing deleted in ${first.repository} can be restored`);
      printDeleted(rows);
    }),
  )
  // Options after `purge` are purge's (its --server, --yes), not taken by this command's own.
  .enablePositionalOptions()
  .addCommand(purgeCommand);

export const restoreCommand = connectionOptions(
  new Command("restore")
    .description("restore a deleted tag (with its manifest) or manifest (with the tags deleted with it), as a push: tag rules, locks, events and the chart index apply")
    .argument("<repository>", "e.g. team/app")
    .argument("<reference>", "a tag (v1) or a digest (sha256:…), as berth repository deleted lists them")
    .addOption(new Option("--force", "point tags back at the restored content even where they were pushed again since the delete"))
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
A tag pushed again since it was deleted is not moved back (409) unless --force; a manifest whose
blobs or child manifests are gone from the repository is refused (409, naming them: restore a
deleted child first).

Examples:
  berth repository restore team/app v1
  berth repository restore team/app sha256:0123…
  berth repository restore team/app v1 --force`,
  )
  .action(
    handled(async (repository, reference, options) => {
      const restored = await (await client(options)).json(Restored, "POST", ["api", "v1", "deleted", repository], { json: { reference, ...(options.force && { force: true }) } });
      if (printStructured(options.output, restored)) return;
      printLine(`restored ${restored.repository}@${restored.digest}${restored.tags.length > 0 ? ` (tags: ${restored.tags.join(", ")})` : ""}`);
    }),
  );

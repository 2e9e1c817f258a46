// `berth repository deleted <repository>` and `berth repository restore <repository> <tag|digest>`:
// soft delete (docs/lifecycle.md#soft-delete), over /api/v1/deleted/<repository>.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { DeletedList, Restored } from "../api-contract/deleted.ts";
import { connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { formatOption, printStructured } from "./catalog.ts";
import { printLine, printTable, shortDigest, shortTime } from "./output.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());

export const deletedCommand = connectionOptions(
  new Command("deleted")
    .description("list a repository's deleted tags and manifests that can still be restored, newest first (soft delete: deletion.restorableFor)")
    .argument("<repository>", "e.g. team/app")
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
KIND: manifest (deleted by digest, as a chart version, or with its repository; its tags went with
it) or tag (only the tag was deleted). CONTENT: image, index, chart (STORED: classic, oci, both)
or artifact. After EXPIRES it can no longer be restored, and gc frees what only it used.

Examples:
  berth repository deleted team/app
  berth repository deleted team/app -o json | jq -r '.deleted[].digest'`,
  )
  .action(
    handled(async (repository, options) => {
      const list = await (await client(options)).json(DeletedList, "GET", ["api", "v1", "deleted", repository]);
      if (printStructured(options.output, list)) return;
      if (list.restorableFor === 0) return printLine("soft delete is off on this server (deletion.restorableFor is 0): deletes are final");
      if (list.deleted.length === 0) return printLine(`nothing deleted in ${list.repository} can be restored`);
      printTable(
        ["DIGEST", "TAGS", "KIND", "CONTENT", "DELETED", "BY", "EXPIRES"],
        list.deleted.map((d) => [shortDigest(d.digest), d.tags.join(","), d.kind, d.storedAs ? `chart (${d.storedAs})` : d.content, shortTime(d.deleted), d.deletedBy ? `${d.deletedBy.name} (${d.deletedBy.kind})` : "", shortTime(d.expires)]),
      );
    }),
  );

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

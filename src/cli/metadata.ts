// `berth metadata set|get|delete|history`: registry-side key/value metadata on a repository or a
// manifest (approved-by, scan-status, owner), with an append-only history of who changed what.
// Over /api/v1/metadata/<repository>[@<digest>]/<key>; a tag is resolved to its digest first
// (through the provenance report), since metadata belongs to content, not to a movable tag.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { BerthClient, CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { parseImageReference, serverFor } from "./image-reference.ts";
import { printJson, printLine, printTable, shortTime } from "./output.ts";
import { outputOption } from "./store-options.ts";
import { MetadataDeleted, MetadataEntry, MetadataHistory, MetadataSet, MetadataValues, ProvenanceReport } from "../api-contract/provenance.ts";

/** The client and the API path prefix for `[host/]repo[:tag|@digest]`. */
async function target(text: string, flags: ConnectionFlags): Promise<{ client: BerthClient; segments: string[]; shown: string }> {
  const ref = parseImageReference(text);
  const server = serverFor(flags.server, process.env, ref);
  if (!server) throw new CliError(`which Berth? write the host in the target (localhost:5000/${ref.repository}), or pass --server`);
  const client = await connect({ ...flags, server }, process.env, homedir());
  let digest = ref.kind === "digest" ? ref.reference : undefined;
  if (ref.kind === "tag") {
    const report = await client.json(ProvenanceReport, "GET", ["api", "v1", "provenance", ref.repository, ref.reference!]);
    digest = report.digest;
  }
  const name = digest ? `${ref.repository}@${digest}` : ref.repository;
  return { client, segments: ["api", "v1", "metadata", ...name.split("/")], shown: name };
}

const targetArgument = "[host:port/]repository[@digest|:tag]: a tag is resolved to its digest; without either, the repository itself";

const setCommand = connectionOptions(
  new Command("set")
    .description("set a metadata value (kept with who set it; the old value stays in the history)")
    .argument("<target>", targetArgument)
    .argument("<key>", "e.g. approved-by, scan-status, owner")
    .argument("<value>")
    .addOption(outputOption()),
).action(
  handled(async (text, key, value, options) => {
    const { client, segments, shown } = await target(text, options);
    const result = await client.json(MetadataSet, "PUT", [...segments, key], { json: { value } });
    if (options.output === "json") return printJson(result);
    printLine(result.changed ? `${shown}: ${key} = ${value} (version ${result.version})` : `${shown}: ${key} already was ${value}`);
  }),
);

const getCommand = connectionOptions(
  new Command("get")
    .description("show one metadata value, or all of a target's values")
    .argument("<target>", targetArgument)
    .argument("[key]")
    .addOption(outputOption()),
).action(
  handled(async (text, key, options) => {
    const { client, segments } = await target(text, options);
    if (key !== undefined) {
      const found = await client.json(MetadataEntry, "GET", [...segments, key]);
      if (options.output === "json") return printJson(found);
      return printLine(found.value);
    }
    const all = await client.json(MetadataValues, "GET", [...segments, "_values"]);
    if (options.output === "json") return printJson(all);
    printTable(["KEY", "VALUE", "VERSION", "UPDATED", "BY"], all.values.map((v) => [v.key, v.value, String(v.version), shortTime(v.updatedAt), v.updatedBy]));
  }),
);

const deleteCommand = connectionOptions(
  new Command("delete").description("remove a metadata key (the history keeps it)").argument("<target>", targetArgument).argument("<key>").addOption(outputOption()),
).action(
  handled(async (text, key, options) => {
    const { client, segments, shown } = await target(text, options);
    const result = await client.json(MetadataDeleted, "DELETE", [...segments, key]);
    if (options.output === "json") return printJson(result);
    printLine(`${shown}: ${key} deleted`);
  }),
);

const historyCommand = connectionOptions(
  new Command("history")
    .description("every change to a target's metadata, oldest first: when, who, key, old and new value")
    .argument("<target>", targetArgument)
    .addOption(new Option("--key <key>", "only this key"))
    .addOption(outputOption()),
).action(
  handled(async (text, options) => {
    const { client, segments } = await target(text, options);
    const found = await client.json(MetadataHistory, "GET", [...segments, "_history"], { query: { key: options.key } });
    if (options.output === "json") return printJson(found);
    printTable(["WHEN", "WHO", "KEY", "OLD", "NEW"], found.history.map((h) => [shortTime(h.at), h.actor, h.key, h.old ?? "-", h.new ?? "(deleted)"]));
  }),
);

export const metadataCommand = new Command("metadata")
  .description("registry-side metadata on repositories and manifests, with its history")
  .addCommand(setCommand)
  .addCommand(getCommand)
  .addCommand(deleteCommand)
  .addCommand(historyCommand)
  .addHelpText(
    "after",
    `
Examples:
  berth metadata set localhost:5000/team/app:v1 approved-by alice
  berth metadata get localhost:5000/team/app@sha256:0123… approved-by
  berth metadata history localhost:5000/team/app:v1
  berth metadata set localhost:5000/team/app owner team-a      # on the repository`,
  );

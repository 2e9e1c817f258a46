// `berth search`: images by their labels, annotations, Dockerfile, builder or missing signature,
// over GET /api/v1/search (api-contract/search.ts), the same query the portal's search page runs.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { SearchAnswer } from "../api-contract/search.ts";
import { allRows, formatOption, printStructured } from "./catalog.ts";
import { connect, connectionOptions, handled } from "./client.ts";
import { printLine, printTable, shortDigest, shortTime, truncate } from "./output.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export const searchCommand = connectionOptions(
  new Command("search")
    .description("find images by label, annotation, Dockerfile URL, SLSA builder, or without a (verified) signature")
    .addOption(new Option("--label <k=v|k~v>", "a config label equal to (=) or containing (~) a value; 7+ hex digits also match a longer hex value they start, as git abbreviates commits (repeatable)").argParser(collect))
    .addOption(new Option("--annotation <k=v|k~v>", "a manifest annotation, = or ~ as --label (repeatable)").argParser(collect))
    .addOption(new Option("--dockerfile <url>", "built from this Dockerfile (the build.dockerfile label)").argParser(collect))
    .addOption(new Option("--builder <id>", "with an SLSA provenance from this builder id").argParser(collect))
    .addOption(new Option("--unsigned", "only manifests no signature refers to"))
    .addOption(new Option("--unverified", "only manifests no signature verifies now against the registry's trust (none, or only failing, untrusted or expired ones)"))
    .addOption(new Option("--repository <prefix>", "only repositories whose name starts with this"))
    .addOption(new Option("--top <n>", "print at most n results (default: all)").argParser((text) => Number(text)))
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
Every option given must match. Examples:
  berth search --label build.sha=e80e6ef -o json
  berth search --label build.user=toddysm --annotation org.opencontainers.image.source~github.com/acme
  berth search --unsigned --repository team/
  berth search --unverified -o json`,
  )
  .action(
    handled(async (options) => {
      const berth = await connect(options, process.env, homedir());
      const query = {
        label: options.label, annotation: options.annotation, dockerfile: options.dockerfile, builder: options.builder,
        unsigned: options.unsigned ? "true" : undefined, unverified: options.unverified ? "true" : undefined, repository: options.repository,
      };
      const { rows } = await allRows(berth, SearchAnswer, ["api", "v1", "search"], query, (p) => p.results, options.top);
      if (printStructured(options.output, rows)) return;
      if (rows.length === 0) return printLine("nothing found");
      printTable(
        ["REPOSITORY", "DIGEST", "TAGS", "PUSHED", "MATCHED"],
        rows.map((r) => [r.repository, shortDigest(r.digest), r.tags.join(","), shortTime(r.pushed), truncate(r.matches.map((m) => `${m.key}=${m.value}`).join(" "), 70)]),
      );
    }),
  );

// `berth chart list`: every chart Berth holds, however it was pushed (classic upload, helm push
// oci://, or both), from Berth's JSON API (GET /api/v1/charts).
import { homedir } from "node:os";
import { Command } from "@commander-js/extra-typings";
import { connect, connectionOptions, handled } from "./client.ts";
import { humanSize, printJson, printLine, printTable, shortDigest, shortTime } from "./output.ts";
import { outputOption } from "./store-options.ts";
import { ChartList } from "../api-contract/charts.ts";

const listCommand = connectionOptions(
  new Command("list")
    .alias("ls")
    .description("list every chart version Berth stores, pushed to a classic repository or with helm push oci://")
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
STORED says how a version arrived: classic (berth helm push, helm cm-push), oci (helm push oci://), or both.
REF is what helm pulls over OCI: helm pull oci://<host>/<repository> --version <version>.

Examples:
  berth chart list --server http://localhost:5000 -u admin -p "$PW"
  berth chart list -o json | jq '.charts[] | select(.storedAs == "oci")'`,
  )
  .action(
    handled(async (options) => {
      const berth = await connect(options, process.env, homedir());
      const list = await berth.json(ChartList, "GET", ["api", "v1", "charts"]);
      if (options.output === "json") return printJson(list);
      const charts = list.charts;
      if (charts.length === 0) return printLine("no charts stored: push one with `berth helm push <chart.tgz>` or `helm push <chart.tgz> oci://<host>/<namespace>`");
      printTable(
        ["REF", "NAME", "VERSION", "APP VERSION", "DIGEST", "SIZE", "CREATED", "STORED"],
        charts.map((c) => [c.reference, c.name, c.version, c.appVersion ?? "", shortDigest(c.digest), humanSize(c.size), shortTime(c.created), c.storedAs]),
      );
    }),
  );

export const chartCommand = new Command("chart")
  .description("inspect the charts Berth stores (classic and OCI alike)")
  .addCommand(listCommand);

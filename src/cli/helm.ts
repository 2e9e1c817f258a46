// `berth helm push|list|show|delete`: a classic chart repository (/helm/v1/<repository>) from the
// command line, the way `az acr helm` drove ACR's (research/helm.md §5.1; the contract: /helm/v1 routes).
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename } from "node:path";
import { Command, Option } from "@commander-js/extra-typings";
import { BerthClient, CliError, connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printLine, printTable, shortTime, truncate } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { ChartListing, ChartVersionEntry, ChartVersions } from "../api-contract/charts.ts";

const repositoryOption = () => new Option("--repository <name>", "classic repository, served at /helm/v1/<name>").default("repo");

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());

function charts(repository: string, ...rest: string[]): string[] {
  return ["helm", "v1", repository, "_charts", ...rest];
}

function blobs(repository: string, file: string): string[] {
  return ["helm", "v1", repository, "_blobs", file];
}

function notFound(repository: string, what: string) {
  return (err: { code: string | null; message: string }) =>
    err.code === "CLASSIC_REPOSITORY_UNKNOWN"
      ? `repository ${repository} not found: ${err.message}`
      : `${what} not found in repository ${repository}: see \`berth helm list --repository ${repository}\``;
}

// ---------------------------------------------------------------------------------------------
// push

async function chartFile(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CliError(`${path} does not exist: give the .tgz that \`helm package\` wrote`);
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (info.isDirectory()) throw new CliError(`${path} is a directory: run \`helm package ${path}\` first and push the .tgz`);
  if (!info.isFile()) throw new CliError(`${path} is not a regular file: give the .tgz that \`helm package\` wrote`);
  return info.size;
}

async function provenanceNextTo(path: string): Promise<number | null> {
  try {
    const info = await stat(`${path}.prov`);
    return info.isFile() ? info.size : null;
  } catch {
    return null;
  }
}

async function upload(berth: BerthClient, repository: string, file: string, size: number, force: boolean, prov: boolean): Promise<void> {
  const name = basename(file);
  const body = { file, size, contentType: prov ? "application/pgp-signature" : "application/gzip" };
  const explain = {
    409: `version already exists: use --force to overwrite (${name} in repository ${repository})`,
    400: (err: { message: string }) => `${name} is not a valid chart: ${err.message}`,
    413: (err: { message: string }) => `${name} is too large for Berth: ${err.message}`,
    ...(prov ? { 404: `${name}: the chart it signs is not in repository ${repository}; push the .tgz first` } : {}),
  };
  if (force) {
    // az acr helm push --force sends PATCH, and PUT when the server answers 404 (nothing to overwrite).
    const res = await berth.request("PATCH", blobs(repository, name), { body, explain, ok: [200, 201, 202, 204, 404] });
    await res.body?.cancel();
    if (res.status !== 404) return;
    if (prov) throw new CliError(explain[404] ?? `${name}: not found`);
  }
  const res = await berth.request("PUT", blobs(repository, name), { body, explain });
  await res.body?.cancel();
}

const pushCommand = connectionOptions(
  new Command("push")
    .description("upload a packaged chart (.tgz) to a classic repository; a .tgz.prov next to it goes too")
    .argument("<chart.tgz>", "the package `helm package` wrote")
    .addOption(repositoryOption())
    .addOption(new Option("--force", "overwrite the version if it exists (sends PATCH, as az acr helm push --force)"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  helm package ./mychart
  berth helm push mychart-0.1.0.tgz --server http://localhost:5000 -u admin --password-stdin < pw.txt
  berth helm push mychart-0.1.0.tgz --repository team --force -o json     # prints {"saved": true}

Then: helm repo add berth http://localhost:5000/helm/v1/repo --username admin --password ...`,
  )
  .action(
    handled(async (path, options) => {
      const size = await chartFile(path);
      const provSize = await provenanceNextTo(path);
      const berth = await client(options);
      await upload(berth, options.repository, path, size, options.force === true, false);
      if (provSize !== null) await upload(berth, options.repository, `${path}.prov`, provSize, options.force === true, true);
      if (options.output === "json") {
        printJson({ saved: true });
      } else {
        printLine(`Pushed ${basename(path)}${provSize !== null ? ` and ${basename(path)}.prov` : ""} to repository ${options.repository}`);
      }
    }),
  );

// ---------------------------------------------------------------------------------------------
// list, show

function versionRows(entries: readonly ChartVersionEntry[]): string[][] {
  return entries.map((e) => [e.name, e.version, e.appVersion ?? "", truncate(e.description)]);
}

const listCommand = connectionOptions(
  new Command("list")
    .alias("ls")
    .description("list the charts and versions of a classic repository (what `helm search repo` would find)")
    .addOption(repositoryOption())
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth helm list --server http://localhost:5000 -u admin -p "$PW"
  BERTH_SERVER=registry.example.com berth helm list --repository team -o json`,
  )
  .action(
    handled(async (options) => {
      const berth = await client(options);
      const found = await berth.json(ChartListing, "GET", charts(options.repository), {
        explain: { 404: (err) => `repository ${options.repository} not found: ${err.message}` },
      });
      if (options.output === "json") return printJson(found);
      const names = Object.keys(found ?? {}).sort();
      if (names.length === 0) return printLine(`no charts in repository ${options.repository}: push one with \`berth helm push <chart.tgz>\``);
      printTable(["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"], names.flatMap((name) => versionRows(found[name] ?? [])));
    }),
  );

function printVersion(entry: ChartVersionEntry): void {
  printDetails([
    ["name", entry.name],
    ["version", entry.version],
    ["app version", entry.appVersion],
    ["api version", entry.apiVersion],
    ["type", entry.type],
    ["description", entry.description],
    ["home", entry.home],
    ["keywords", entry.keywords?.join(", ")],
    ["sources", entry.sources?.join(", ")],
    ["maintainers", entry.maintainers?.map((m) => [m.name, m.email && `<${m.email}>`].filter(Boolean).join(" ")).join(", ")],
    ["kube version", entry.kubeVersion],
    ["deprecated", entry.deprecated ? "yes" : undefined],
    ["created", shortTime(entry.created)],
    ["digest", entry.digest],
    ["urls", entry.urls?.join(", ")],
  ]);
}

const showCommand = connectionOptions(
  new Command("show")
    .description("show a chart's versions, or one version's details with --version")
    .argument("<chart>", "chart name")
    .addOption(new Option("--version <version>", "one version (as in Chart.yaml)"))
    .addOption(repositoryOption())
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth helm show mychart --server http://localhost:5000 -u admin -p "$PW"
  berth helm show mychart --version 0.1.0 -o json`,
  )
  .action(
    handled(async (chart, options) => {
      const berth = await client(options);
      const what = options.version ? `${chart} ${options.version}` : `chart ${chart}`;
      const explain = { 404: notFound(options.repository, what) };
      if (options.version) {
        const entry = await berth.json(ChartVersionEntry, "GET", charts(options.repository, chart, options.version), { explain });
        return options.output === "json" ? printJson(entry) : printVersion(entry);
      }
      const entries = await berth.json(ChartVersions, "GET", charts(options.repository, chart), { explain });
      if (options.output === "json") return printJson(entries);
      printTable(
        ["NAME", "CHART VERSION", "APP VERSION", "CREATED", "DESCRIPTION"],
        (entries ?? []).map((e) => [e.name, e.version, e.appVersion ?? "", shortTime(e.created), truncate(e.description)]),
      );
    }),
  );

// ---------------------------------------------------------------------------------------------
// delete

const deleteCommand = connectionOptions(
  new Command("delete")
    .alias("rm")
    .description("delete a chart version (--version), only its provenance (--prov), or every version of a chart")
    .argument("<chart>", "chart name")
    .addOption(new Option("--version <version>", "the version to delete; without it, every version goes"))
    .addOption(new Option("--prov", "delete only the provenance file (.tgz.prov) of --version"))
    .addOption(repositoryOption())
    .addOption(yesOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth helm delete mychart --version 0.1.0 --server http://localhost:5000 -u admin -p "$PW"
  berth helm delete mychart --version 0.1.0 --prov --yes
  berth helm delete mychart --yes        # every version of mychart`,
  )
  .action(
    handled(async (chart, options) => {
      if (options.prov && !options.version) throw new CliError("--prov needs --version: the provenance of which version?");
      const target = options.version
        ? `${chart}-${options.version}.tgz${options.prov ? ".prov" : ""}`
        : `every version of ${chart}`;
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Delete ${target} from repository ${options.repository} on ${berth.server.host}?`))) {
        printLine("nothing deleted");
        return;
      }
      const what = options.version ? `${chart} ${options.version}${options.prov ? " provenance" : ""}` : `chart ${chart}`;
      const path = options.version ? blobs(options.repository, target) : charts(options.repository, chart);
      const res = await berth.request("DELETE", path, { explain: { 404: notFound(options.repository, what) } });
      await res.body?.cancel();
      printLine(`Deleted ${target} from repository ${options.repository}`);
    }),
  );

export const helmCommand = new Command("helm")
  .description("manage charts in Berth's classic Helm repositories (like az acr helm)")
  .addCommand(pushCommand)
  .addCommand(listCommand)
  .addCommand(showCommand)
  .addCommand(deleteCommand)
  .addHelpText(
    "after",
    `
Server and credentials come from --server/-u/-p, then BERTH_SERVER/BERTH_USERNAME/BERTH_PASSWORD,
then the login \`helm registry login <host>\` stored ($HELM_REGISTRY_CONFIG or ~/.config/helm/registry/config.json),
then ~/.docker/config.json.

Example:
  helm registry login localhost:5000 -u admin --plain-http
  berth helm push mychart-0.1.0.tgz --server localhost:5000`,
  );

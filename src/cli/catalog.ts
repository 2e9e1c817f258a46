// `berth repository list|show-tags|show-manifests|delete` in the conventions of `az acr repository`
// (list, show-tags --orderby time_desc --detail, show-manifests, delete --yes), over the portal's
// read API (/api/v1/repositories…, api-contract/catalog.ts). Lists follow the server's `next`
// cursor until --top rows are printed or none remain.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { stringify } from "yaml";
import type { z } from "zod";
import { ManifestList, RepositoryKind, RepositoryList, TagList } from "../api-contract/catalog.ts";
import { Deleted } from "../api-contract/common.ts";
import { optionParser, parsePositiveInteger } from "./arguments.ts";
import { CliError, connect, connectionOptions, handled, type BerthClient, type ConnectionFlags } from "./client.ts";
import { humanSize, printJson, printLine, printTable, shortDigest, shortTime } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());

export const formatOption = () => new Option("-o, --output <format>", "output format").choices(["table", "json", "yaml"] as const).default("table" as const);
export const topOption = () => new Option("--top <n>", "print at most n rows (default: all)").argParser(optionParser(parsePositiveInteger));

/** Prints `value` as JSON or YAML; false for a table, which the caller prints. */
export function printStructured(format: "table" | "json" | "yaml", value: unknown): boolean {
  if (format === "json") printJson(value);
  else if (format === "yaml") process.stdout.write(stringify(value));
  return format !== "table";
}

/** Every row of a paged list (up to `top`), following `next`. */
export async function allRows<S extends z.ZodType<{ next: string | null }>, T>(
  berth: BerthClient, schema: S, segments: readonly string[], query: Record<string, string | readonly string[] | undefined>, rows: (page: z.infer<S>) => T[], top?: number,
): Promise<{ rows: T[]; first: z.infer<S> }> {
  const found: T[] = [];
  let last: string | undefined;
  let first: z.infer<S> | undefined;
  for (;;) {
    const page = await berth.json(schema, "GET", segments, { query: { ...query, n: String(Math.min(top ?? 1000, 1000)), last } });
    first ??= page;
    found.push(...rows(page));
    if (!page.next || (top !== undefined && found.length >= top)) break;
    last = page.next;
  }
  return { rows: top === undefined ? found : found.slice(0, top), first: first! };
}

/**
 * A walk by push time (WalkCursor) lists a row pushed again during it once more at its end: each
 * row once, as last seen, in the list's own order again.
 */
function onceAsLastSeen<T>(rows: readonly T[], key: (row: T) => string, compare: (a: T, b: T) => number): T[] {
  return [...new Map(rows.map((row) => [key(row), row])).values()].sort(compare);
}
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const ORDERS = { name: ["name", "asc"], name_desc: ["name", "desc"], time_desc: ["pushed", "desc"], time_asc: ["pushed", "asc"], size_desc: ["size", "desc"], size_asc: ["size", "asc"] } as const;

const listCommand = connectionOptions(
  new Command("list")
    .alias("ls")
    .description("list the repositories you may see, with kind, tags, size and last push (az acr repository list)")
    .addOption(new Option("--q <text>", "only names containing this"))
    .addOption(new Option("--kind <kind>", "only this kind").choices(RepositoryKind.options))
    .addOption(new Option("--orderby <order>", "sort order").choices(Object.keys(ORDERS) as (keyof typeof ORDERS)[]).default("name" as const))
    .addOption(topOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
KIND: image, index (multi-platform), chart-oci, chart-classic, chart-both (a Helm chart pushed with
helm push oci://, the classic way, or both), artifact (with its artifactType).

Examples:
  berth repository list --server http://localhost:5000 -u admin -p "$PW"
  berth repository list --kind chart-classic --orderby time_desc -o json`,
  )
  .action(
    handled(async (options) => {
      const [sort, order] = ORDERS[options.orderby];
      const { rows, first } = await allRows(await client(options), RepositoryList, ["api", "v1", "repositories"], { q: options.q, kind: options.kind, sort, order }, (p) => p.repositories, options.top);
      if (printStructured(options.output, rows)) return;
      if (rows.length === 0) return printLine(options.q || options.kind ? "no repository matches" : "no repositories yet: push an image or a chart");
      printTable(
        ["NAME", "KIND", "TAGS", "MANIFESTS", "SIZE", "LAST PUSH"],
        rows.map((r) => [r.name, r.kind === "artifact" && r.artifactType ? `artifact (${r.artifactType})` : r.kind, String(r.tags), String(r.manifests), humanSize(r.size), shortTime(r.pushed ?? undefined)]),
      );
      if (rows.length < first.total) printLine(`(${rows.length} of ${first.total})`);
    }),
  );

const showTagsCommand = connectionOptions(
  new Command("show-tags")
    .description("list a repository's tags (az acr repository show-tags)")
    .argument("<repository>", "e.g. team/app")
    .addOption(new Option("--orderby <order>", "sort order").choices(["name", "time_desc", "time_asc"] as const).default("name" as const))
    .addOption(new Option("--detail", "digest, size, platforms, last push, signed and build labels of each tag"))
    .addOption(topOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth repository show-tags team/app --orderby time_desc --top 10
  berth repository show-tags team/app --detail -o json | jq '.[] | select(.signed | not) | .name'`,
  )
  .action(
    handled(async (repository, options) => {
      const walked = await allRows(await client(options), TagList, ["api", "v1", "repositories", repository, "tags"], { sort: options.orderby }, (p) => p.tags, options.top);
      const sign = options.orderby === "time_asc" ? 1 : -1;
      const rows = options.orderby === "name" ? walked.rows : onceAsLastSeen(walked.rows, (t) => t.name, (a, b) => sign * (Date.parse(a.pushed) - Date.parse(b.pushed)) || sign * byName(a.name, b.name));
      if (!options.detail) {
        if (printStructured(options.output, rows.map((t) => t.name))) return;
        for (const tag of rows) printLine(tag.name);
        return;
      }
      if (printStructured(options.output, rows)) return;
      printTable(
        ["TAG", "DIGEST", "SIZE", "PLATFORMS", "LAST PUSH", "SIGNED", "BUILD"],
        rows.map((t) => [t.name, shortDigest(t.digest), humanSize(t.size), t.platforms.join(","), shortTime(t.pushed), t.signed ? "yes" : "no", t.build ? [t.build.user, t.build.sha?.slice(0, 7)].filter(Boolean).join(" ") : ""]),
      );
    }),
  );

const showManifestsCommand = connectionOptions(
  new Command("show-manifests")
    .description("list a repository's manifests, newest first, with their tags (az acr manifest list-metadata)")
    .argument("<repository>", "e.g. team/app")
    .addOption(new Option("--untagged", "only manifests no tag points at (an index's platform images and referrers are among them)"))
    .addOption(topOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth repository show-manifests team/app
  berth repository show-manifests team/app --untagged -o json | jq -r '.[].digest'`,
  )
  .action(
    handled(async (repository, options) => {
      const walked = await allRows(await client(options), ManifestList, ["api", "v1", "repositories", repository, "manifests"], { untagged: options.untagged ? "true" : undefined }, (p) => p.manifests, options.top);
      const rows = onceAsLastSeen(walked.rows, (m) => m.digest, (a, b) => Date.parse(b.pushed) - Date.parse(a.pushed) || byName(b.digest, a.digest));
      if (printStructured(options.output, rows)) return;
      printTable(
        ["DIGEST", "TAGS", "MEDIA TYPE", "SIZE", "PLATFORMS", "PUSHED", "SUBJECT"],
        rows.map((m) => [m.digest, m.tags.join(","), m.artifactType ?? m.mediaType, humanSize(m.size), m.platforms.join(","), shortTime(m.pushed), shortDigest(m.subject ?? undefined)]),
      );
    }),
  );

/** team/app, team/app:v1, team/app@sha256:…: what goes. */
export function deletionTarget(text: string): { repository: string; tag?: string; digest?: string } {
  const at = text.indexOf("@");
  if (at >= 0) return { repository: text.slice(0, at), digest: text.slice(at + 1) };
  const colon = text.lastIndexOf(":");
  if (colon > text.lastIndexOf("/")) return { repository: text.slice(0, colon), tag: text.slice(colon + 1) };
  return { repository: text };
}

const deleteCommand = connectionOptions(
  new Command("delete")
    .alias("rm")
    .description("delete a repository (every manifest and tag), a tag (its manifest stays), or a manifest with its tags (az acr repository delete)")
    .argument("<target>", "repository, repository:tag or repository@digest")
    .addOption(yesOption())
    .addOption(formatOption()),
)
  .addHelpText(
    "after",
    `
A delete-locked tag (berth repository update --delete-enabled false) refuses the delete of the tag,
of a manifest it points at, and of its repository, as DELETE /v2/... does.

Examples:
  berth repository delete team/app:v1
  berth repository delete team/app@sha256:0123… --yes
  berth repository delete team/app --yes -o json`,
  )
  .action(
    handled(async (text, options) => {
      const target = deletionTarget(text);
      if (!target.repository) throw new CliError("name a repository: team/app, team/app:v1 or team/app@sha256:…");
      const what = target.tag ? `tag ${target.repository}:${target.tag} (its manifest stays)` : target.digest ? `manifest ${target.repository}@${target.digest} and every tag on it` : `repository ${target.repository}: every manifest and tag in it`;
      if (!options.yes && !(await confirm(`Delete ${what}?`))) throw new CliError("not deleted");
      const segments = ["api", "v1", "repositories", target.repository, ...(target.tag ? ["tags", target.tag] : target.digest ? ["manifests", target.digest] : [])];
      const answer = await (await client(options)).json(Deleted, "DELETE", segments, { explain: { 404: (err) => `${text}: ${err.message}` } });
      if (printStructured(options.output, answer)) return;
      printLine(`deleted ${what}`);
    }),
  );

export const catalogCommands = [listCommand, showTagsCommand, showManifestsCommand, deleteCommand];

// `berth inspect <server>/<repo>:<tag>|<repo>@<digest>`: the provenance report of an image without
// pulling it (GET /api/v1/provenance/<repo>/<reference>, built from what Berth recorded at push).
// `-o json|yaml` prints the report as the server sent it; the table view groups it: identity,
// verdict, then per platform the labels (exactly as `docker image inspect --format
// '{{json .Config.Labels}}'` prints them), build origin, build steps, attestations, signatures and
// referrers. Docs: docs/provenance.md.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { stringify } from "yaml";
import * as wire from "../api-contract/provenance.ts";
// The contract checks the report down to platforms, signatures and referrers; the facts below
// those (origin, history, SLSA, SBOM, signer) are typed by the service that builds them.
import type { PlatformReport, ProvenanceReport, ReferrerNode } from "../services/provenance/report.ts";
import { CliError, connect, connectionOptions, handled } from "./client.ts";
import { parseImageReference, serverFor } from "./image-reference.ts";
import { humanSize, printDetails, printJson, printLine, shortTime } from "./output.ts";

/**
 * A map as Go's encoding/json writes it (what `{{json .Config.Labels}}` prints): keys sorted,
 * <, > and & escaped, no spaces; null for no labels, as docker shows an image without any.
 */
export function goJson(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "null";
  const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(labels[k])}`).join(",");
  return `{${body}}`.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const platformName = (p: PlatformReport["platform"]) => (p ? [p.os, p.architecture, p.variant].filter(Boolean).join("/") : "(no platform)");

function referrerLines(nodes: ReferrerNode[], indent: string, out: string[]): void {
  nodes.forEach((node, i) => {
    const last = i === nodes.length - 1;
    out.push(`${indent}${last ? "└── " : "├── "}${node.artifactType ?? node.mediaType}  ${node.digest}  (${node.kind})`);
    referrerLines(node.referrers, `${indent}${last ? "    " : "│   "}`, out);
  });
}

function section(title: string): void {
  printLine(`  ${title}:`);
}

function printPlatform(p: PlatformReport): void {
  printLine("");
  printLine(`Platform ${platformName(p.platform)}  ${p.digest}`);
  if (p.created) printLine(`  created: ${p.created}${p.author ? `  author: ${p.author}` : ""}`);
  section("Labels (docker image inspect --format '{{json .Config.Labels}}')");
  printLine(`    ${goJson(p.labels)}`);

  section("Build origin");
  const o = p.origin;
  const line = (name: string, value: string | undefined) => value && printLine(`    ${(name ? `${name}:` : "").padEnd(14)} ${value}`);
  line("source", o.source && `${o.source.value}  [${o.source.key}, ${o.source.from}]`);
  line("revision", o.revision && `${o.revision.value}${o.revision.sourceRepository ? ` in ${o.revision.sourceRepository}` : ""}  [${o.revision.key}, ${o.revision.from}]`);
  if (o.revision?.link) line("", `→ ${o.revision.link}`);
  line("dockerfile", o.dockerfile && `${o.dockerfile.value}  [${o.dockerfile.key}, ${o.dockerfile.from}]`);
  if (o.dockerfile?.link && o.dockerfile.link !== o.dockerfile.value) line("", `→ ${o.dockerfile.link}`);
  line("committer", o.committer && `${o.committer.value}  [${o.committer.key}, ${o.committer.from}]`);
  line("created", o.created?.value);
  line("version", o.version?.value);
  if (o.wellKnown.length > 0) {
    printLine("    well-known keys:");
    for (const e of o.wellKnown) printLine(`      ${e.key} = ${e.value}  (${e.meaning}; ${e.from})`);
  }
  const annotations = Object.entries(p.annotations);
  if (annotations.length > 0) {
    section("Annotations");
    for (const [k, v] of annotations) printLine(`    ${k} = ${v}`);
  }

  if (p.history.length > 0) {
    section("Build steps");
    p.history.forEach((h, i) => printLine(`    ${String(i + 1).padStart(2)}. ${h.createdBy ?? "(no instruction recorded)"}${h.emptyLayer ? "  (no layer)" : ""}`));
  }

  section("Attestations");
  if (p.attestations.length === 0) printLine("    none");
  for (const a of p.attestations) {
    for (const s of a.statements) {
      if (s.slsa) {
        printLine(`    SLSA provenance ${s.slsa.version}  ${a.digest}  (${a.form}, ${a.foundAs})`);
        line("  builder", s.slsa.builderId ?? "(not given)");
        line("  build type", s.slsa.buildType);
        const cs = s.slsa.configSource;
        line("  source", cs?.uri && `${cs.uri}${cs.digest ? ` @ ${Object.entries(cs.digest).map(([k, v]) => `${k}:${v}`).join(", ")}` : ""}`);
        line("  entry", cs?.path);
        line("  vcs", s.slsa.vcs && `${s.slsa.vcs.source ?? ""} ${s.slsa.vcs.revision ?? ""} (claimed by builder)`.trim());
        for (const m of s.slsa.materials.slice(0, 10)) line("  material", m.uri);
      } else if (s.sbom) {
        printLine(`    SBOM ${s.sbom.format}${s.sbom.specVersion ? ` ${s.sbom.specVersion}` : ""}: ${s.sbom.packageCount} packages${s.sbom.generator ? ` (${s.sbom.generator})` : ""}  ${a.digest}`);
      } else {
        printLine(`    ${s.predicateType || "(unknown predicate)"}${s.read ? "" : " (not read)"}  ${a.digest}`);
      }
    }
  }
  printSignatures(p.signatures, "  ");
  if (p.referrers.length > 0) {
    section("Referrers");
    const lines: string[] = [];
    referrerLines(p.referrers, "    ", lines);
    for (const l of lines) printLine(l);
  }
}

function printSignatures(signatures: ProvenanceReport["signatures"], indent: string): void {
  if (signatures.length === 0) return;
  printLine(`${indent}Signatures:`);
  for (const s of signatures) {
    const signer = s.signer.subject ?? s.signer.keyHint ?? (s.signer.thumbprints[0] ? `thumbprint ${s.signer.thumbprints[0]}` : "unknown signer");
    const verified = s.verified === null ? `not verified (${s.reason})` : s.verified ? `verified: ${s.reason}` : `NOT verified: ${s.reason}`;
    printLine(`${indent}  ${s.scheme} (${s.envelope})  ${s.digest}`);
    printLine(`${indent}    signer: ${signer}${s.signingTime ? `  signed: ${shortTime(s.signingTime)}` : ""}`);
    printLine(`${indent}    ${verified}`);
  }
}

function printReport(r: ProvenanceReport, shown: string): void {
  printLine(shown);
  printDetails([
    ["digest", r.digest],
    ["media type", r.mediaType],
    ["size", humanSize(r.size)],
    ["kind", r.kind],
    ["created", r.created],
    ["tags", r.tags.join(", ")],
    ["platforms", r.platforms.map((p) => platformName(p.platform)).join(", ")],
  ]);
  printLine("");
  printLine(`Verdict: ${r.verdict.line}`);
  for (const w of r.warnings) printLine(`  warning: ${w}`);
  printSignatures(r.signatures, "");
  for (const p of r.platforms) printPlatform(p);
  if (r.referrers.length > 0) {
    printLine("");
    printLine(`Referrers of ${r.digest}:`);
    const lines: string[] = [];
    referrerLines(r.referrers, "", lines);
    for (const l of lines) printLine(l);
  }
}

export const inspectCommand = connectionOptions(
  new Command("inspect")
    .description("show where an image came from without pulling it: labels, annotations, build steps, SLSA provenance, SBOMs, signatures, referrers")
    .argument("<reference>", "[host:port/]repository[:tag|@digest], e.g. localhost:5000/team/app:v1")
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json", "yaml"] as const).default("table" as const)),
)
  .addHelpText(
    "after",
    `
Examples:
  berth inspect localhost:5000/team/app:v1 -u admin --password-stdin
  berth inspect team/app@sha256:0123… --server https://berth.example.com -o json
  berth inspect localhost:5000/team/app:v1 -o json | jq '.platforms[].labels'`,
  )
  .action(
    handled(async (text, options) => {
      const ref = parseImageReference(text);
      const server = serverFor(options.server, process.env, ref);
      if (!server) throw new CliError(`which Berth? write the host in the reference (localhost:5000/${ref.repository}:…), or pass --server`);
      const client = await connect({ ...options, server }, process.env, homedir());
      const reference = ref.reference ?? "latest";
      const report = (await client.json(wire.ProvenanceReport, "GET", ["api", "v1", "provenance", ref.repository, reference], {
        explain: { 404: (err) => `${ref.repository}:${reference}: ${err.message}` },
      })) as unknown as ProvenanceReport;
      if (options.output === "json") return printJson(report);
      if (options.output === "yaml") return void process.stdout.write(stringify(report));
      printReport(report, `${ref.repository}${ref.kind === "digest" ? "@" : ":"}${reference}`);
    }),
  );

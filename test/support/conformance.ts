// Runs the OCI distribution-spec conformance suite (the redesigned, plain-binary one:
// github.com/opencontainers/distribution-spec/conformance, pinned in scripts/install-tools.sh)
// against a registry and reads back what it found.
//
// The binary's contract, from its main.go at the pinned version: it prints a result tree and a
// count table on stdout, writes results.yaml (per-API and per-data-set status), junit.xml and
// report.html (every request and response) to OCI_RESULTS_DIR, and exits 1 when anything
// failed. A bad configuration prints to stderr and exits 0 without results, so "exit 0" alone
// never means "passed": callers check that counts were printed (assertSuiteRan).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";

/** Every API switch of the suite (config.go configAPI), as the env variable names it reads. */
export const allApiSwitches = [
  "OCI_API_PING",
  "OCI_API_PULL",
  "OCI_API_PUSH",
  "OCI_API_BLOBS_ATOMIC",
  "OCI_API_BLOBS_DELETE",
  "OCI_API_BLOBS_DIGEST_HEADER",
  "OCI_API_BLOBS_MOUNT_ANONYMOUS",
  "OCI_API_BLOBS_UPLOAD_CANCEL",
  "OCI_API_MANIFESTS_ATOMIC",
  "OCI_API_MANIFESTS_DELETE",
  "OCI_API_MANIFESTS_DIGEST_HEADER",
  "OCI_API_MANIFESTS_TAG_PARAM",
  "OCI_API_TAGS_ATOMIC",
  "OCI_API_TAGS_DELETE",
  "OCI_API_TAGS_LIST",
  "OCI_API_REFERRER",
] as const;

/** Every data set of the suite (config.go configData). */
export const allDataSets = [
  "OCI_DATA_IMAGE",
  "OCI_DATA_INDEX",
  "OCI_DATA_INDEX_LIST",
  "OCI_DATA_SPARSE",
  "OCI_DATA_ARTIFACT",
  "OCI_DATA_SUBJECT",
  "OCI_DATA_SUBJECT_MISSING",
  "OCI_DATA_ARTIFACT_LIST",
  "OCI_DATA_SUBJECT_LIST",
  "OCI_DATA_DATA_FIELD",
  "OCI_DATA_NONDISTRIBUTABLE",
  "OCI_DATA_CUSTOM_FIELDS",
  "OCI_DATA_NO_LAYERS",
  "OCI_DATA_EMPTY_BLOB",
  "OCI_DATA_SHA512",
] as const;

export type Status = "Pass" | "FAIL" | "Error" | "Skip" | "Disabled";
const statuses: readonly Status[] = ["Pass", "FAIL", "Error", "Skip", "Disabled"];

export interface Leaf {
  /** e.g. "OCI Conformance Test/sha512 blobs/stream/blob-patch-stream" */
  name: string;
  status: Status;
  /** What the suite printed under the leaf: the failure or the reason for a skip. */
  message: string;
}

export interface ConformanceRun {
  exitCode: number;
  /** Set when the suite was killed for running past the time limit. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
  resultsDir: string;
  /** "Pass" or "FAIL" from the "OCI Conformance Result:" line; null if it never got that far. */
  result: string | null;
  /** The count table; null when the suite printed none (it did not run). */
  counts: (Record<Status, number> & { Total: number }) | null;
  leaves: Leaf[];
  /** From results.yaml: status per API ("Blob chunked": "Pass") and per data set. */
  apis: Record<string, string>;
  data: Record<string, string>;
  /** The spec version the suite says it tested ("1.1", "1.1+dev"), from results.yaml. */
  version: string | null;
}

export interface ConformanceOptions {
  binary: string;
  /** host:port */
  registry: string;
  username: string;
  password: string;
  resultsDir: string;
  /** OCI_VERSION: "1.1" (default of the suite) or "dev". */
  version?: string;
  /** OCI_* settings (API switches, data sets) over the version's defaults. */
  env?: Record<string, string>;
  timeoutMs: number;
}

export async function runConformance(o: ConformanceOptions): Promise<ConformanceRun> {
  const env: NodeJS.ProcessEnv = {};
  // Only PATH, HOME and TMPDIR from outside: a stray OCI_* (the legacy OCI_ROOT_URL, OCI_NAMESPACE...)
  // in the caller's environment would silently retarget or reshape the run.
  for (const key of ["PATH", "HOME", "TMPDIR"]) if (process.env[key]) env[key] = process.env[key];
  Object.assign(env, {
    OCI_REGISTRY: o.registry,
    OCI_TLS: "disabled",
    OCI_USERNAME: o.username,
    OCI_PASSWORD: o.password,
    OCI_RESULTS_DIR: o.resultsDir,
    OCI_LOG: "error",
    ...(o.version ? { OCI_VERSION: o.version } : {}),
    ...o.env,
  });
  // cwd = the results dir: the suite also loads ./oci-conformance.yaml when one is there.
  const child = spawn(o.binary, [], { cwd: o.resultsDir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, o.timeoutMs);
  const exitCode = await new Promise<number>((ok, fail) => {
    child.on("error", fail);
    // "close", not "exit": only then has all of stdout arrived.
    child.on("close", (code) => ok(code ?? -1));
  });
  clearTimeout(timer);

  const resultsFile = join(o.resultsDir, "results.yaml");
  const results: ResultsYaml = existsSync(resultsFile) ? (parse(await readFile(resultsFile, "utf8")) as ResultsYaml) : {};
  return {
    exitCode,
    timedOut,
    stdout,
    stderr,
    resultsDir: o.resultsDir,
    result: /^OCI Conformance Result: (\S+)$/m.exec(stdout)?.[1] ?? null,
    counts: parseCounts(stdout),
    leaves: parseLeaves(stdout),
    apis: results.apis ?? {},
    data: results.data ?? {},
    version: results.config?.version ?? null,
  };
}

interface ResultsYaml {
  config?: { version?: string };
  apis?: Record<string, string>;
  data?: Record<string, string>;
}

/** The table after "OCI Conformance Result:", e.g. "  Pass........: 743". */
function parseCounts(stdout: string): ConformanceRun["counts"] {
  const table = stdout.split(/^OCI Conformance Result: .*$/m)[1];
  if (table === undefined) return null;
  const counts: Partial<Record<Status | "Total", number>> = {};
  for (const name of [...statuses, "Total"] as const) {
    const match = new RegExp(`^\\s+${name}\\.*:\\s+(\\d+)$`, "m").exec(table);
    if (!match) return null;
    counts[name] = Number(match[1]);
  }
  return counts as ConformanceRun["counts"];
}

/**
 * The result tree between "Test results" and "Configuration:": each node is
 * "<indent><path>: <Status>", and a leaf's errors follow it as " - message" lines (a message
 * may span lines). A node is a leaf when the next node is not deeper.
 */
function parseLeaves(stdout: string): Leaf[] {
  const tree = stdout.split(/^Configuration:$/m)[0] ?? "";
  const node = /^( *)(OCI Conformance Test.*): (Pass|FAIL|Error|Skip|Disabled)$/;
  const nodes: { depth: number; name: string; status: Status; message: string[] }[] = [];
  for (const line of tree.split("\n")) {
    const match = node.exec(line);
    if (match) nodes.push({ depth: match[1]!.length, name: match[2]!, status: match[3] as Status, message: [] });
    else if (nodes.length > 0 && line.trim() !== "") nodes[nodes.length - 1]!.message.push(line.replace(/^\s*- /, ""));
  }
  return nodes
    .filter((n, i) => (nodes[i + 1]?.depth ?? -1) <= n.depth)
    .map((n) => ({ name: n.name, status: n.status, message: n.message.join("\n") }));
}

/** Throws unless the suite really ran: started, talked to the registry, printed its counts. */
export function assertSuiteRan(run: ConformanceRun): void {
  const why = run.timedOut
    ? "it ran past its time limit and was killed"
    : run.counts === null
      ? "it printed no result counts"
      : run.counts.Total === 0
        ? "it counted no tests"
        : run.apis.Ping !== "Pass"
          ? `the ping (GET /v2/ with credentials) did not pass: ${run.apis.Ping ?? "no results.yaml"}`
          : null;
  if (why) throw new Error(`the conformance suite could not run: ${why}\nexit ${run.exitCode}\nstderr:\n${run.stderr.slice(-4000)}\nstdout:\n${run.stdout.slice(-4000)}`);
}

/** Counts on one line, then each failed leaf with its message (cut to keep logs readable). */
export function summarize(run: ConformanceRun, label: string): string {
  const c = run.counts;
  const lines = [
    c
      ? `${label}: ${c.Pass} passed, ${c.FAIL} failed, ${c.Error} errors, ${c.Skip} skipped, ${c.Disabled} disabled (${c.Total} total)`
      : `${label}: no counts (exit ${run.exitCode})`,
  ];
  const failed = run.leaves.filter((l) => l.status === "FAIL" || l.status === "Error");
  for (const leaf of failed.slice(0, 40)) lines.push(`  ${leaf.status} ${leaf.name}\n    ${cut(leaf.message, 300).replaceAll("\n", "\n    ")}`);
  if (failed.length > 40) lines.push(`  ... and ${failed.length - 40} more failed leaves`);
  const skipped = run.leaves.filter((l) => l.status === "Skip");
  if (skipped.length > 0) lines.push(`  skipped: ${skipped.map((l) => `${l.name} (${cut(l.message, 120)})`).join("; ")}`);
  if (failed.length + skipped.length > 0 || c === null) lines.push(`  report: ${join(run.resultsDir, "report.html")}`);
  return lines.join("\n");
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// Reads an uploaded chart package (.tgz) the way Helm loads one, without ever holding it whole:
// gzip magic, then node:zlib gunzip, then tar-stream, with every limit checked as bytes flow.
// Helm's rules: pkg/chart/loader/archive.go (LoadArchiveFiles) and pkg/chart/v2/loader/load.go;
// see ../shared/research/helm.md §2.2. Helm's limits (100 MiB total, 5 MiB a file) count file
// contents; the tar stream itself (headers, padding, end-of-archive zeros) gets a fixed allowance
// on top, so a gzip bomb of zeros, which tar-stream reads as endless empty headers, stops too.
//
//   source ─▶ gzip magic check ─▶ gunzip ─▶ count tar bytes ─▶ tar-stream extract ─▶ entries
//   (pipeline: an error anywhere destroys every stage)             (readEntries: paths, types, sizes)
// Whichever side fails first aborts the other; both settle before the call returns.
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract, type Extract, type Header } from "tar-stream";
import { isScalar, parseDocument, visit, type Document } from "yaml";
import { chartMetadataFrom, type ChartMetadata } from "../../domain/chart.ts";
import { RegistryError } from "../../domain/errors.ts";

export interface ChartLimits {
  /** Sum of the files' sizes (Helm's MaxDecompressedChartSize). */
  maxDecompressedBytes: number;
  /** One file (Helm's MaxDecompressedFileSize). */
  maxFileBytes: number;
  maxFiles: number;
  /** Chart.yaml (and a v1 chart's requirements.yaml). */
  maxChartYamlBytes: number;
  maxYamlAliases: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_CHART_LIMITS: ChartLimits = {
  maxDecompressedBytes: 100 * MiB,
  maxFileBytes: 5 * MiB,
  maxFiles: 10_000,
  maxChartYamlBytes: 256 * 1024, // real Chart.yaml files are a few KiB; parsing 1 MiB costs ~0.5 s of CPU
  maxYamlAliases: 100,
};

export interface ChartArchive {
  metadata: ChartMetadata;
  /** The top-level folder name (Helm does not require it to equal the chart name). */
  folder: string;
  /** Regular files in the archive. */
  files: number;
  /** Sum of the files' sizes, as Helm counts it against its limit. */
  decompressedBytes: number;
}

/** A .prov is a short clear-signed Chart.yaml plus checksums; anything bigger is not one. */
export const MAX_PROVENANCE_BYTES = 1 * MiB;

/** Tar framing allowed per permitted file (header, PAX header, padding), plus the end records. */
const TAR_BYTES_PER_FILE = 2048;
const TAR_BYTES_FIXED = 1 * MiB;

const REPACKAGE = "package the chart with `helm package` and upload the .tgz it writes";

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError("CHART_INVALID", message, detail);
}

function sizeText(bytes: number): string {
  return bytes >= MiB && bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} bytes`;
}

/**
 * Streams a .tgz (never holding it whole), validates it the way Helm loads it, and returns
 * Chart.yaml's metadata. Throws RegistryError("CHART_INVALID", …) for anything hostile or invalid;
 * when the source itself fails (the client went away), rethrows the source's error unchanged.
 */
export async function readChartArchive(source: AsyncIterable<Uint8Array>, limits: ChartLimits = DEFAULT_CHART_LIMITS): Promise<ChartArchive> {
  const abort = new AbortController();
  const tar = extract();
  const tarLimit = limits.maxDecompressedBytes + limits.maxFiles * TAR_BYTES_PER_FILE + TAR_BYTES_FIXED;
  let tarBytes = 0;

  const feeding = pipeline(
    gzipOnly(source),
    createGunzip(),
    async function countIntoTar(inflated: AsyncIterable<Buffer>) {
      for await (const chunk of inflated) {
        tarBytes += chunk.length;
        if (tarBytes > tarLimit) {
          throw invalid(`decompressed chart is larger than the maximum size ${sizeText(limits.maxDecompressedBytes)}: it may be a compression bomb; ${REPACKAGE}`);
        }
        await writeTo(tar, chunk);
      }
      tar.end(null); // streamx: no final chunk
    },
    { signal: abort.signal },
  ).catch((err: unknown) => {
    tar.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  const reading = readEntries(tar, limits).catch((err: unknown) => {
    tar.destroy();
    abort.abort(err);
    throw err;
  });

  const [fed, read] = await Promise.allSettled([feeding, reading]);
  if (fed.status === "fulfilled" && read.status === "fulfilled") return read.value;
  throw explain(read.status === "rejected" ? read.reason : undefined, fed.status === "rejected" ? fed.reason : undefined);
}

/**
 * The clearest of the two failures: our own verdict first, then the source's own error (a client
 * that went away is not an invalid chart), then what gunzip or the tar reader said.
 */
function explain(fromEntries: unknown, fromStream: unknown): Error {
  for (const err of [fromEntries, fromStream]) if (err instanceof RegistryError) return err;
  for (const err of [fromStream, fromEntries]) if (err instanceof Error && sourceFailures.has(err)) return err;
  const zlibError = [fromStream, fromEntries].find((err) => err instanceof Error && "errno" in err && /^Z_/.test(String((err as Error & { code?: unknown }).code)));
  if (zlibError instanceof Error) {
    return invalid(`the chart package is not valid gzip (${zlibError.message}): it may be truncated or corrupted; ${REPACKAGE}`);
  }
  const other = [fromEntries, fromStream].find((err) => err instanceof Error && err.name !== "AbortError");
  const message = other instanceof Error ? other.message : "unreadable archive";
  return invalid(`the chart package is not a valid tar archive (${message}): ${REPACKAGE}`);
}

/** Passes the bytes through once the first three are gzip's magic (1F 8B, deflate 08), as `helm install` checks. */
async function* gzipOnly(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let head: Buffer | null = Buffer.alloc(0);
  for await (const chunk of failuresMarked(source)) {
    if (head === null) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) continue;
    if (head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08) {
      throw invalid(`the chart package is not gzip-compressed: ${REPACKAGE}`);
    }
    const first: Buffer = head;
    head = null;
    yield first;
  }
  if (head !== null) {
    throw invalid(head.length === 0 ? `the chart package is empty: ${REPACKAGE}` : `the chart package is not gzip-compressed: ${REPACKAGE}`);
  }
}

/** Errors thrown by the caller's source, so they pass through unchanged. */
const sourceFailures = new WeakSet<Error>();

async function* failuresMarked(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* source;
  } catch (err) {
    if (err instanceof Error) sourceFailures.add(err);
    throw err;
  }
}

/** streamx's write with backpressure; never waits on a reader that has already closed. */
async function writeTo(tar: Extract, chunk: Buffer): Promise<void> {
  if (tar.destroyed) throw new Error("the tar reader closed");
  if (tar.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const drained = () => { off(); resolve(); };
    const closed = () => { off(); reject(new Error("the tar reader closed")); };
    const off = () => { tar.off("drain", drained); tar.off("close", closed); };
    tar.on("drain", drained);
    tar.on("close", closed);
  });
}

interface EntryPath {
  folder: string;
  /** The path below the folder, '/'-separated, without '.' or empty components ("" for the folder itself). */
  inChart: string;
}

/**
 * Helm strips the first component of every entry, whatever it is; it refuses absolute paths,
 * parent references, drive letters and an empty remainder. Backslashes count as separators.
 */
function entryPath(name: string): EntryPath {
  const shown = name.slice(0, 300);
  const slashed = name.replaceAll("\\", "/");
  if (slashed.startsWith("/")) throw invalid(`chart illegally contains absolute paths (${JSON.stringify(shown)}): ${REPACKAGE}`, { path: shown });
  const parts = slashed.split("/");
  if (parts.includes("..")) throw invalid(`chart illegally references parent directory (${JSON.stringify(shown)}): ${REPACKAGE}`, { path: shown });
  if (parts.some((part) => /^[a-zA-Z]:$/.test(part)) || /^[a-zA-Z]:/.test(slashed)) {
    throw invalid(`chart contains illegally named files (a drive letter in ${JSON.stringify(shown)}): ${REPACKAGE}`, { path: shown });
  }
  const [folder = "", ...rest] = parts;
  if (folder === "") throw invalid(`chart illegally contains content outside the base directory (${JSON.stringify(shown)}): ${REPACKAGE}`, { path: shown });
  return { folder, inChart: rest.filter((part) => part !== "" && part !== ".").join("/") };
}

const ENTRY_KINDS: Record<string, string> = {
  symlink: "a symbolic link",
  link: "a hard link",
  "character-device": "a character device",
  "block-device": "a block device",
  fifo: "a named pipe",
};

async function readEntries(tar: Extract, limits: ChartLimits): Promise<ChartArchive> {
  let folder: string | null = null;
  let files = 0;
  let contentBytes = 0;
  let chartYaml: Buffer | null = null;
  let requirementsYaml: Buffer | null = null;

  for await (const entry of tar) {
    const header: Header = entry.header;
    const kind = header.type ?? "file";
    const path = entryPath(header.name);
    const shown = header.name.slice(0, 300);

    if (path.folder === "Chart.yaml") throw invalid(`chart yaml not in base directory: Chart.yaml must be inside the chart's folder (<name>/Chart.yaml); ${REPACKAGE}`);
    if (folder === null) folder = path.folder;
    else if (path.folder !== folder) {
      throw invalid(`chart has more than one top-level folder (${JSON.stringify(folder)} and ${JSON.stringify(path.folder.slice(0, 300))}): a chart package holds one folder; ${REPACKAGE}`);
    }

    if (kind === "directory") {
      await drain(entry);
      continue;
    }
    if (kind !== "file" && kind !== "contiguous-file") {
      const what = ENTRY_KINDS[kind] ?? `an entry of type ${kind}`;
      throw invalid(`chart contains ${what} (${JSON.stringify(shown)}): only regular files and folders are allowed; ${REPACKAGE}`, { path: shown });
    }
    if (path.inChart === "") throw invalid(`chart illegally contains content outside the base directory (${JSON.stringify(shown)}): ${REPACKAGE}`, { path: shown });

    files += 1;
    if (files > limits.maxFiles) throw invalid(`chart has more than the maximum of ${limits.maxFiles} files: remove files or list them in .helmignore`);
    const size = header.size ?? 0;
    if (size > limits.maxFileBytes) {
      throw invalid(`decompressed chart file ${JSON.stringify(shown)} is larger than the maximum file size ${sizeText(limits.maxFileBytes)}: remove it or list it in .helmignore`, { path: shown, size });
    }
    contentBytes += size;
    if (contentBytes > limits.maxDecompressedBytes) {
      throw invalid(`decompressed chart is larger than the maximum size ${sizeText(limits.maxDecompressedBytes)}: remove large files or list them in .helmignore`);
    }

    if (path.inChart === "Chart.yaml" || path.inChart === "requirements.yaml") {
      if (size > limits.maxChartYamlBytes) {
        throw invalid(`${path.inChart} is larger than the maximum ${sizeText(limits.maxChartYamlBytes)}: keep chart metadata small`, { size });
      }
      if (path.inChart === "Chart.yaml" ? chartYaml : requirementsYaml) {
        throw invalid(`chart contains ${path.inChart} twice: ${REPACKAGE}`);
      }
      const bytes = await collect(entry, limits.maxChartYamlBytes);
      if (path.inChart === "Chart.yaml") chartYaml = bytes;
      else requirementsYaml = bytes;
    } else {
      await drain(entry);
    }
  }

  if (files === 0 || folder === null) throw invalid(`no files in chart archive: ${REPACKAGE}`);
  if (chartYaml === null) throw invalid(`Chart.yaml file is missing: the chart's folder must contain Chart.yaml; ${REPACKAGE}`);
  const raw = parseMetadataYaml("Chart.yaml", chartYaml, limits);
  if (requirementsYaml !== null) mergeRequirements(raw, parseMetadataYaml("requirements.yaml", requirementsYaml, limits));
  return { metadata: chartMetadataFrom(raw), folder, files, decompressedBytes: contentBytes };
}

/** Reads an entry to its end, so tar-stream moves on; the bytes were counted as they left gunzip. */
async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const chunk of entry) void chunk;
}

async function collect(entry: AsyncIterable<unknown>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const item of entry) {
    const chunk = item as Buffer; // tar-stream yields Buffers (typed unknown by streamx)
    length += chunk.length;
    if (length > max) throw invalid(`chart metadata is larger than the maximum ${sizeText(max)}`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}

/**
 * Chart.yaml holds a few dozen flow collections at most; the yaml package's parser is superlinear
 * in flow nesting (1 MiB of "[" costs over ten seconds), so a file with more is refused before parsing.
 */
const MAX_FLOW_COLLECTIONS = 2000;

/**
 * YAML with aliases capped and duplicate keys refused; a UTF-8 BOM is trimmed, as Helm does.
 * Duplicate keys are found here, in one pass with a Set: the yaml package's own `uniqueKeys`
 * compares every pair, and a 1 MiB map of 40,000 keys then takes about 90 seconds.
 */
function parseMetadataYaml(file: string, bytes: Buffer, limits: ChartLimits): unknown {
  const text = bytes.toString("utf8").replace(/^\uFEFF/, "");
  let flows = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if ((c === 0x5b || c === 0x7b) && ++flows > MAX_FLOW_COLLECTIONS) {
      throw invalid(`${file} has more than ${MAX_FLOW_COLLECTIONS} '[' and '{': write lists and maps in block style`);
    }
  }
  const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 300);
  let doc;
  try {
    doc = parseDocument(text, { uniqueKeys: false, logLevel: "error", prettyErrors: false });
  } catch (err) {
    throw invalid(`${file} is not valid YAML (${reason(err)}): fix it, then run \`helm lint\``);
  }
  const [error] = doc.errors;
  if (error) throw invalid(`${file} is not valid YAML (${reason(error)}): fix it, then run \`helm lint\``);
  const duplicate = duplicateKey(doc);
  if (duplicate !== null) throw invalid(`${file} is not valid YAML (map keys must be unique: ${JSON.stringify(duplicate.slice(0, 100))} appears twice): fix it, then run \`helm lint\``);
  try {
    return doc.toJS({ maxAliasCount: limits.maxYamlAliases }) as unknown;
  } catch (err) {
    if (/alias/i.test(reason(err))) throw invalid(`${file} uses too many YAML aliases (at most ${limits.maxYamlAliases}): write the values out`);
    throw invalid(`${file} is not valid YAML (${reason(err)}): fix it, then run \`helm lint\``);
  }
}

/** The first scalar key that appears twice in one map, or null. */
function duplicateKey(doc: Document): string | null {
  let found: string | null = null;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(key)) {
          found = String(pair.key.value);
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}

/**
 * An apiVersion v1 chart lists its dependencies in requirements.yaml; Helm's loader reads them
 * into the metadata, so the index shows them. Chart.yaml's own list wins when both exist.
 */
function mergeRequirements(chart: unknown, requirements: unknown): void {
  if (typeof chart !== "object" || chart === null || Array.isArray(chart)) return;
  if (typeof requirements !== "object" || requirements === null || Array.isArray(requirements)) return;
  const deps = (requirements as Record<string, unknown>).dependencies;
  const target = chart as Record<string, unknown>;
  if (Array.isArray(deps) && !Array.isArray(target.dependencies)) target.dependencies = deps;
}

/**
 * Reads name and version from a .prov: an OpenPGP clear-signed message whose text is Chart.yaml,
 * a `...` line, then `files:` with `<name>-<version>.tgz: sha256:<hex>` (helm pkg/provenance/sign.go).
 * The signature is not verified here: that is the client's job with its keyring.
 */
export function readProvenance(body: Buffer): { name: string; version: string; files: Record<string, string> } {
  const fix = "sign the chart with `helm package --sign` and upload the .prov it writes";
  if (body.length > MAX_PROVENANCE_BYTES) throw invalid(`provenance file is larger than the maximum ${sizeText(MAX_PROVENANCE_BYTES)}: ${fix}`);
  const text = body.toString("utf8").replace(/^\uFEFF/, "").replaceAll("\r\n", "\n");
  if (!text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----\n")) {
    throw invalid(`provenance file is not a clear-signed message (it must start with -----BEGIN PGP SIGNED MESSAGE-----): ${fix}`);
  }
  const lines = text.split("\n");
  // Armor headers ("Hash: SHA512") end at the first empty line; the signed text ends at the signature.
  const blank = lines.indexOf("", 1);
  const signature = lines.indexOf("-----BEGIN PGP SIGNATURE-----");
  if (blank === -1 || signature === -1 || signature < blank) throw invalid(`provenance file has no signed text or no signature: ${fix}`);
  // RFC 4880 §7.1: lines starting with '-' are dash-escaped ("- - item").
  const signed = lines.slice(blank + 1, signature).map((line) => (line.startsWith("- ") ? line.slice(2) : line));
  const separator = signed.indexOf("...");
  if (separator === -1) throw invalid(`provenance file has no '...' line between Chart.yaml and files: ${fix}`);

  const limits = DEFAULT_CHART_LIMITS;
  const chart = chartMetadataFrom(parseMetadataYaml("the provenance file's Chart.yaml", Buffer.from(signed.slice(0, separator).join("\n")), limits));
  const sums = parseMetadataYaml("the provenance file's checksums", Buffer.from(signed.slice(separator + 1).join("\n")), limits);
  const listed = typeof sums === "object" && sums !== null && !Array.isArray(sums) ? (sums as Record<string, unknown>).files : undefined;
  if (typeof listed !== "object" || listed === null || Array.isArray(listed) || Object.keys(listed).length === 0) {
    throw invalid(`provenance file lists no files and checksums: ${fix}`);
  }
  const files: Record<string, string> = {};
  for (const [file, sum] of Object.entries(listed)) {
    if (typeof sum !== "string") throw invalid(`provenance file's checksum for ${JSON.stringify(file.slice(0, 300))} is not text: ${fix}`);
    files[file] = sum;
  }
  return { name: chart.name, version: chart.version, files };
}

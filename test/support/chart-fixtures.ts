// Chart packages built in memory for tests: well-formed ones shaped like `helm package` output,
// and hostile ones (traversal, links, devices, bombs) that only a hand-made tar can hold.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { stringify } from "yaml";

export interface ArchiveEntry {
  /** Written as given: backslashes, `..` and leading slashes stay. */
  path: string;
  content?: string | Buffer;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  linkname?: string;
  mode?: number;
  /** A file of this many zero bytes, when there is no content. */
  size?: number;
}

const EPOCH = new Date("2024-01-01T00:00:00Z");

/** An uncompressed tar of the entries, in order. */
export async function buildTar(entries: readonly ArchiveEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer); // streamx types chunks as unknown
  })();
  for (const entry of entries) {
    const type = entry.type ?? "file";
    const header = { name: entry.path, type, mode: entry.mode, mtime: EPOCH, linkname: entry.linkname };
    if (type === "file") {
      const content = entry.content ?? Buffer.alloc(entry.size ?? 0);
      await new Promise<void>((resolve, reject) => tar.entry(header, typeof content === "string" ? Buffer.from(content) : content, (err) => (err ? reject(err) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => tar.entry(header, (err) => (err ? reject(err) : resolve())).end(null));
    }
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A .tgz of the entries: gzip around buildTar. */
export async function build(entries: readonly ArchiveEntry[]): Promise<Buffer> {
  return gzipSync(await buildTar(entries));
}

export interface ChartOptions {
  name: string;
  version: string;
  /** Default "v2"; null leaves it out (an old v1 chart). */
  apiVersion?: string | null;
  appVersion?: string | number;
  description?: string;
  type?: string;
  dependencies?: Record<string, unknown>[];
  /** The top-level folder; default the chart name. */
  folder?: string;
  /** Chart.yaml as written, instead of one made from these options. */
  chartYaml?: string;
  /** More files, relative to the folder. */
  files?: Record<string, string | Buffer>;
  /** Any other Chart.yaml field. */
  [field: string]: unknown;
}

const OWN_OPTIONS = new Set(["folder", "chartYaml", "files"]);

/** Chart.yaml for the options, fields in the order `helm create` writes them. */
export function chartYamlFor(options: ChartOptions): string {
  const fields: Record<string, unknown> = {};
  if (options.apiVersion !== null) fields.apiVersion = options.apiVersion ?? "v2";
  for (const [key, value] of Object.entries(options)) {
    if (key !== "apiVersion" && !OWN_OPTIONS.has(key) && value !== undefined) fields[key] = value;
  }
  return stringify(fields, { indentSeq: false }); // lists at the key's column, as Go's yaml writes them
}

/** Looks like `helm package` output: `<name>/Chart.yaml`, `values.yaml`, `templates/…`, no folder entries. */
export async function validChart(options: ChartOptions): Promise<Buffer> {
  const folder = options.folder ?? options.name;
  const files: Record<string, string | Buffer> = {
    "Chart.yaml": options.chartYaml ?? chartYamlFor(options),
    "values.yaml": "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"\"\n",
    "templates/deployment.yaml": `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-${options.name}\n`,
    "templates/_helpers.tpl": '{{- define "chart.name" -}}{{ .Chart.Name }}{{- end }}\n',
    ".helmignore": ".git/\n*.swp\n",
    ...options.files,
  };
  return build(Object.entries(files).map(([path, content]) => ({ path: `${folder}/${path}`, content, mode: 0o644 })));
}

/** A Buffer's bytes as a stream source, in chunks of the given size (to test split gzip headers). */
export async function* chunked(bytes: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/**
 * A gzip bomb, compressed lazily as it is read: `bytes` zeros, either bare (tar-stream reads
 * them as endless empty headers) or as the content of one file whose header declares that size.
 * Destroying the returned stream stops the generator.
 */
export function gzipBomb(bytes: number, asFile?: string): Readable {
  async function* plain(): AsyncGenerator<Buffer> {
    if (asFile !== undefined) yield await tarHeader(asFile, bytes);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let left = bytes; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
  }
  const gzip = createGzip({ level: 9 });
  pipeline(Readable.from(plain()), gzip).catch(() => {}); // ends when the reader destroys gzip
  return gzip;
}

/** A ustar header declaring `size` bytes: tar-stream's pack writes it, then size and checksum are patched. */
async function tarHeader(name: string, size: number): Promise<Buffer> {
  const header = Buffer.from((await buildTar([{ path: name, content: "" }])).subarray(0, 512));
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  header.fill(" ", 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return header;
}

/** A .prov as `helm package --sign` lays it out; the signature block is a placeholder, not a signature. */
export function provenanceFor(chartYaml: string, files: Record<string, string>): Buffer {
  const signed = `${chartYaml.trimEnd()}\n\n...\n${stringify({ files })}`;
  const escaped = signed.split("\n").map((line) => (line.startsWith("-") ? `- ${line}` : line)).join("\n");
  return Buffer.from(
    `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${escaped}\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJnAAAAAAkQAAAAAAAAAAAAAA==\n=AAAA\n-----END PGP SIGNATURE-----\n`,
  );
}

/** `sha256:<hex>` as a .prov lists it. */
export function provenanceSum(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

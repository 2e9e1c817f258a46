// README.md and values.yaml of a stored chart package, for the portal's chart page. The package
// was validated when it was pushed (charts/archive.ts); this only streams it again, takes the two
// top-level files (not a subchart's), each bounded, and stops reading once both are found.
import { once } from "node:events";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";

/** A README or values.yaml past this is cut there: the page shows text, not a download. */
export const MAX_CHART_TEXT_BYTES = 512 * 1024;
const WANTED = { "README.md": "readme", "values.yaml": "values" } as const;

export interface ChartTexts {
  readme: string | null;
  values: string | null;
  /** Each file's whole size in bytes (null: no such file): above MAX_CHART_TEXT_BYTES, its text was cut there. */
  readmeBytes: number | null;
  valuesBytes: number | null;
}

export async function chartTexts(source: Readable): Promise<ChartTexts> {
  const found: ChartTexts = { readme: null, values: null, readmeBytes: null, valuesBytes: null };
  const tar = extract();
  // Aborted when the reader stops, for whatever reason: the feeder must never wait for a "drain"
  // of a tar stream nobody reads any more (a request that never ended held shutdown in CI).
  const readerDone = new AbortController();
  const reading = (async () => {
    try {
      for await (const entry of tar) {
        const parts = entry.header.name.replaceAll("\\", "/").split("/").filter((p) => p !== "" && p !== ".");
        const field = parts.length === 2 && entry.header.type === "file" ? WANTED[parts[1] as keyof typeof WANTED] : undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          if (field && size < MAX_CHART_TEXT_BYTES) chunks.push(chunk.subarray(0, MAX_CHART_TEXT_BYTES - size));
          size += chunk.length;
        }
        if (field && found[field] === null) {
          found[field] = Buffer.concat(chunks).toString("utf8");
          found[`${field}Bytes`] = size;
        }
        if (found.readme !== null && found.values !== null) break;
      }
    } finally {
      readerDone.abort();
    }
  })();
  const feeding = (async () => {
    const gunzip = createGunzip();
    // pipe() does not pass a source's failure on: without this a store read that fails leaves gunzip open forever.
    source.once("error", (err) => gunzip.destroy(err));
    try {
      for await (const chunk of source.pipe(gunzip) as AsyncIterable<Buffer>) {
        if (readerDone.signal.aborted) return;
        if (!tar.write(chunk)) await once(tar, "drain", { signal: readerDone.signal });
      }
      tar.end(null); // streamx: no final chunk
    } catch {
      // A truncated or corrupt package, a failed read, or the reader done: the reader must end too.
      tar.destroy();
    }
  })();
  await Promise.allSettled([reading, feeding]);
  source.destroy();
  tar.destroy();
  // A broken package leaves what was found: the page then shows no README rather than failing.
  return found;
}

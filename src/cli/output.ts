// How the client commands print: `-o table` (the default) is a borderless table in helm's and
// kubectl's look; `-o json` is the server's answer, indented, for scripts.
import Table from "cli-table3";

export type OutputFormat = "table" | "json";

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printLine(text: string): void {
  process.stdout.write(text + "\n");
}

const NO_BORDER = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "",
};

/** Columns padded to their widest cell, headers in capitals, no colours (the output is often piped). */
export function renderTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const table = new Table({ head: [...head], chars: NO_BORDER, style: { head: [], border: [], "padding-left": 0, "padding-right": 3 } });
  for (const row of rows) table.push([...row]);
  return table.toString().split("\n").map((line) => line.trimEnd()).join("\n");
}

export function printTable(head: readonly string[], rows: readonly (readonly string[])[]): void {
  process.stdout.write(renderTable(head, rows) + "\n");
}

/** `key: value` lines, keys aligned, empty values left out. */
export function printDetails(pairs: readonly (readonly [string, string | undefined])[]): void {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== "");
  const width = Math.max(0, ...shown.map(([key]) => key.length)) + 1;
  for (const [key, value] of shown) process.stdout.write(`${`${key}:`.padEnd(width)} ${value}\n`);
}

/** Cut to `max` characters with an ellipsis, as helm search does for descriptions. */
export function truncate(text: string | undefined, max = 50): string {
  const oneLine = (text ?? "").replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}

/** 1536 → "1.5 KiB". */
export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** sha256:<64 hex> → the first 12 hex, as docker shows image ids. */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return "";
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, 12);
}

/** RFC 3339 → "2026-08-20 10:11:12 UTC"; anything else as given. */
export function shortTime(text: string | undefined): string {
  if (!text) return "";
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? text : `${time.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A secret was just printed: say so on stderr, so stdout (a pipe, `-o json`) holds only the output. */
export function printSecretNotice(howToUse: string): void {
  process.stderr.write(`${howToUse}\nSave it now: Berth keeps only a hash and cannot show it again.\n`);
}

export function yesNo(value: boolean | undefined): string {
  return value === undefined ? "" : value ? "yes" : "no";
}

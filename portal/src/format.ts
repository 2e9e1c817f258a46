// How numbers, times and kinds read on every page.
import type { RepositoryKind } from "../../src/api-contract/catalog.ts";

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export const KIND_NAMES: Record<RepositoryKind, string> = {
  image: "Container image",
  index: "Multi-platform image",
  "chart-oci": "Helm chart (OCI)",
  "chart-classic": "Helm chart (classic)",
  "chart-both": "Helm chart (classic and OCI)",
  artifact: "Artifact",
};

export function shortDigest(digest: string): string {
  const [algorithm, hex = ""] = digest.split(":");
  return `${algorithm}:${hex.slice(0, 12)}`;
}

/** A URL to link to only when it is http(s); anything else (javascript:, data:) stays text. */
export function safeHref(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A span of seconds in the largest whole unit that fits: "7 days", "36 hours", "90 seconds". */
export function duration(seconds: number): string {
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}${seconds === size ? "" : "s"}`;
  }
  return `${seconds} second${seconds === 1 ? "" : "s"}`;
}

/** A limit as it can be typed back: the largest 1024-based unit it is a whole number of, else bytes. */
export function exactSize(n: number): string {
  const units = ["TiB", "GiB", "MiB", "KiB"];
  for (const [i, unit] of units.entries()) {
    const size = 1024 ** (units.length - i);
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

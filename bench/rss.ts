// Resident memory of a server process, sampled from /proc/<pid>/status every 100 ms, and a plain
// reading of the samples: the peak, and whether the level grows while the load stays the same.
import { readFileSync } from "node:fs";

export interface RssSample { ms: number; bytes: number }

export interface RssSummary {
  samples: number;
  startBytes: number;
  peakBytes: number;
  endBytes: number;
  /** Mean of the first and the last third of the samples taken under load. */
  firstThirdBytes: number;
  lastThirdBytes: number;
  /** Least-squares slope over the samples under load, in MiB per second. */
  slopeMibPerSecond: number;
  trend: "flat" | "growing" | "shrinking";
}

export function readRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null; // the process is gone
  }
}

export class RssSampler {
  private readonly samples: RssSample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly start = performance.now();
  private readonly pid: number;
  /** A bound on the samples kept, whatever the run's length. */
  private readonly maxSamples: number;

  constructor(pid: number, intervalMs = 100, maxSamples = 20_000) {
    this.pid = pid;
    this.maxSamples = maxSamples;
    this.take();
    this.timer = setInterval(() => this.take(), intervalMs);
  }

  private take(): void {
    if (this.samples.length >= this.maxSamples) return;
    const bytes = readRss(this.pid);
    if (bytes !== null) this.samples.push({ ms: performance.now() - this.start, bytes });
  }

  stop(): RssSample[] {
    clearInterval(this.timer);
    this.take();
    return this.samples;
  }
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/**
 * Flat means: from the first to the last third of the run the level moves by less than
 * max(16 MiB, 10 %), and the fitted line over the whole run does not add more than that either.
 * The first 10 % of samples (the ramp to full load) are left out of the trend, not of the peak.
 */
export function summarizeRss(samples: RssSample[]): RssSummary {
  if (samples.length === 0) throw new Error("no RSS samples");
  const loaded = samples.slice(Math.floor(samples.length / 10));
  const third = Math.max(1, Math.floor(loaded.length / 3));
  const firstThirdBytes = mean(loaded.slice(0, third).map((s) => s.bytes));
  const lastThirdBytes = mean(loaded.slice(-third).map((s) => s.bytes));
  const mx = mean(loaded.map((s) => s.ms));
  const my = mean(loaded.map((s) => s.bytes));
  let num = 0;
  let den = 0;
  for (const s of loaded) {
    num += (s.ms - mx) * (s.bytes - my);
    den += (s.ms - mx) ** 2;
  }
  const slopeBytesPerMs = den === 0 ? 0 : num / den;
  const spanMs = (loaded.at(-1)?.ms ?? 0) - (loaded[0]?.ms ?? 0);
  const tolerance = Math.max(16 * 1024 * 1024, 0.1 * firstThirdBytes);
  const fittedRise = slopeBytesPerMs * spanMs;
  const thirdsRise = lastThirdBytes - firstThirdBytes;
  let trend: RssSummary["trend"] = "flat";
  if (thirdsRise > tolerance && fittedRise > tolerance) trend = "growing";
  else if (thirdsRise < -tolerance && fittedRise < -tolerance) trend = "shrinking";
  return {
    samples: samples.length,
    startBytes: samples[0]!.bytes,
    peakBytes: Math.max(...samples.map((s) => s.bytes)),
    endBytes: samples.at(-1)!.bytes,
    firstThirdBytes,
    lastThirdBytes,
    slopeMibPerSecond: (slopeBytesPerMs * 1000) / (1024 * 1024),
    trend,
  };
}

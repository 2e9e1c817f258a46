// Prometheus metrics: requests by route and status, bytes in and out, upload durations, free space,
// the read cache's hits and fills.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StorageReport } from "./storage-space.ts";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "berth_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [this.registry] });
  readonly bytesIn = new Counter({ name: "berth_http_received_bytes_total", help: "Bytes received, headers and bodies", labelNames: ["route"], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: "berth_http_sent_bytes_total", help: "Bytes sent, headers and bodies", labelNames: ["route"], registers: [this.registry] });
  readonly duration = new Histogram({
    name: "berth_http_request_duration_seconds",
    help: "Request duration by route",
    labelNames: ["route", "method"],
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [this.registry],
  });
  readonly uploadDuration = new Histogram({
    name: "berth_blob_upload_duration_seconds",
    help: "Duration of blob upload requests that carry bytes (POST, PATCH, PUT)",
    buckets: [0.01, 0.1, 0.5, 1, 5, 20, 60, 300],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "berth_" });
  }

  /** berth_storage_free_bytes and berth_storage_size_bytes, read from the filesystem at each scrape. */
  watchStorage(report: () => Promise<StorageReport>): void {
    new Gauge({
      name: "berth_storage_free_bytes",
      help: "Bytes still writable on the data directory's filesystem",
      registers: [this.registry],
      async collect() {
        this.set((await report()).freeBytes);
      },
    });
    new Gauge({
      name: "berth_storage_size_bytes",
      help: "Size of the data directory's filesystem in bytes",
      registers: [this.registry],
      async collect() {
        this.set((await report()).totalBytes);
      },
    });
  }

  /** berth_read_cache_*: the read cache's counters (blobs/read-cache.ts), read at each scrape. */
  watchReadCache(stats: () => ReadCacheCounts): void {
    const counter = (name: string, help: string, read: (s: ReadCacheCounts) => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read(stats()));
        },
      });
    counter("berth_read_cache_hits_total", "Blob reads served from the read cache", (s) => s.hits);
    counter("berth_read_cache_misses_total", "Blob reads the read cache did not hold (served from the store)", (s) => s.misses);
    counter("berth_read_cache_fills_total", "Blobs added to the read cache", (s) => s.fills);
    counter("berth_read_cache_evictions_total", "Blobs evicted from the read cache to stay under storage.cache.maxBytes", (s) => s.evictions);
    new Counter({
      name: "berth_read_cache_fills_dropped_total",
      help: "Fills ended without an entry, by reason: behind (the disk fell behind the client), mismatch, aborted (the client went away), error",
      labelNames: ["reason"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(stats().fillsDropped)) this.inc({ reason }, count);
      },
    });
    new Gauge({
      name: "berth_read_cache_bytes",
      help: "Bytes of the blobs in the read cache",
      registers: [this.registry],
      collect() {
        this.set(stats().bytes);
      },
    });
  }
}

/** What watchReadCache reads: a read cache's counts (blobs/read-cache.ts ReadCacheStats extends it). */
export interface ReadCacheCounts {
  hits: number;
  misses: number;
  fills: number;
  /** Fills ended without an entry, by reason (behind, mismatch, aborted, error). */
  fillsDropped: Record<string, number>;
  evictions: number;
  /** Bytes of the entries (what maxBytes bounds). */
  bytes: number;
}

// Prometheus metrics: requests by route and status, bytes in and out, upload durations, free space.
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
}

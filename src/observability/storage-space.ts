// Free space on the data directory's filesystem, for /healthz and /metrics. A full disk refuses
// every push (507, docs/storage.md); reporting the space before that lets an operator act first.
import { statfs } from "node:fs/promises";

export interface StorageReport {
  /** Bytes Berth can still write: what an unprivileged writer gets, not root's reserve. */
  freeBytes: number;
  totalBytes: number;
  /** storage.minFreeBytes: below it /healthz says degraded. */
  minFreeBytes: number;
  low: boolean;
}

export class StorageSpace {
  private readonly path: string;
  private readonly minFreeBytes: number;

  constructor(path: string, minFreeBytes: number) {
    this.path = path;
    this.minFreeBytes = minFreeBytes;
  }

  async report(): Promise<StorageReport> {
    const fs = await statfs(this.path);
    const freeBytes = fs.bavail * fs.bsize;
    return { freeBytes, totalBytes: fs.blocks * fs.bsize, minFreeBytes: this.minFreeBytes, low: freeBytes < this.minFreeBytes };
  }
}

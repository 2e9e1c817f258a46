// The machine's own limits for one blob stream: how fast one thread hashes SHA-256 in Node, and
// how fast the disk under the data directories takes a file and makes it durable (fsync), through
// the page cache and with direct I/O.
// A registry push pays both on every byte, so neither can be beaten for long.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants, readFileSync } from "node:fs";
import { open, statfs } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { MiB } from "./blob.ts";

export interface Machine { cpus: number; cpuModel: string; memoryBytes: number; node: string; disk: string }

export interface HashSpeed { bytes: number; seconds: number; mibPerSecond: number }
export interface DiskSpeed {
  bytes: number;
  /** write() calls only: the page cache's speed. */
  bufferedSeconds: number;
  /** writes plus the closing fsync: the disk's durable speed. */
  seconds: number;
  mibPerSecond: number;
  bufferedMibPerSecond: number;
  filesystemType: string;
  /** Every try's durable speed, when several were made (the reported one is their median). */
  triesMibPerSecond?: number[];
  /** The same bytes written with O_DIRECT, then fsync (median of the tries); absent where refused. */
  directMibPerSecond?: number;
  directTriesMibPerSecond?: number[];
}

const filesystemNames: Record<number, string> = {
  0xef53: "ext4",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x01021994: "tmpfs",
  0x794c7630: "overlayfs",
  0x2fc12fc1: "zfs",
};

function mibPerSecond(bytes: number, seconds: number): number {
  return bytes / MiB / seconds;
}

/** SHA-256 of `bytes` fed as 1 MiB buffers, on this thread (as a registry hashes one upload). */
export function sha256Speed(bytes: number): HashSpeed {
  const block = randomBytes(MiB);
  const hash = createHash("sha256");
  hash.update(block); // warm-up, untimed
  const start = performance.now();
  for (let done = 0; done < bytes; done += MiB) hash.update(block);
  hash.digest();
  const seconds = (performance.now() - start) / 1000;
  return { bytes, seconds, mibPerSecond: mibPerSecond(bytes, seconds) };
}

/**
 * Writes `bytes` to a new file in `dir` with 1 MiB writes, then fsyncs. The file is left for the
 * caller to remove (`path` in the result) after all tries: on a VM whose balloon takes freed pages
 * back, writing into pages just freed by the previous try is several times faster than writing
 * into fresh ones, and a registry's new blob always lands in fresh ones.
 */
export async function diskWriteSpeed(dir: string, bytes: number, name: string): Promise<DiskSpeed & { path: string }> {
  await flushDirtyPages();
  const path = join(dir, name);
  const block = randomBytes(MiB);
  const file = await open(path, "w");
  try {
    const start = performance.now();
    for (let done = 0; done < bytes; done += MiB) await file.write(block, 0, MiB);
    const buffered = performance.now();
    await file.sync();
    const end = performance.now();
    const seconds = (end - start) / 1000;
    const bufferedSeconds = (buffered - start) / 1000;
    const fs = await statfs(dir);
    return {
      path,
      bytes,
      seconds,
      bufferedSeconds,
      mibPerSecond: mibPerSecond(bytes, seconds),
      bufferedMibPerSecond: mibPerSecond(bytes, bufferedSeconds),
      filesystemType: filesystemNames[fs.type] ?? `0x${fs.type.toString(16)}`,
    };
  } finally {
    await file.close();
  }
}

/**
 * The disk's durable speed without the page cache: `bytes` written with O_DIRECT (4 MiB writes
 * from reused aligned memory, two in flight), then fsync. This is the way Berth writes blobs, and
 * the disk's own speed, undiluted by page-cache costs; null where the filesystem refuses O_DIRECT.
 */
export async function directWriteSpeed(dir: string, bytes: number, name: string): Promise<{ mibPerSecond: number; path: string } | null> {
  await flushDirtyPages();
  const path = join(dir, name);
  const chunk = 4 * MiB;
  const memory = new ArrayBuffer(2 * chunk + 4096);
  let file;
  try {
    file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT);
  } catch {
    return null;
  }
  // Where in the block aligned memory starts depends on the allocator: found by trying.
  let base: number | null = null;
  for (let offset = 4080; base === null && offset >= 0; offset -= 16) {
    if (await file.write(new Uint8Array(memory, offset, 4096), 0, 4096, 0).then(() => true, () => false)) base = offset;
  }
  if (base === null) {
    await file.close();
    return null;
  }
  const buffers = [0, 1].map((i) => new Uint8Array(memory, base + i * chunk, chunk));
  buffers.forEach((b) => b.set(randomBytes(chunk)));
  try {
    const start = performance.now();
    let next = 0;
    const lane = async (buffer: Uint8Array) => {
      while (next < bytes) {
        const at = next;
        next += chunk;
        await file.write(buffer, 0, Math.min(chunk, bytes - at), at);
      }
    };
    await Promise.all(buffers.map(lane));
    await file.sync();
    return { path, mibPerSecond: mibPerSecond(bytes, (performance.now() - start) / 1000) };
  } finally {
    await file.close();
  }
}

/** `sync`: so one phase's write-back does not land in the next phase's timing. At most 180 s. */
export function flushDirtyPages(): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn("sync", [], { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.once("error", fail);
    child.once("exit", () => {
      clearTimeout(timer);
      ok();
    });
  });
}

/** What the results were measured on: CPUs, memory, the disk under the temp directories. */
export function machine(): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "";
  let disk = "unknown";
  try {
    const df = execFileSync("df", ["-hT", tmpdir()], { encoding: "utf8", timeout: 10_000 }).trim().split("\n").at(-1) ?? "";
    const [device, type, size] = df.split(/\s+/);
    disk = `${device} ${type} ${size}`;
  } catch {
    // df missing: keep "unknown"
  }
  return {
    cpus: cpus().length,
    cpuModel: `${model}${/\bsha_ni\b/.test(flags) ? " (SHA-NI)" : ""}`,
    memoryBytes: totalmem(),
    node: process.version,
    disk,
  };
}

// Running digests of bytes as they are written. SHA-256 costs ~0.7 s of CPU per GiB, as much as
// receiving the bytes, so large writes are hashed on worker threads (hash-thread.ts) while the
// main thread receives the next bytes: both cores work on a push instead of one.
// A writer that offers the tapped fast path (fast-paths.ts) hands the hash views of shared memory
// (its write slots), so nothing is copied; any other writer gets its bytes through hashedSource().
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { newHash, type Digest, type DigestAlgorithm } from "../domain/digest.ts";
import type { WriteTap } from "./fast-paths.ts";

/** What the main thread asks a hashing thread (hash-thread.mjs); requests with a seq are answered. */
type HashRequest =
  | { op: "start"; id: number; algorithm: DigestAlgorithm }
  | { op: "update"; id: number; seq: number; bytes: Uint8Array }
  | { op: "digest"; id: number; seq: number }
  | { op: "peek"; id: number; seq: number }
  | { op: "drop"; id: number };
type HashAnswer = { seq: number; hex?: string; error?: string };

/** A digest being computed over every byte a write passes to `see`, in order. */
export interface RunningHash extends WriteTap {
  readonly algorithm: DigestAlgorithm;
  /** Ends the hash. */
  digest(): Promise<Digest>;
  /** The digest of the bytes seen so far; the hash goes on (a closing PUT asking whether the upload is already whole). */
  digestSoFar(): Promise<Digest>;
  /** Forgets it (an abandoned upload). */
  dispose(): void;
}

/** A hash on this thread, which can also tell the digest so far and go on. */
export interface LocalHash extends RunningHash {
  /** The digest of the bytes seen so far; the hash goes on. */
  peek(): Digest;
}

/** A hash on the calling thread: for small bodies and for rebuilding a hash from stored bytes. */
export function hashHere(algorithm: DigestAlgorithm): LocalHash {
  const hash = newHash(algorithm);
  return {
    algorithm,
    see(bytes) {
      hash.update(bytes);
      return Promise.resolve();
    },
    peek: () => `${algorithm}:${hash.copy().digest("hex")}` as Digest,
    digestSoFar: () => Promise.resolve(`${algorithm}:${hash.copy().digest("hex")}` as Digest),
    digest: () => Promise.resolve(`${algorithm}:${hash.digest("hex")}` as Digest),
    dispose() {},
  };
}

/** One worker thread and what it still owes the main thread. */
class HashThread {
  readonly worker: Worker;
  readonly pending = new Map<number, { resolve: (a: HashAnswer) => void; reject: (e: Error) => void }>();
  /** Hashes started here and not yet ended or dropped. */
  open = 0;
  private seq = 0;
  exited = false;

  constructor() {
    // Small heap limits: the thread allocates almost nothing of its own (the bytes are shared).
    this.worker = new Worker(new URL("./hash-thread.mjs", import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 4 } });
    this.worker.on("message", (answer: HashAnswer) => {
      const waiter = this.pending.get(answer.seq);
      this.pending.delete(answer.seq);
      waiter?.resolve(answer);
    });
    const fail = (error: Error) => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`hash thread exited with code ${code}`)));
    this.worker.unref();
  }

  post(request: HashRequest): void {
    this.worker.postMessage(request);
  }

  ask(request: { op: "update"; id: number; bytes: Uint8Array } | { op: "digest" | "peek"; id: number }): Promise<HashAnswer> {
    if (this.exited) return Promise.reject(new Error("hash thread is gone"));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      // The thread keeps the process alive only while it owes an answer.
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(seq, {
        resolve: (answer) => {
          if (this.pending.size === 0) this.worker.unref();
          if (answer.error) reject(new Error(answer.error));
          else resolve(answer);
        },
        reject,
      });
      this.worker.postMessage({ ...request, seq } as HashRequest);
    });
  }
}

/**
 * A small pool of hashing threads, started on first use; each hash stays on one thread. One
 * thread per core beyond the main thread's: more would only take turns on the same cores.
 */
export class HashThreads {
  private readonly threads: HashThread[] = [];
  private readonly size: number;
  private nextId = 0;

  constructor(size = Math.max(1, Math.min(availableParallelism() - 1, 4))) {
    this.size = size;
  }

  /** A new running hash (node:crypto's, on the thread with the fewest open ones). */
  start(algorithm: DigestAlgorithm): RunningHash {
    const thread = this.pick();
    const id = ++this.nextId;
    thread.post({ op: "start", id, algorithm });
    return this.handle(thread, id, algorithm);
  }

  /** The running hash `id` on `thread`, counted open there until it ends or is dropped. */
  private handle(thread: HashThread, id: number, algorithm: DigestAlgorithm): RunningHash {
    thread.open++;
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      thread.open--;
      return true;
    };
    return {
      algorithm,
      see: async (bytes) => {
        if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new Error("off-thread hashing needs bytes in shared memory");
        await thread.ask({ op: "update", id, bytes });
      },
      digest: async () => {
        if (!end()) throw new Error("the hash has ended");
        const answer = await thread.ask({ op: "digest", id });
        return `${algorithm}:${answer.hex}` as Digest;
      },
      digestSoFar: async () => {
        if (ended) throw new Error("the hash has ended");
        const answer = await thread.ask({ op: "peek", id });
        return `${algorithm}:${answer.hex}` as Digest;
      },
      dispose: () => {
        if (end() && !thread.exited) thread.post({ op: "drop", id });
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.worker.terminate()));
  }

  /** The live thread with the fewest open hashes, starting a new one while the pool has room. */
  private pick(): HashThread {
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i]!.exited) this.threads.splice(i, 1);
    const idle = this.threads.find((t) => t.open === 0);
    if (idle) return idle;
    if (this.threads.length < this.size) {
      const thread = new HashThread();
      this.threads.push(thread);
      return thread;
    }
    return this.threads.reduce((a, b) => (b.open < a.open ? b : a));
  }
}

/**
 * Bytes copied per slot by hashedSource. Each full slot is one message to the hashing thread, and
 * a message cost ~0.8 ms of the main thread's CPU: 4 MiB slots took an S3 push from 5.6 to 4.3
 * CPU-seconds per GiB against 512 KiB ones (docs/performance.md, "The S3 driver's CPU").
 */
const SOURCE_SLOT_BYTES = 4 * 1024 * 1024;
/**
 * Pairs of slots kept for the next bodies: fresh shared memory is a page fault per 4 KiB the copy
 * touches, 8 MiB per chunked PATCH of 8 MiB or more.
 */
const IDLE_SLOT_PAIRS = 2;
const idleSlots: Buffer[][] = [];

/**
 * `source` unchanged, with every byte shown to `hash` on the way: the path for writers without the
 * tapped fast path (S3, Azure). Bytes are copied into two shared-memory slots in turn, so a hash
 * on another thread reads one slot while the next bytes fill the other, and the source's chunks
 * pass to the writer untouched. A failed hash fails the source.
 */
export async function* hashedSource(source: AsyncIterable<Uint8Array>, hash: WriteTap): AsyncIterable<Uint8Array> {
  const slots = idleSlots.pop() ?? [0, 1].map(() => Buffer.from(new SharedArrayBuffer(SOURCE_SLOT_BYTES)));
  const pending: (Promise<void> | null)[] = [null, null];
  let slot = 0;
  let fill = 0;
  const flush = async () => {
    const seen = hash.see(slots[slot]!.subarray(0, fill));
    seen.catch(() => undefined); // awaited below, before the slot is used again or at the end
    pending[slot] = seen;
    fill = 0;
    slot = 1 - slot;
    const busy = pending[slot];
    pending[slot] = null;
    if (busy) await busy;
  };
  try {
    for await (const chunk of source) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let at = 0; at < bytes.length; ) {
        const n = Math.min(SOURCE_SLOT_BYTES - fill, bytes.length - at);
        // fill(), not set(): a memcpy into shared memory instead of V8's element-wise copy.
        slots[slot]!.fill(bytes.subarray(at, at + n), fill, fill + n);
        fill += n;
        at += n;
        if (fill === SOURCE_SLOT_BYTES) await flush();
      }
      yield chunk;
    }
    if (fill > 0) await flush();
    await Promise.all(pending);
  } finally {
    await Promise.allSettled(pending.filter((p) => p !== null));
    // Every update was answered, so the hashing thread reads neither slot any more.
    if (idleSlots.length < IDLE_SLOT_PAIRS) idleSlots.push(slots);
  }
}

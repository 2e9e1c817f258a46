// The body of one hashing thread (see hashing.ts). It keeps running hashes by id and feeds
// them views of shared memory the main thread filled; nothing is copied on the way.
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";

/** What the main thread asks; every message but `drop` is answered with its `seq`. */
export type HashRequest =
  | { op: "start"; id: number; algorithm: "sha256" | "sha512" }
  | { op: "update"; id: number; seq: number; bytes: Uint8Array }
  | { op: "digest"; id: number; seq: number }
  | { op: "drop"; id: number };

export type HashAnswer = { seq: number; hex?: string; error?: string };

const port = parentPort;
if (port) {
  const running = new Map<number, Hash>();
  port.on("message", (request: HashRequest) => {
    switch (request.op) {
      case "start":
        running.set(request.id, createHash(request.algorithm));
        return;
      case "drop":
        running.delete(request.id);
        return;
      case "update": {
        const hash = running.get(request.id);
        if (hash) hash.update(request.bytes);
        port.postMessage({ seq: request.seq, error: hash ? undefined : "unknown hash" } satisfies HashAnswer);
        return;
      }
      case "digest": {
        const hash = running.get(request.id);
        running.delete(request.id);
        port.postMessage((hash ? { seq: request.seq, hex: hash.digest("hex") } : { seq: request.seq, error: "unknown hash" }) satisfies HashAnswer);
        return;
      }
    }
  });
}

// The body of one hashing thread (see hashing.ts): running hashes by id, fed views of shared
// memory the main thread filled, so nothing is copied on the way. Plain JavaScript on purpose:
// a thread that loads a .ts file also loads Node's TypeScript stripper, about 17 MB per thread.
// Requests: { op: "start", id, algorithm }, { op: "update", id, seq, bytes },
// { op: "digest", id, seq }, { op: "peek", id, seq } (the digest so far; the hash goes on),
// { op: "drop", id }; every request with a seq is answered { seq, hex?, error? }.
import { createHash } from "node:crypto";
import { parentPort } from "node:worker_threads";

const running = new Map();

parentPort?.on("message", (request) => {
  const hash = running.get(request.id);
  switch (request.op) {
    case "start":
      running.set(request.id, createHash(request.algorithm));
      return;
    case "drop":
      running.delete(request.id);
      return;
    case "update":
      if (hash) hash.update(request.bytes);
      parentPort.postMessage({ seq: request.seq, error: hash ? undefined : "unknown hash" });
      return;
    case "peek":
      parentPort.postMessage(hash ? { seq: request.seq, hex: hash.copy().digest("hex") } : { seq: request.seq, error: "unknown hash" });
      return;
    case "digest":
      running.delete(request.id);
      parentPort.postMessage(hash ? { seq: request.seq, hex: hash.digest("hex") } : { seq: request.seq, error: "unknown hash" });
      return;
  }
});

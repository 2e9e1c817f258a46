// The body of one hashing thread (see hashing.ts): running hashes by id, fed views of shared
// memory the main thread filled, so nothing is copied on the way. Plain JavaScript on purpose:
// a thread that loads a .ts file also loads Node's TypeScript stripper, about 17 MB per thread.
// Requests: { op: "start", id, algorithm, resumable?, state? }, { op: "update", id, seq, bytes },
// { op: "digest", id, seq }, { op: "peek", id, seq } (the digest so far; the hash goes on),
// { op: "save", id, seq } (a resumable hash's state, to start another from),
// { op: "drop", id }; every
// request with a seq is answered { seq, hex?, state?, error? }.
//
// Two kinds of hash: node:crypto's (the default: fast, but its state cannot leave the process)
// and, when `resumable`, hash-wasm's, whose state can be saved and loaded elsewhere (an upload
// that another instance continues; about 7x the CPU, docs/scale.md). hash-wasm builds a hasher
// asynchronously, so a resumable hash runs its requests on a queue of its own, in order.
import { createHash } from "node:crypto";
import { parentPort } from "node:worker_threads";

let wasm = null;
const creators = { sha256: "createSHA256", sha512: "createSHA512" };
async function createResumable(algorithm) {
  wasm ??= import("hash-wasm");
  const create = creators[algorithm];
  if (!create) throw new Error(`no resumable ${algorithm}`);
  return (await wasm)[create]();
}

/** A hash-wasm hasher and the queue its requests run on. */
class Resumable {
  constructor(algorithm, ready) {
    this.algorithm = algorithm;
    this.queue = ready.then((hasher) => (this.hasher = hasher));
    this.queue.catch(() => undefined); // reported to each request below
  }
  run(work) {
    const done = this.queue.then(() => work(this.hasher));
    this.queue = done.catch(() => undefined);
    return done;
  }
}

const running = new Map();
const answer = (seq, work) =>
  Promise.resolve()
    .then(work)
    .then(
      (fields) => parentPort.postMessage({ seq, ...fields }),
      (error) => parentPort.postMessage({ seq, error: error instanceof Error ? error.message : String(error) }),
    );

parentPort?.on("message", (request) => {
  const hash = running.get(request.id);
  switch (request.op) {
    case "start":
      if (!request.resumable) running.set(request.id, createHash(request.algorithm));
      else
        running.set(
          request.id,
          new Resumable(
            request.algorithm,
            createResumable(request.algorithm).then((hasher) => {
              if (request.state) hasher.load(request.state);
              else hasher.init();
              return hasher;
            }),
          ),
        );
      return;
    case "drop":
      running.delete(request.id);
      return;
    case "update":
      if (hash instanceof Resumable) answer(request.seq, () => hash.run((hasher) => void hasher.update(request.bytes)));
      else {
        if (hash) hash.update(request.bytes);
        parentPort.postMessage({ seq: request.seq, error: hash ? undefined : "unknown hash" });
      }
      return;
    case "peek":
      if (hash instanceof Resumable)
        answer(request.seq, () =>
          hash.run((hasher) => {
            const state = hasher.save();
            const hex = hasher.digest("hex");
            hasher.load(state);
            return { hex };
          }),
        );
      else parentPort.postMessage(hash ? { seq: request.seq, hex: hash.copy().digest("hex") } : { seq: request.seq, error: "unknown hash" });
      return;
    case "save":
      if (hash instanceof Resumable) answer(request.seq, () => hash.run((hasher) => ({ state: hasher.save() })));
      else parentPort.postMessage({ seq: request.seq, error: hash ? "this hash cannot be saved" : "unknown hash" });
      return;
    case "digest":
      running.delete(request.id);
      if (hash instanceof Resumable) answer(request.seq, () => hash.run((hasher) => ({ hex: hasher.digest("hex") })));
      else parentPort.postMessage(hash ? { seq: request.seq, hex: hash.digest("hex") } : { seq: request.seq, error: "unknown hash" });
      return;
  }
});

// The delivery worker's requests on a thread of their own (send-thread-body.ts). A delivery's
// HTTP exchange and its signature were about two thirds of its CPU, on the event loop that also
// serves pushes (docs/performance.md, "Webhooks (issue 17)"); here the main thread only posts a
// message and gets the result back (~0.03 ms against ~0.3 ms), and the second core does the rest.
// The bookkeeping (leases, records) stays with the worker on the main thread: SQLite has one
// writer, and a second connection on a thread would make pushes wait on its lock (docs/webhooks.md).
//
// The thread starts on first use and again after it died: what it owed is answered as failed
// attempts (no answer from the receiver), which the worker retries after their backoff, so
// at-least-once holds (the receiver may have had them). A thread that does not answer within a
// request's timeout and a margin is ended and replaced, so no drain waits on it forever.
import { Worker } from "node:worker_threads";
import type { DestinationPolicy } from "./destinations.ts";
import type { AttemptDelivery, AttemptTarget } from "./delivery-request.ts";
import type { SendRequest } from "./send-thread-body.ts";
import type { SendResult } from "./sender.ts";

/** How long past a request's own timeout the thread may take to answer before it counts as stuck. */
const STUCK_MARGIN_MS = 5_000;

/** Compiled (dist/), the body is JavaScript; from the sources (tests, benches), TypeScript. */
const BODY = new URL(import.meta.url.endsWith(".ts") ? "./send-thread-body.ts" : "./send-thread-body.js", import.meta.url);

interface Waiter {
  resolve(result: SendResult): void;
  started: number;
  timer: NodeJS.Timeout;
}

export class SendThread {
  private readonly policy: DestinationPolicy;
  private readonly onFailure: (err: Error) => void;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Waiter>();
  private seq = 0;
  private closed = false;

  constructor(policy: DestinationPolicy, onFailure: (err: Error) => void) {
    this.policy = policy;
    this.onFailure = onFailure;
  }

  /** Signs and sends one delivery on the thread; never rejects (as send() does not). */
  attempt(name: string, webhook: AttemptTarget, delivery: AttemptDelivery, timeoutMs: number): Promise<SendResult> {
    if (this.closed) return Promise.resolve({ status: null, latencyMs: 0, error: "the delivery worker is stopping" });
    const worker = this.thread();
    const seq = ++this.seq;
    return new Promise<SendResult>((resolve) => {
      const timer = setTimeout(() => {
        // The thread owes an answer long past the request's own deadline: it is stuck. Every
        // request it holds is answered as failed, and the next one starts a new thread.
        this.fail(worker, new Error(`the delivery thread gave no answer within ${timeoutMs + STUCK_MARGIN_MS} ms`));
        void worker.terminate();
      }, timeoutMs + STUCK_MARGIN_MS);
      // The thread keeps the process alive only while it owes an answer.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(seq, { resolve, started: performance.now(), timer });
      const request: SendRequest = { op: "send", seq, name, url: webhook.url, secret: webhook.secret, delivery: { id: delivery.id, eventId: delivery.eventId, requestHeaders: delivery.requestHeaders, body: delivery.body }, timeoutMs };
      worker.postMessage(request);
    });
  }

  /** Closes a webhook's kept-alive connection (it is gone or disabled). */
  drop(name: string): void {
    this.worker?.postMessage({ op: "drop", name } satisfies SendRequest);
  }

  /** Ends the thread; what it still owed is answered as failed (the worker waits for its drains first, so normally nothing). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error("the delivery worker is stopping"));
    await worker.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // Small heap limits: the thread holds connections and one request body at a time per webhook.
    const worker = new Worker(BODY, { workerData: { policy: this.policy }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
    worker.on("message", (answer: { seq: number; result: SendResult }) => {
      const waiter = this.pending.get(answer.seq);
      if (!waiter) return;
      this.pending.delete(answer.seq);
      clearTimeout(waiter.timer);
      if (this.pending.size === 0) worker.unref();
      waiter.resolve(answer.result);
    });
    worker.on("error", (err) => {
      this.onFailure(err);
      this.fail(worker, err);
    });
    worker.on("exit", (code) => this.fail(worker, new Error(`the delivery thread exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** The thread is done for: each request it owed gets a failed result, and the next request starts a new one. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const now = performance.now();
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.resolve({ status: null, latencyMs: Math.round(now - waiter.started), error: err.message });
    }
    this.pending.clear();
  }
}

// The delivery worker's requests on a thread of their own (send-thread-body.ts). A delivery's
// HTTP exchange and its signature were about two thirds of its CPU, on the event loop that also
// serves pushes (docs/performance.md, "Webhooks (issue 17)"). The main thread hands over a leased
// batch in one message and gets its answers back in one, and the thread makes the requests in
// order on the other core. The bookkeeping (leases, records) stays with the worker on the main
// thread: SQLite has one writer, and a second connection on a thread would make pushes wait on
// its lock instead of queueing behind its statements (docs/lifecycle.md).
//
// The thread starts on first use and again after it died: a batch it owed is answered as one
// failed attempt of its first delivery (no answer from the receiver), which the worker retries
// after its backoff with the rest behind it, so order and at-least-once hold (the receiver may
// have had some). A thread that does not answer within a batch's window, a request's timeout and
// a margin is ended and replaced, so no drain waits on it forever.
import { Worker } from "node:worker_threads";
import type { DestinationPolicy } from "./destinations.ts";
import type { AttemptDelivery, AttemptTarget } from "./delivery-request.ts";
import type { SendRequest, TimedResult } from "./send-thread-body.ts";

/** How long past a batch's window and its last request's timeout the thread may take to answer before it counts as stuck. */
const STUCK_MARGIN_MS = 5_000;

/** Compiled (dist/), the body is JavaScript; from the sources (tests, benches), TypeScript. */
const BODY = new URL(import.meta.url.endsWith(".ts") ? "./send-thread-body.ts" : "./send-thread-body.js", import.meta.url);

interface Waiter {
  resolve(results: TimedResult[]): void;
  started: number;
  timer: NodeJS.Timeout;
}

export interface BatchTiming {
  timeoutMs: number;
  /** A batch starts no send after this long past leasedAt (but its first). */
  windowMs: number;
  leasedAt: number;
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

  /**
   * Sends a webhook's batch in order on the thread: an answer per delivery sent, stopping after the
   * first that is not 2xx. Never rejects: a thread that failed answers its first delivery with an error.
   */
  batch(name: string, webhook: AttemptTarget, deliveries: readonly AttemptDelivery[], timing: BatchTiming): Promise<TimedResult[]> {
    if (this.closed) return Promise.resolve([]);
    const worker = this.thread();
    const seq = ++this.seq;
    const limit = timing.windowMs + timing.timeoutMs + STUCK_MARGIN_MS;
    return new Promise<TimedResult[]>((resolve) => {
      const timer = setTimeout(() => {
        // The thread owes an answer long past the batch's last possible deadline: it is stuck.
        // Every batch it holds is answered as failed, and the next one starts a new thread.
        this.fail(worker, new Error(`the delivery thread gave no answer within ${limit} ms`));
        void worker.terminate();
      }, limit);
      // The thread keeps the process alive only while it owes an answer.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(seq, { resolve, started: performance.now(), timer });
      const request: SendRequest = {
        op: "batch",
        seq,
        name,
        url: webhook.url,
        secret: webhook.secret,
        deliveries: deliveries.map((d) => ({ id: d.id, eventId: d.eventId, requestHeaders: d.requestHeaders, body: d.body })),
        ...timing,
      };
      worker.postMessage(request);
    });
  }

  /** Closes a webhook's kept-alive connection (it is gone or disabled). */
  drop(name: string): void {
    this.worker?.postMessage({ op: "drop", name } satisfies SendRequest);
  }

  /** Shutdown: batches start no further send (each answers what it sent). */
  halt(): void {
    this.closed = true;
    this.worker?.postMessage({ op: "halt" } satisfies SendRequest);
  }

  /** Shutdown's grace is over: the requests in flight end now; each batch answers what was sent before them (the rest count as not sent). */
  abort(): void {
    this.closed = true;
    this.worker?.postMessage({ op: "abort" } satisfies SendRequest);
  }

  /** Ends the thread; what it still owed is answered as failed (the worker waits for its drains first, so normally nothing). */
  async close(): Promise<void> {
    this.halt();
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error("the delivery worker is stopping"));
    await worker.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // Small heap limits: the thread holds connections and a batch's bodies per webhook.
    const worker = new Worker(BODY, { workerData: { policy: this.policy }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
    worker.on("message", (answer: { seq: number; results: TimedResult[] }) => {
      const waiter = this.pending.get(answer.seq);
      if (!waiter) return;
      this.pending.delete(answer.seq);
      clearTimeout(waiter.timer);
      if (this.pending.size === 0) worker.unref();
      waiter.resolve(answer.results);
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

  /** The thread is done for: each batch it owed is answered by a failed attempt of its first delivery, and the next batch starts a new thread. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const now = performance.now();
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.resolve([{ status: null, latencyMs: Math.round(now - waiter.started), error: err.message, at: Date.now() }]);
    }
    this.pending.clear();
  }
}

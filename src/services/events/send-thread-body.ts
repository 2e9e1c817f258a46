// The body of the delivery thread (send-thread.ts): sends a webhook's leased batch in order, each
// delivery signed as it goes, over the webhook's kept-alive connection, so neither the HTTP
// exchanges nor the HMACs run on the event loop that serves pushes. It keeps nothing but
// connections: the answers go back to the main thread, which decides and records. Messages:
//   in:  { op: "batch", seq, name, url, secret, deliveries, timeoutMs, windowMs, leasedAt }
//        →  out: { seq, results }: one per delivery sent, in order; the batch stops after the
//        first answer that is not 2xx, and starts no send windowMs after leasedAt (but the first)
//   in:  { op: "drop", name }   (the webhook is gone or disabled: its connection closes)
//   in:  { op: "halt" }         (shutdown: a batch starts no further send)
//   in:  { op: "abort" }        (shutdown's grace is over: the requests in flight end now, and
//        their deliveries are left out of the answers, so they count as not sent and go again
//        after the restart: at least once)
import { setMaxListeners } from "node:events";
import { parentPort, workerData } from "node:worker_threads";
import type { DestinationPolicy } from "./destinations.ts";
import { attempt, WebhookAgents, type AttemptDelivery } from "./delivery-request.ts";
import { delivered, type SendResult } from "./sender.ts";

export interface BatchRequest {
  op: "batch";
  seq: number;
  name: string;
  url: string;
  secret: string;
  deliveries: AttemptDelivery[];
  timeoutMs: number;
  windowMs: number;
  /** Epoch ms the batch was leased at. */
  leasedAt: number;
}
export type SendRequest = BatchRequest | { op: "drop"; name: string } | { op: "halt" } | { op: "abort" };
/** A delivery's answer and when it came (epoch ms), which its retry's wait counts from. */
export type TimedResult = SendResult & { at: number };

const policy = (workerData as { policy: DestinationPolicy }).policy;
const agents = new WebhookAgents();
let halted = false;
const abandon = new AbortController();
// Every request in flight listens to it (one per webhook draining): not a leak past ten.
setMaxListeners(0, abandon.signal);

async function sendBatch(request: BatchRequest): Promise<TimedResult[]> {
  const results: TimedResult[] = [];
  try {
    const agent = agents.get(request.name, request.url);
    for (const delivery of request.deliveries) {
      if (halted || (results.length > 0 && Date.now() - request.leasedAt > request.windowMs)) break;
      // send() never rejects: every outcome, a refused address too, is a result.
      const result = await attempt({ url: request.url, secret: request.secret }, delivery, { timeoutMs: request.timeoutMs, policy, signal: abandon.signal }, agent);
      if (abandon.signal.aborted) break; // cut by shutdown: not an attempt of the receiver's
      results.push({ ...result, at: Date.now() });
      if (!delivered(result)) break;
    }
  } catch (err) {
    // Whatever one batch throws is its next delivery's failed attempt: never the thread's end,
    // which would fail every other webhook's batch in flight with it.
    results.push({ status: null, latencyMs: 0, error: (err as Error).message, at: Date.now() });
  }
  return results;
}

parentPort?.on("message", (request: SendRequest) => {
  if (request.op === "drop") return agents.drop(request.name);
  if (request.op === "halt" || request.op === "abort") {
    halted = true;
    if (request.op === "abort") abandon.abort(new Error("abandoned at shutdown"));
    return;
  }
  void sendBatch(request).then((results) => parentPort!.postMessage({ seq: request.seq, results }));
});

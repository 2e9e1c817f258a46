// The body of the delivery thread (send-thread.ts): signs and sends the worker's requests, each
// webhook over its own kept-alive connection, so neither the HTTP exchange nor the HMAC runs on
// the event loop that serves pushes. It keeps nothing but connections: what a request came to is
// answered to the main thread, which records it. Messages:
//   in:  { op: "send", seq, name, url, secret, delivery, timeoutMs }  →  out: { seq, result }
//   in:  { op: "drop", name }   (the webhook is gone or disabled: its connection closes)
import { parentPort, workerData } from "node:worker_threads";
import type { DestinationPolicy } from "./destinations.ts";
import { attempt, WebhookAgents, type AttemptDelivery } from "./delivery-request.ts";

export type SendRequest =
  | { op: "send"; seq: number; name: string; url: string; secret: string; delivery: AttemptDelivery; timeoutMs: number }
  | { op: "drop"; name: string };

const policy = (workerData as { policy: DestinationPolicy }).policy;
const agents = new WebhookAgents();

parentPort?.on("message", (request: SendRequest) => {
  if (request.op === "drop") return agents.drop(request.name);
  const agent = agents.get(request.name, request.url);
  // send() never rejects: every outcome, a refused address too, is a result.
  void attempt({ url: request.url, secret: request.secret }, request.delivery, { timeoutMs: request.timeoutMs, policy }, agent).then((result) => parentPort!.postMessage({ seq: request.seq, result }));
});

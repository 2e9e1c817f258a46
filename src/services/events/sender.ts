// One webhook request: a POST with a deadline for the whole exchange, connected only to an address
// the destination policy allows (destinations.ts). Never throws: the outcome is recorded.
// Given an agent, the request may go over a kept-alive connection (the worker keeps one per
// webhook): the policy's lookup runs for every new connection, and a reused one goes to an address
// it checked when it was made. A reused connection the receiver had just closed (no answer at all)
// is tried again once on a new one, as browsers do: at-least-once allows it, and it is no failure
// of the receiver.
import { request as httpRequest, type Agent, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { checkUrl, guardedLookup, hostOf, isPublicAddress, type DestinationPolicy } from "./destinations.ts";

export interface SendResult {
  /** The response status; null when none came (refused, timed out, unreachable). */
  status: number | null;
  latencyMs: number;
  error: string | null;
}

/** The one rule for a delivery's success: the receiver answered 2xx (anything else, or no answer, failed). */
export function delivered(result: Pick<SendResult, "status">): boolean {
  return result.status !== null && result.status >= 200 && result.status < 300;
}

/** Enough of a receiver's answer to keep it from stalling; the rest is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface SendOptions {
  timeoutMs: number;
  policy: DestinationPolicy;
  /** Kept-alive connections to reuse; none: a connection of its own, closed after. */
  agent?: Agent;
  /** Ends the request at once (shutdown): the result is a failure whose error is the signal's reason. */
  signal?: AbortSignal;
}

export async function send(target: string, headers: Record<string, string>, body: string, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = checkUrl(target, options.policy);
    // An address literal is not looked up, so the lookup's check never sees it: checked here.
    const host = hostOf(url);
    if (isIP(host) && !options.policy.allowPrivateAddresses && !isPublicAddress(host)) throw new Error(`${host} is a loopback, private or reserved address (webhooks.allowPrivateAddresses is off)`);
  } catch (err) {
    return { status: null, latencyMs: elapsed(), error: (err as Error).message };
  }
  const payload = Buffer.from(body);
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      options.signal?.removeEventListener("abort", aborted);
      resolve(result);
    };
    const requester = url.protocol === "https:" ? httpsRequest : httpRequest;
    const agent = options.agent ?? false;
    let req: ClientRequest | undefined;
    const answered = (res: IncomingMessage) => {
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      const done = () => finish({ status: res.statusCode ?? null, latencyMs: elapsed(), error: null });
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    };
    const start = (retried: boolean) => {
      let attempt: ClientRequest;
      try {
        attempt = requester(url, { method: "POST", headers: { ...headers, "content-length": String(payload.length) }, lookup: guardedLookup(options.policy), agent }, answered);
      } catch (err) {
        // A request Node.js will not even build (a header value it refuses, kept from before
        // webhook-service.ts checked them) is this delivery's failure, never a throw.
        finish({ status: null, latencyMs: elapsed(), error: (err as Error).message });
        return;
      }
      req = attempt;
      attempt.on("error", (err: NodeJS.ErrnoException) => {
        if (!retried && !settled && attempt.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE")) return start(true);
        finish({ status: null, latencyMs: elapsed(), error: err.message });
      });
      attempt.end(payload);
    };
    const deadline = setTimeout(() => {
      req?.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const aborted = () => {
      const reason = options.signal?.reason instanceof Error ? options.signal.reason : new Error("the request was abandoned");
      finish({ status: null, latencyMs: elapsed(), error: reason.message });
      req?.destroy(reason);
    };
    if (options.signal?.aborted) return aborted();
    options.signal?.addEventListener("abort", aborted, { once: true });
    start(false);
  });
}

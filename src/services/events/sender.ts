// One webhook request: a POST with a deadline for the whole exchange, connected only to an address
// the destination policy allows (destinations.ts). Never throws: the outcome is recorded.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { checkUrl, guardedLookup, hostOf, isPublicAddress, type DestinationPolicy } from "./destinations.ts";

export interface SendResult {
  /** The response status; null when none came (refused, timed out, unreachable). */
  status: number | null;
  latencyMs: number;
  error: string | null;
}

/** Enough of a receiver's answer to keep it from stalling; the rest is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export async function send(target: string, headers: Record<string, string>, body: string, options: { timeoutMs: number; policy: DestinationPolicy }): Promise<SendResult> {
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
      resolve(result);
    };
    const requester = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = requester(url, { method: "POST", headers: { ...headers, "content-length": String(payload.length) }, lookup: guardedLookup(options.policy) }, (res: IncomingMessage) => {
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      const done = () => finish({ status: res.statusCode ?? null, latencyMs: elapsed(), error: null });
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    });
    const deadline = setTimeout(() => {
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on("error", (err) => finish({ status: null, latencyMs: elapsed(), error: err.message }));
    req.end(payload);
  });
}

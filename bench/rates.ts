// Request rates for small operations, driven by autocannon from this process: HEAD of a blob and
// GET of a manifest, each over many keep-alive connections for a fixed time.
import autocannon from "autocannon";
import type { Target } from "./registry-client.ts";

export interface Rate {
  /** Successful (2xx) requests per second. */
  perSecond: number;
  requests: number;
  seconds: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/**
 * autocannon 8 parses responses with http-parser-js and never tells it that a HEAD response has no
 * body, so a HEAD answered with a non-zero Content-Length (as the spec requires for blobs) waits for
 * bytes that never come. Its setupClient hook runs before the client installs its parser callbacks,
 * so this wraps the headers-complete callback as it is set and answers "skip the body".
 */
function headResponsesHaveNoBody(client: { parser: object }): void {
  const kOnHeadersComplete = 2; // http-parser-js: HTTPParser.kOnHeadersComplete
  let wrapped: ((...args: unknown[]) => unknown) | undefined;
  Object.defineProperty(client.parser, kOnHeadersComplete, {
    configurable: true,
    get: () => wrapped,
    set: (handler: (...args: unknown[]) => unknown) => {
      wrapped = (...args: unknown[]) => {
        handler(...args);
        return 1;
      };
    },
  });
}

export async function measureRate(
  target: Target,
  method: "GET" | "HEAD",
  path: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
): Promise<Rate> {
  const run = autocannon({
    url: new URL(path, target.url).href,
    method,
    headers: { ...target.headers, ...headers },
    connections,
    duration: seconds,
    timeout: 10,
    ...(method === "HEAD" ? { setupClient: headResponsesHaveNoBody } : {}),
  });
  // autocannon stops itself after `duration`; this is the bound if it does not.
  const guard = setTimeout(() => run.stop(), (seconds + 30) * 1000);
  try {
    const result = await run;
    const ok = result["2xx"];
    return {
      perSecond: ok / result.duration,
      requests: ok,
      seconds: result.duration,
      non2xx: result.non2xx,
      errors: result.errors,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
    };
  } finally {
    clearTimeout(guard);
  }
}

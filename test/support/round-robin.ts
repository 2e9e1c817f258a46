// A load balancer in front of several Berth instances, as users deploy them: each request goes
// to the next instance in turn (or where `route` sends it), bodies streamed both ways, the Host
// header kept so every instance builds the same URLs (upload Locations, token realms) for the
// balancer's address. No retries: a request to a dead instance gets 502, as from a real proxy.
import { request as httpRequest, createServer, Agent, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface RoundRobin {
  /** host:port, as clients name the registry */
  host: string;
  url: string;
  /** Requests sent to each target, in the order of `targets`. */
  counts: number[];
  /** Sends the next requests for which it returns a number to that target; null: round-robin. */
  route: ((request: IncomingMessage) => number | null) | null;
  close(): Promise<void>;
}

/**
 * The answer's headers without the hop-by-hop ones, as a proxy sends them (RFC 9110 7.6.1): the
 * instance's `Keep-Alive: timeout=65` passed on told the client the balancer keeps an idle
 * connection 65 s, while it closes it after its own 5 s, so a request sent as it closed failed with
 * ECONNRESET (a landing CI's kill -9 test). The balancer's server states its own.
 */
export function endToEnd(raw: string[]): string[] {
  const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"]);
  const kept: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!hopByHop.has(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
  return kept;
}

export async function startRoundRobin(targets: string[]): Promise<RoundRobin> {
  const agent = new Agent({ keepAlive: true });
  let next = 0;
  const balancer: RoundRobin = { host: "", url: "", counts: targets.map(() => 0), route: null, close: async () => {} };
  const server = createServer((req, res) => {
    const chosen = balancer.route?.(req) ?? next++ % targets.length;
    balancer.counts[chosen]!++;
    const target = new URL(targets[chosen]!);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.rawHeaders));
        answer.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`round-robin: ${targets[chosen]}: ${error.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  balancer.host = `127.0.0.1:${port}`;
  balancer.url = `http://${balancer.host}`;
  balancer.close = () =>
    new Promise<void>((ok) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => ok());
    });
  return balancer;
}

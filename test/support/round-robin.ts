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
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
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

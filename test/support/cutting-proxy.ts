// A proxy in front of an object store that cuts (resets) the connection of every request the test
// picks while armed, as a network that breaks mid-request; everything else is forwarded as is,
// the Host header included (S3 signs it), like stalling-proxy.ts.
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { endToEnd } from "./round-robin.ts";

export interface CuttingProxy {
  url: string;
  /** Cuts every request it accepts while set; null: all go through. */
  cutting: ((request: IncomingMessage) => boolean) | null;
  /** The requests cut so far: method and path. */
  cut: string[];
  close(): Promise<void>;
}

export async function startCuttingProxy(target: string): Promise<CuttingProxy> {
  const to = new URL(target);
  const proxy: CuttingProxy = { url: "", cutting: null, cut: [], close: async () => undefined };
  const server = createServer((req, res) => {
    if (proxy.cutting?.(req)) {
      proxy.cut.push(`${req.method} ${req.url}`);
      req.socket.resetAndDestroy();
      return;
    }
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.rawHeaders));
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return proxy;
}

// A proxy in front of an object store that holds back the requests a test picks, so a crash test
// can kill Berth at an exact step of a multi-request operation (a publish is a copy, then the
// delete of the upload: held at the delete, Berth is killed with the copy done and its
// transaction not committed). Everything else is forwarded as is, the Host header included (S3
// signs it; Azure's shared key signs the path, which is kept too).
import { request as httpRequest, createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface StallingProxy {
  url: string;
  /**
   * Holds the next request `match` accepts; resolves with its method and path once it is held.
   * `done`: the store carries it out first and only its answer is held (Berth never learns it
   * happened); else it never reaches the store.
   */
  holdNext(match: (request: IncomingMessage) => boolean, options?: { done?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export async function startStallingProxy(target: string): Promise<StallingProxy> {
  const to = new URL(target);
  let armed: { match: (request: IncomingMessage) => boolean; held: (what: string) => void; done: boolean } | null = null;
  const server = createServer((req, res) => {
    const hold = armed?.match(req) ? armed : null;
    if (hold) armed = null;
    if (hold && !hold.done) {
      // Never forwarded: the request dies with the client that sent it.
      hold.held(`${req.method} ${req.url}`);
      return;
    }
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (hold) {
        answer.resume(); // done in the store; the answer never reaches Berth
        answer.once("end", () => hold.held(`${req.method} ${req.url} → ${answer.statusCode}`));
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdNext: (match, options = {}) => new Promise<string>((held) => (armed = { match, held, done: options.done ?? false })),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

// A proxy in front of an object store that holds back the requests a test picks, so a crash test
// can kill Berth at an exact step of a multi-request operation (a publish is a copy, then the
// delete of the upload: held at the delete, Berth is killed with the copy done and its
// transaction not committed). Everything else is forwarded as is, the Host header included (S3
// signs it; Azure's shared key signs the path, which is kept too).
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { endToEnd } from "./round-robin.ts";

export interface StallingProxy {
  url: string;
  /**
   * Holds the next request `match` accepts; resolves with its method and path once it is held.
   * `done`: the store carries it out first and only its answer is held (Berth never learns it
   * happened); else it never reaches the store.
   */
  holdNext(match: (request: IncomingMessage) => boolean, options?: { done?: boolean }): Promise<string>;
  /**
   * Holds the next request `match` accepts before it reaches the store; resolves once it is held
   * with `go`, which forwards it then (Berth gets the store's answer as usual): a window between
   * two steps of Berth's, open for as long as the test needs. `done`: the store carries it out at
   * once and its answer is what waits for `go`.
   */
  pauseNext(match: (request: IncomingMessage) => boolean, options?: { done?: boolean }): Promise<{ what: string; go: () => void }>;
  /** Every request that reached the proxy so far, as "METHOD path?query" (what Berth asked of the store). */
  readonly seen: string[];
  close(): Promise<void>;
}

export async function startStallingProxy(target: string): Promise<StallingProxy> {
  const to = new URL(target);
  let armed: { match: (request: IncomingMessage) => boolean; held: (what: string) => void; done: boolean } | null = null;
  let paused: { match: (request: IncomingMessage) => boolean; held: (what: string, go: () => void) => void; done: boolean } | null = null;
  const forward = (req: IncomingMessage, res: ServerResponse, answered?: (what: string, go: () => void) => void) => {
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const reply = () => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.rawHeaders));
        answer.pipe(res);
      };
      if (!answered) return reply();
      answer.pause();
      answered(`${req.method} ${req.url} → ${answer.statusCode}`, reply);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (paused?.match(req)) {
      const pause = paused;
      paused = null;
      if (pause.done) return forward(req, res, pause.held);
      req.pause();
      pause.held(`${req.method} ${req.url}`, () => forward(req, res));
      return;
    }
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
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.rawHeaders));
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdNext: (match, options = {}) => new Promise<string>((held) => (armed = { match, held, done: options.done ?? false })),
    pauseNext: (match, options = {}) => new Promise((held) => (paused = { match, held: (what, go) => held({ what, go }), done: options.done ?? false })),
    seen,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

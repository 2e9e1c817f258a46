// A real HTTP receiver for webhook tests: records every request (headers, body, when), answers
// with what the test sets (a status, or no answer at all to hang), and can stop and start again on
// the same port (a receiver that is down, then back).
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "../../src/services/events/signature.ts";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body's bytes as received (what the signature covers). */
  raw: Buffer;
  at: number;
}

export type Answer = number | "hang";

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** What the next requests are answered with (per path, else `answer`). */
  answer: Answer = 204;
  /** TCP connections accepted so far (kept-alive connections count once). */
  connections = 0;
  private server: Server | null = null;
  private port = 0;
  private readonly hanging: ServerResponse[] = [];

  /** Requests received whole and held unanswered ("hang"): on the wire, not just connected. */
  get held(): number {
    return this.hanging.length;
  }
  private waiters: { count: number; resolve: () => void }[] = [];

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const answer = this.answer;
        if (answer === "hang") {
          this.hanging.push(res);
          return;
        }
        const raw = Buffer.concat(chunks);
        this.received.push({ path: req.url ?? "/", headers: req.headers, body: raw.toString(), raw, at: Date.now() });
        res.writeHead(answer).end();
        this.waiters = this.waiters.filter((w) => (this.received.length >= w.count ? (w.resolve(), false) : true));
      });
    });
    server.on("connection", () => this.connections++);
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `count` requests were answered (recorded); rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 60_000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the receiver got ${this.received.length} of ${count} deliveries within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** The deliveries to one path (one webhook each in the tests), parsed. */
  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
}

/** Checks Berth-Signature against the secret, as a receiver would. */
export function signedBy(secret: string, r: Received): boolean {
  const timestamp = Number(r.headers["berth-timestamp"]);
  return Number.isInteger(timestamp) && verifySignature(secret, timestamp, r.body, String(r.headers["berth-signature"] ?? ""));
}

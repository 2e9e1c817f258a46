// The benchmark's registry client: the OCI distribution-spec push and pull flows over node:http,
// with streaming bodies and nothing copied per chunk, so the client is never what is measured.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { once } from "node:events";
import { connect } from "node:net";
import type { Blob } from "./blob.ts";

/** A registry under test: where it listens and what every request must carry. */
export interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** The server process, for RSS samples. */
  pid: number;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, up to 64 KiB (registry answers to pushes are small). */
  body: Buffer;
  /** performance.now() when the last body byte was handed to the socket, and when the answer came. */
  bodySentAt: number;
  answeredAt: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const requestTimeoutMs = 300_000;
const bodyKept = 64 * 1024;

interface RequestOptions {
  headers?: Record<string, string>;
  /** The body, as buffers written in order; with `length` its total size. */
  body?: Iterable<Buffer>;
  length?: number;
  /** Called with each response chunk instead of keeping the body. */
  onData?: (chunk: Buffer) => void;
}

/** One request against the target; only 127.0.0.1 is ever contacted. */
export async function send(target: Target, method: string, pathOrUrl: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(pathOrUrl, target.url);
  if (url.hostname !== "127.0.0.1") throw new Error(`refusing a request off the loopback: ${url.href}`);
  const headers: Record<string, string> = { ...target.headers, ...options.headers };
  if (options.body) headers["content-length"] = String(options.length ?? 0);
  const req = httpRequest(url, { method, headers, agent });
  const aborted = new AbortController();
  req.setTimeout(requestTimeoutMs, () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
  req.once("close", () => aborted.abort());
  const response = new Promise<IncomingMessage>((ok, fail) => {
    req.once("response", ok);
    req.once("error", fail);
  });
  // Keep an early failure from becoming an unhandled rejection while the body is still written.
  response.catch(() => undefined);
  if (options.body) {
    try {
      for (const chunk of options.body) {
        if (!req.write(chunk)) await once(req, "drain", { signal: aborted.signal });
      }
    } catch (error) {
      // The server answered (and closed) before taking the whole body: report its answer.
      if (!aborted.signal.aborted) throw error;
    }
  }
  req.end();
  const bodySentAt = performance.now();
  const res = await response;
  const answeredAt = performance.now();
  const kept: Buffer[] = [];
  let keptBytes = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (options.onData) options.onData(chunk);
    else if (keptBytes < bodyKept) {
      kept.push(chunk);
      keptBytes += chunk.length;
    }
  }
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(kept), bodySentAt, answeredAt };
}

function expect(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.toString("utf8").slice(0, 500)}`);
  }
  return reply;
}

function location(reply: Reply, what: string): string {
  const value = reply.headers.location;
  if (!value) throw new Error(`${what}: no Location header`);
  return value;
}

function withDigest(upload: string, digest: string): string {
  return `${upload}${upload.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
}

async function startUpload(target: Target, repo: string): Promise<string> {
  const started = expect(await send(target, "POST", `/v2/${repo}/blobs/uploads/`, { body: [], length: 0 }), 202, "POST upload");
  return location(started, "POST upload");
}

/**
 * POST, then one PUT carrying the whole blob. Returns how long the server took to answer after the
 * last byte was sent (its commit: final writes, fsync, metadata), in seconds.
 */
export async function pushMonolithic(target: Target, repo: string, blob: Blob): Promise<number> {
  const upload = await startUpload(target, repo);
  const put = await send(target, "PUT", withDigest(upload, blob.digest), {
    headers: { "content-type": "application/octet-stream" },
    body: blob.chunks(),
    length: blob.size,
  });
  expect(put, 201, "PUT monolithic");
  return (put.answeredAt - put.bodySentAt) / 1000;
}

/** POST, PATCHes of `chunkSize` with Content-Range, then an empty PUT with the digest. */
export async function pushChunked(target: Target, repo: string, blob: Blob, chunkSize: number): Promise<void> {
  let upload = await startUpload(target, repo);
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(start + chunkSize, blob.size);
    const patch = await send(target, "PATCH", upload, {
      headers: { "content-type": "application/octet-stream", "content-range": `${start}-${end - 1}` },
      body: blob.chunks(start, end),
      length: end - start,
    });
    upload = location(expect(patch, 202, `PATCH ${start}-${end - 1}`), "PATCH");
  }
  expect(await send(target, "PUT", withDigest(upload, blob.digest), { body: [], length: 0 }), 201, "PUT chunked");
}

/**
 * GET the blob, counting the bytes; returns how many arrived.
 *
 * Not node:http, on purpose: on this kind of machine its response path delivers about 700 MiB/s
 * (a new 64 KiB Buffer and a JS callback per read), below what the servers send, so it would
 * measure itself. A raw socket reading into one reused 4 MiB buffer (`onread`) takes 2+ GiB/s.
 * The price is this small HTTP/1.1 reader: status line and headers only, the body must carry a
 * Content-Length (distribution-spec requires it on a blob GET), and the connection is closed after.
 */
export async function pull(target: Target, repo: string, digest: string): Promise<number> {
  const answer = await getBlob(new URL(`/v2/${repo}/blobs/${digest}`, target.url), target.headers);
  if (typeof answer === "number") return answer;
  // A redirect to the object store (a presigned or SAS URL): the client goes there without the
  // registry's credentials, as docker and containerd do; the time includes both requests.
  const moved = await getBlob(answer, {});
  if (typeof moved !== "number") throw new Error(`GET blob: redirected twice (${moved.href})`);
  return moved;
}

/** GETs a blob and counts its bytes, or returns where a redirect points. */
function getBlob(url: URL, headers: Record<string, string>): Promise<number | URL> {
  if (url.hostname !== "127.0.0.1") throw new Error(`refusing a request off the loopback: ${url.href}`);
  const headerLines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${headerLines}Connection: close\r\n\r\n`;
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  return new Promise<number | URL>((ok, fail) => {
    let head: Buffer | null = Buffer.alloc(0);
    let expected = -1;
    let received = 0;
    let settled = false;
    const finish = (error: Error | null, redirect?: URL) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) fail(error);
      else ok(redirect ?? received);
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: {
        buffer,
        callback: (length: number, chunk: Uint8Array): boolean => {
          if (head !== null) {
            head = Buffer.concat([head, chunk.subarray(0, length)]);
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) {
              if (head.length > 64 * 1024) finish(new Error("GET blob: response headers over 64 KiB"));
              return true;
            }
            const text = head.subarray(0, end).toString("latin1");
            const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
            const contentLength = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
            const location = /\r\nlocation:\s*(\S+)/i.exec(text)?.[1];
            if ((status === 302 || status === 307) && location) {
              finish(null, new URL(location, url));
              return true;
            }
            if (status !== 200) {
              finish(new Error(`GET blob: expected 200, got ${status}: ${head.subarray(0, 2000).toString("utf8")}`));
              return true;
            }
            if (contentLength === undefined) {
              finish(new Error(`GET blob: no Content-Length (the benchmark's fast reader needs one): ${text}`));
              return true;
            }
            expected = Number(contentLength);
            received = head.length - end - 4;
            head = null;
          } else {
            received += length;
          }
          if (received > expected) finish(new Error(`GET blob: ${received} bytes, more than Content-Length ${expected}`));
          else if (received === expected) finish(null);
          return true;
        },
      },
    });
    socket.setTimeout(requestTimeoutMs, () => finish(new Error("GET blob timed out")));
    socket.once("connect", () => socket.write(request));
    socket.once("error", (error) => finish(error));
    socket.once("close", () => finish(new Error(`GET blob: connection closed after ${received} of ${expected} bytes`)));
  });
}

export async function putManifest(target: Target, repo: string, reference: string, mediaType: string, body: Buffer): Promise<void> {
  const put = await send(target, "PUT", `/v2/${repo}/manifests/${reference}`, {
    headers: { "content-type": mediaType },
    body: [body],
    length: body.length,
  });
  expect(put, 201, "PUT manifest");
}

export function closeConnections(): void {
  agent.destroy();
}

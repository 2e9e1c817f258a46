// A blob GET from S3 read into a few reused buffers. Node's HTTP client (under the AWS SDK; fetch
// alike) hands over each 64 KiB socket read as fresh memory and a stream event. On versitygw, in
// Berth, a streamed pull through the SDK's GetObject body cost 0.8 CPU-seconds per GiB in a fresh
// process but 6.8 after a few chunked pushes had grown the heap (each of those small buffers then
// costs the garbage collector more), and read at 62 MiB/s against 165 through this reader, which
// stays at 0.9 either way (docs/performance.md, "The S3 driver's CPU"). Parallel ranged GETs, a
// tuned agent and fetch were measured too and lost. So a large read sends a GET signed by the
// SDK's presigner (no network) over a socket of its own with `onread`, and writeTo() hands each
// filled buffer to the response, reusing it only after the response's socket took it (as
// file-body.ts does for files). One connection per read: for reads of 1 MiB and more only.
//
// Only the plain answer is read here: a 200 or 206 with a Content-Length and no other framing.
// Anything else (an error, a redirect, a chunked body) is handed back as null, and the driver asks
// again through the SDK, which reads S3's errors (NoSuchKey becomes ENOENT there, once).
import { connect as connectTcp, isIP, type OnReadOpts, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import { Readable, type Writable } from "node:stream";
import type { ByteRange } from "../blob-driver.ts";

const READ_BYTES = 1024 * 1024;
/** Buffers per body: one being read into, the others queued on the response's socket. */
const BUFFERS = 4;
/** Sets of buffers kept for the next pulls. */
const IDLE_SETS = 4;
const idle: Buffer[][] = [];
/** A response head longer than this is not S3's. */
const MAX_HEAD = 64 * 1024;
/** A store that sends nothing for this long fails the read (the SDK's own requests have no such limit). */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * GETs `url` (a presigned GetObject URL) with `range`; the body, or null when the store answered
 * anything but a plain 200/206 with a Content-Length (the caller asks again the usual way).
 */
export async function openS3Body(url: URL, range?: ByteRange, ca?: Buffer): Promise<S3Body | null> {
  const body = new S3Body(url, range, ca);
  return (await body.head) ? body : null;
}

export class S3Body extends Readable {
  /** Whether the answer is one this reader serves (false: the socket is closed again). */
  readonly head: Promise<boolean>;
  /** Bytes of the body (from the Content-Length) once the head is read. */
  length = -1;
  private readonly socket: Socket;
  private readonly buffers: Buffer[];
  /** Buffers not in use: not being read into, not queued on the response. */
  private readonly free: Buffer[];
  private received = 0;
  /** What arrived with the head, copied (the buffer it came in is read into again). */
  private early: Buffer | null = null;
  private headBytes: Buffer | null = Buffer.alloc(0);
  /** Where the body's reads go once the head is read: writeTo()'s or _read()'s. */
  private sink: ((bytes: Buffer, buffer: Buffer) => boolean) | null = null;
  private ended = false;
  /** writeTo()'s way to fail; before any reader started, a failure waits in `error`. */
  private failed: ((error: Error) => void) | null = null;
  private error: Error | null = null;
  /** Bytes asked for (a range), to check the answer against; null: the whole object. */
  private readonly expectedLength: number | null;

  /** `ca`: the CAs an https store's certificate is checked against, as the SDK's agent is given them (else Node's trusted ones). */
  constructor(url: URL, range?: ByteRange, ca?: Buffer) {
    super({ highWaterMark: READ_BYTES });
    this.expectedLength = range ? range.end - range.start + 1 : null;
    this.buffers = idle.pop() ?? Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(READ_BYTES));
    this.free = [...this.buffers];
    let settle: (served: boolean) => void = () => {};
    let refuse: (error: Error) => void = () => {};
    this.head = new Promise<boolean>((ok, fail) => {
      settle = ok;
      refuse = fail;
    });
    const secure = url.protocol === "https:";
    const port = Number(url.port || (secure ? 443 : 80));
    // The next read's buffer: always a free one (writeTo() stops reading before none is left).
    const onread: OnReadOpts = { buffer: () => this.free.pop()!, callback: (n, buffer) => this.onRead(n, buffer as Buffer, settle) };
    // tls.connect takes `onread` as net.connect does (Node's types omit it).
    this.socket = secure ? connectTls({ host: url.hostname, port, servername: isIP(url.hostname) ? undefined : url.hostname, ca, onread } as ConnectionOptions) : connectTcp({ host: url.hostname, port, onread });
    const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${range ? `Range: bytes=${range.start}-${range.end}\r\n` : ""}Connection: close\r\n\r\n`;
    this.socket.once(secure ? "secureConnect" : "connect", () => this.socket.write(request));
    // With the codes of a broken connection: the store's failure, which the client may retry (http/errors.ts).
    this.socket.on("timeout", () => this.socket.destroy(Object.assign(new Error("the object store sent nothing for 60 s"), { code: "ETIMEDOUT" })));
    this.reading(true);
    this.socket.on("error", (error) => {
      refuse(error);
      this.fail(error);
    });
    this.socket.once("close", () => {
      if (this.headBytes !== null) settle(false);
      else if (!this.ended) this.fail(Object.assign(new Error(`the object store closed the connection after ${this.received} of ${this.length} bytes`), { code: "ECONNRESET" }));
    });
  }

  /** Reads the socket on or off; the store's silence counts only while reading (a slow client pauses it). */
  private reading(on: boolean): void {
    this.socket.setTimeout(on ? IDLE_TIMEOUT_MS : 0);
    if (on) this.socket.resume();
  }

  /** One read of the socket into `buffer`; false stops reading until resume(). */
  private onRead(n: number, buffer: Buffer, settle: (served: boolean) => void): boolean {
    if (this.headBytes === null) {
      this.received += n;
      if (this.received > this.length) {
        this.free.push(buffer);
        this.fail(new Error("the object store sent more bytes than its Content-Length"));
        return false;
      }
      if (this.received === this.length) this.ended = true;
      return this.sink!(buffer.subarray(0, n), buffer);
    }
    this.headBytes = Buffer.concat([this.headBytes, buffer.subarray(0, n)]);
    this.free.push(buffer);
    const end = this.headBytes.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.headBytes.length > MAX_HEAD) this.socket.destroy();
      return true;
    }
    const length = this.plainLength(this.headBytes.subarray(0, end).toString("latin1"));
    if (length === null) {
      this.socket.destroy();
      return false;
    }
    this.length = length;
    this.early = this.headBytes.subarray(end + 4);
    this.received = this.early.length;
    this.headBytes = null;
    if (this.received > length) {
      this.socket.destroy();
      settle(false);
      return false;
    }
    if (this.received === length) this.ended = true;
    settle(true);
    return false; // until the body is read one way or the other
  }

  /** The body's length when the head is a plain 200/206 for what was asked, else null. */
  private plainLength(head: string): number | null {
    const [status, ...lines] = head.split("\r\n");
    const code = /^HTTP\/1\.[01] (\d{3})/.exec(status ?? "")?.[1];
    if (code !== (this.expectedLength === null ? "200" : "206")) return null;
    let length: number | null = null;
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "transfer-encoding") return null;
      if (name === "content-length") {
        if (!/^\d+$/.test(value) || length !== null) return null;
        length = Number(value);
      }
    }
    if (length === null || (this.expectedLength !== null && length !== this.expectedLength)) return null;
    return length;
  }

  private fail(error: Error): void {
    if (this.failed) this.failed(error);
    else if (this.sink) this.destroy(error);
    else this.error ??= error;
  }

  override _read(): void {
    if (this.error) return void this.destroy(this.error);
    if (this.early !== null) {
      const early = this.early;
      this.early = null;
      if (early.length > 0 && !this.push(early)) return;
    }
    if (this.ended) {
      this.push(null);
      this.socket.destroy();
      return;
    }
    // A stream reader gets copies: the buffer is read into again at once.
    this.sink ??= (bytes, buffer) => {
      const more = this.push(Buffer.from(bytes));
      this.free.push(buffer);
      if (this.ended) {
        this.push(null);
        this.socket.destroy();
        return false;
      }
      return more;
    };
    this.reading(true);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }

  /** Writes the body to `out` and ends it; rejects if `out` closes first or the store fails. */
  async writeTo(out: Writable): Promise<void> {
    /** Writes still queued on `out`. */
    let queued = 0;
    let paused = true;
    let finish: () => void = () => {};
    const done = new Promise<void>((ok, fail) => {
      finish = ok;
      this.failed = fail;
    });
    done.catch(() => undefined);
    const onClose = () => this.failed?.(new Error("the client went away"));
    out.once("close", onClose);
    const settleIfDone = () => {
      if (this.ended && queued === 0) finish();
    };
    const write = (bytes: Buffer, buffer: Buffer | null) => {
      queued++;
      out.write(bytes, (error) => {
        queued--;
        if (error) return this.failed?.(error);
        if (buffer) this.free.push(buffer);
        // Reading stops while fewer than two buffers are free: the one the socket reads into next
        // must never be one the response still holds.
        if (paused && !this.ended && this.free.length >= 1) {
          paused = false;
          this.reading(true);
        }
        settleIfDone();
      });
    };
    this.sink = (bytes, buffer) => {
      write(bytes, buffer);
      if (this.ended) {
        settleIfDone();
        return false;
      }
      paused = this.free.length < 2;
      if (paused) this.reading(false);
      return !paused;
    };
    try {
      if (this.error) throw this.error;
      if (this.early && this.early.length > 0) write(this.early, null);
      this.early = null;
      if (this.ended) settleIfDone();
      else {
        paused = false;
        this.reading(true);
      }
      await done;
      out.end();
      if (idle.length < IDLE_SETS) idle.push(this.buffers);
    } catch (error) {
      // Writes may still hold the buffers: they are left to the garbage collector.
      out.destroy();
      throw error;
    } finally {
      out.off("close", onClose);
      this.destroy();
    }
  }
}

// Request bodies under /v2 arrive as raw streams (the OCI scope's catch-all parser leaves them
// unread). Blobs flow through untouched; a manifest is the one body read whole, and bounded.
import type { FastifyRequest } from "fastify";
import { IncomingMessage } from "node:http";
import { finished, type Readable } from "node:stream";
import { RegistryError } from "../domain/errors.ts";

/**
 * The client's body broke off: its connection reset or closed before the last byte. The
 * client's fault (400), unlike the same codes from a connection Berth opened itself (to the
 * object store: a 503, errors.ts). So each reader of a request body turns its stream's failure
 * into this where it happens, and nothing downstream has to guess whose connection it was.
 */
export function bodyEnded(cause: unknown): RegistryError {
  return Object.assign(new RegistryError("BLOB_UPLOAD_INVALID", "the request body ended before it was complete"), { cause });
}

/** The client closed its connection before its body was whole (what aborts requestSignal). */
export function clientLeft(request: FastifyRequest): boolean {
  return request.raw.destroyed && !request.raw.complete;
}

/** The request body as an iterable whose failure is bodyEnded (for a consumer that keeps the chunks). */
export async function* requestBody(request: FastifyRequest): AsyncIterable<Uint8Array> {
  try {
    yield* request.raw as AsyncIterable<Buffer>;
  } catch (err) {
    throw bodyEnded(err);
  }
}

export function declaredLength(request: FastifyRequest): number | undefined {
  const header = request.headers["content-length"];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Whether the request carries body bytes (a length above zero, or chunked encoding). */
export function hasBody(request: FastifyRequest): boolean {
  const length = declaredLength(request);
  if (length !== undefined) return length > 0;
  return request.headers["transfer-encoding"] !== undefined;
}

/** Content-Range of an upload chunk: `start-end`, inclusive (a `bytes ` prefix is tolerated). */
export function parseChunkRange(request: FastifyRequest): { start: number; end: number } | undefined {
  const header = request.headers["content-range"];
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(String(header).trim());
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RegistryError("RANGE_INVALID", "Content-Range must be <start>-<end>, inclusive", { contentRange: String(header).slice(0, 100) });
  }
  const length = declaredLength(request);
  if (length !== undefined && length !== end - start + 1) {
    throw new RegistryError("SIZE_INVALID", "Content-Length does not match Content-Range", { contentRange: header, contentLength: length });
  }
  return { start, end };
}

/**
 * Reads a body of at most `max` bytes; 413 as soon as it is known to be larger, without keeping
 * the rest. The rest is read and thrown away rather than the socket destroyed: a client still
 * sending (a chunked body has no length to refuse up front) reads the answer only once its
 * write ends or fails, and a destroyed socket with unread bytes answers RST, which discards the
 * 413 before the client sees it (a "broken pipe"). Node's server drains an unread body after the
 * answer; the timer only bounds how long a client may keep sending after that.
 */
export async function readBounded(request: FastifyRequest, max: number): Promise<Buffer> {
  const tooLarge = () => {
    discardRest(request.raw);
    return new RegistryError("MANIFEST_TOO_LARGE", `manifest is larger than ${max} bytes`, { limit: max });
  };
  const length = declaredLength(request);
  if (length !== undefined && length > max) throw tooLarge();
  // 'data' events, not for-await: leaving that loop early destroys the stream, and the socket.
  const raw = request.raw;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      raw.off("data", onData);
      stop();
      chunks.length = 0;
      reject(tooLarge());
    };
    const stop = finished(raw, (error) => {
      raw.off("data", onData);
      if (error) reject(bodyEnded(error));
      else resolve(Buffer.concat(chunks, size));
    });
    raw.on("data", onData);
  });
}

/** What `take` returns: a promise while it still needs the chunk, else nothing. */
type Take = (chunk: Uint8Array) => Promise<void> | undefined;

/** A body to iterate, or to hand over chunk by chunk (the shape of the blob store's ChunkSource). */
interface ConsumedBody extends AsyncIterable<Uint8Array> {
  eachChunk(take: Take): Promise<void>;
}

/**
 * A request body for a consumer that is done with each chunk when it asks for the next (the blob
 * store copies every chunk into its write slots). Each chunk's memory is released as soon as the
 * consumer is done with it, instead of when the garbage collector gets to it: node:http hands a
 * body over in fresh 64 KiB buffers, and left to the collector they piled up to hundreds of MB of
 * external memory per GiB pushed and forced a full collection every ~40 MB (docs/performance.md).
 *
 * Besides iteration it offers `eachChunk` (the blob store's ChunkSource): chunks from 'data'
 * events, the request paused only while the consumer waits, so there is no await per chunk.
 */
export function consumedBody(request: FastifyRequest): ConsumedBody {
  const raw = request.raw;
  // Only node:http's own chunks are released: they are fresh copies nobody else holds. A body
  // from anywhere else (Fastify's inject() in tests hands over the caller's buffers) is left alone.
  const fromParser = raw instanceof IncomingMessage;
  return {
    async *[Symbol.asyncIterator]() {
      let ended = false;
      try {
        for await (const chunk of raw.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
          yield chunk;
          if (fromParser) release(chunk);
        }
        ended = true;
      } catch (err) {
        throw bodyEnded(err);
      } finally {
        if (!ended) discardRest(raw);
      }
    },
    eachChunk: (take) => eachChunk(raw, take, fromParser),
  };
}

/** Feeds `take` from the stream's 'data' events, pausing the stream while a promise `take` returned is pending. */
function eachChunk(stream: Readable, take: Take, releaseChunks: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let waiting = false;
    let ended = false;
    const stop = (): boolean => {
      if (settled) return false;
      settled = true;
      stream.off("data", onData);
      stopWatching();
      return true;
    };
    const succeed = () => {
      if (stop()) resolve();
    };
    const fail = (error: unknown) => {
      if (!stop()) return;
      discardRest(stream);
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      let wait: Promise<void> | undefined;
      try {
        wait = take(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      if (!wait) {
        if (releaseChunks) release(chunk);
        return;
      }
      waiting = true;
      stream.pause();
      wait.then(
        () => {
          waiting = false;
          if (releaseChunks) release(chunk);
          if (ended) succeed();
          else if (!settled) stream.resume();
        },
        fail,
      );
    };
    const stopWatching = finished(stream, (error) => {
      if (error) return fail(bodyEnded(error));
      ended = true;
      if (!waiting) succeed();
    });
    stream.on("data", onData);
  });
}

/**
 * How long a client may go on sending a body nobody reads before its connection is closed:
 * long enough for a 64 MiB manifest or the rest of a layer on a LAN to arrive and the answer to
 * be read, short enough that nobody makes Berth read a huge body for nothing.
 */
const DISCARD_MS = 10_000;

/**
 * When a body is abandoned midway (a manifest over the limit, the disk filled during a push, a
 * chunk was refused), the rest
 * is read and dropped instead of the connection being reset: the client then gets the answer
 * (507, 400…) and not a broken pipe, since a reset would also throw away the answer unread in
 * its socket. Dropping goes on at most DISCARD_MS, so a client cannot make Berth read a huge
 * body for nothing; by then it has read the answer, and the connection is closed.
 */
export function discardRest(stream: Readable): void {
  if (stream.readableEnded || stream.destroyed) return;
  stream.resume();
  if (!(stream instanceof IncomingMessage)) return;
  const socket = stream.socket;
  const timer = setTimeout(() => {
    if (!stream.complete) socket.destroy();
  }, DISCARD_MS);
  timer.unref();
  stream.once("end", () => clearTimeout(timer));
}

/** Frees a buffer's memory now, when the buffer is the only view of it (node:http's body chunks are). */
function release(chunk: Buffer): void {
  const memory = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer; detached?: boolean };
  if (chunk.byteOffset !== 0 || chunk.byteLength !== memory.byteLength || memory.detached || typeof memory.transfer !== "function") return;
  if (memory instanceof ArrayBuffer) memory.transfer(0);
}

export function queryValues(request: FastifyRequest, name: string): string[] {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function queryValue(request: FastifyRequest, name: string): string | undefined {
  return queryValues(request, name)[0];
}

// Request bodies under /v2 arrive as raw streams (the OCI scope's catch-all parser leaves them
// unread). Blobs flow through untouched; a manifest is the one body read whole, and bounded.
import type { FastifyRequest } from "fastify";
import { RegistryError } from "../domain/errors.ts";

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

/** Reads a body of at most `max` bytes; 413 as soon as it is known to be larger, without reading the rest. */
export async function readBounded(request: FastifyRequest, max: number): Promise<Buffer> {
  const tooLarge = () => new RegistryError("MANIFEST_TOO_LARGE", `manifest is larger than ${max} bytes`, { limit: max });
  const length = declaredLength(request);
  if (length !== undefined && length > max) {
    request.raw.resume(); // let Node drain or close; nothing is kept
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length;
    if (size > max) {
      request.raw.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

export function queryValues(request: FastifyRequest, name: string): string[] {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function queryValue(request: FastifyRequest, name: string): string | undefined {
  return queryValues(request, name)[0];
}

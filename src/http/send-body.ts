// Large response bodies. A body that can write itself (blob files: reused buffers, see
// blobs/drivers/file-body.ts) is written straight to the response; any other Readable goes
// through Fastify. The onResponse hook (access log, metrics) runs either way.
import type { FastifyReply } from "fastify";
import type { Readable, Writable } from "node:stream";

interface SelfWritingBody {
  writeTo(out: Writable): Promise<void>;
}

function writesItself(body: Readable): body is Readable & SelfWritingBody {
  return typeof (body as Partial<SelfWritingBody>).writeTo === "function";
}

/** Sends `body` with the status and headers set on `reply` so far. */
export async function sendBody(reply: FastifyReply, body: Readable): Promise<FastifyReply> {
  if (!writesItself(body)) return reply.send(body);
  reply.hijack();
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
  reply.raw.writeHead(reply.statusCode);
  try {
    await body.writeTo(reply.raw);
  } catch (error) {
    // The status line is gone already; the client sees a cut-off body, which its digest check catches.
    reply.log.warn({ err: error }, "blob body cut off");
  }
  return reply;
}

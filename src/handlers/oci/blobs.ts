// GET/HEAD/DELETE /v2/<name>/blobs/<digest>. HEAD never opens the blob; GET redirects to the
// storage when its driver offers a URL (blob-driver.ts redirectUrl).
import rangeParser from "range-parser";
import { RegistryError } from "../../domain/errors.ts";
import { sendBody } from "../../http/send-body.ts";
import type { OciHandler } from "./context.ts";

function blobHeaders(reply: Parameters<OciHandler>[0]["reply"], digest: string) {
  return reply
    .header("docker-content-digest", digest)
    .header("etag", `"${digest}"`)
    .header("accept-ranges", "bytes")
    .header("cache-control", "max-age=31536000")
    .header("content-type", "application/octet-stream");
}

export const headBlob: OciHandler<"blob"> = async ({ reply, path, services }) => {
  const { size } = await services.blobs.stat(path.name, path.digest);
  return blobHeaders(reply, path.digest).header("content-length", size).send();
};

export const getBlob: OciHandler<"blob"> = async ({ request, reply, path, services }) => {
  const blob = await services.blobs.stat(path.name, path.digest);
  const { size } = blob;
  // A driver that serves reads itself (S3, Azure) gets the client sent there, ranges and all.
  const redirect = await services.blobs.redirectUrl(blob);
  if (redirect !== null) return reply.code(307).header("docker-content-digest", path.digest).header("location", redirect).header("content-length", 0).send();
  blobHeaders(reply, path.digest);
  const rangeHeader = request.headers.range;
  if (rangeHeader !== undefined) {
    const ranges = rangeParser(size, rangeHeader, { combine: true });
    if (ranges === -1) {
      reply.header("content-range", `bytes */${size}`);
      throw new RegistryError("RANGE_NOT_SATISFIABLE", `requested range not satisfiable: the blob has ${size} bytes`, { size, range: rangeHeader.slice(0, 100) });
    }
    // A malformed header (-2) or several ranges: answer with the whole blob, as RFC 9110 allows.
    if (ranges !== -2 && ranges.type === "bytes" && ranges.length === 1) {
      const { start, end } = ranges[0]!;
      const body = await services.blobs.open(blob, { start, end });
      return sendBody(reply.code(206).header("content-range", `bytes ${start}-${end}/${size}`).header("content-length", end - start + 1), body);
    }
  }
  if (size === 0) return reply.header("content-length", 0).send("");
  // The size is known from the stat above: the whole blob is asked for as a range, so the driver
  // does not stat the file again.
  const body = await services.blobs.open(blob, { start: 0, end: size - 1 });
  return sendBody(reply.header("content-length", size), body);
};

export const deleteBlob: OciHandler<"blob"> = async ({ reply, path, services }) => {
  await services.blobs.delete(path.name, path.digest);
  return reply.code(202).header("content-length", 0).send();
};

// A server that speaks just enough of the blob-upload flow to take a push, and answers any blob GET
// with `size` bytes of one repeated buffer. It shows what a Node server can do on this machine at
// all, mode by mode, with nothing of a registry in the way:
//   drop   the body is read and dropped: node:http and the loopback alone;
//   hash   every body is SHA-256ed on the one thread, as a Node registry must;
//   disk   hashed and written to a file in <dir> (1 MiB write buffer), fsynced at the end, kept:
//          the least a durable Node registry does per byte.
// Usage: node bench/null-server.ts <blob size in bytes> <drop|hash|disk> [dir]; prints "listening <port>".
import { createHash, type Hash } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { once } from "node:events";
import { join } from "node:path";
import { serveAsChild } from "./child-server.ts";

const size = Number(process.argv[2] ?? 0);
const mode = process.argv[3] ?? "drop";
const dir = process.argv[4] ?? "";
if (!["drop", "hash", "disk"].includes(mode) || (mode === "disk" && !dir)) throw new Error(`bad arguments: ${process.argv.slice(2).join(" ")}`);
const block = Buffer.alloc(1024 * 1024, 7);
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", layers: [] }));

/** The one upload in progress (the benchmark pushes to a sink one blob at a time). */
let upload: { hash: Hash; file: WriteStream | null } | null = null;
let files = 0;

function startUpload(): void {
  upload = { hash: createHash("sha256"), file: mode === "disk" ? createWriteStream(join(dir, `blob-${files++}`), { highWaterMark: 1024 * 1024, flush: true }) : null };
}

/** Reads the body into the current upload, with backpressure from the file. */
async function take(req: IncomingMessage): Promise<void> {
  if (mode === "drop" || !upload) {
    req.resume();
    await once(req, "end");
    return;
  }
  const { hash, file } = upload;
  req.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    if (file && !file.write(chunk)) {
      req.pause();
      file.once("drain", () => req.resume());
    }
  });
  await once(req, "end");
}

async function finishUpload(): Promise<void> {
  if (!upload) return;
  upload.hash.digest();
  if (upload.file) {
    upload.file.end();
    await once(upload.file, "close"); // flush: true, so after the fsync
  }
  upload = null;
}

const server = createServer({ highWaterMark: 1024 * 1024 }, async (req, res) => {
  if (req.method === "POST") startUpload();
  await take(req);
  if (req.method === "POST" || req.method === "PATCH") {
    res.writeHead(202, { location: "/v2/null/blobs/uploads/upload?state=null", "content-length": 0 }).end();
  } else if (req.method === "PUT") {
    await finishUpload();
    res.writeHead(201, { "content-length": 0 }).end();
  } else if (req.method === "GET" && req.url?.includes("/manifests/")) {
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "content-length": manifest.length }).end(manifest);
  } else if (req.method === "GET") {
    res.writeHead(200, { "content-length": size, "content-type": "application/octet-stream" });
    for (let sent = 0; sent < size; sent += block.length) {
      const piece = size - sent >= block.length ? block : block.subarray(0, size - sent);
      if (!res.write(piece)) await once(res, "drain");
    }
    res.end();
  } else {
    // HEAD of a blob: a size, no body.
    res.writeHead(200, { "content-length": 4096, "content-type": "application/octet-stream" }).end();
  }
});
serveAsChild(server);

// The reference for serving a chart index: a plain node:http server that holds one index.yaml in
// memory and answers every GET of a path ending in index.yaml with it (200, Content-Length, ETag,
// 304 on If-None-Match), with nothing else in the way: no auth, no routing, no rendering. It is the
// ceiling for serving that document from Node on this machine, with the same client.
// Usage: node bench/static-index-server.ts <file>; prints "listening <port>".
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { serveAsChild } from "./child-server.ts";

const file = process.argv[2];
if (!file) throw new Error("usage: node bench/static-index-server.ts <index.yaml>");
const body = readFileSync(file);
const etag = `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"`;

const server = createServer((req, res) => {
  req.resume();
  if ((req.method !== "GET" && req.method !== "HEAD") || !req.url?.split("?")[0]!.endsWith("/index.yaml")) {
    res.writeHead(404, { "content-length": 0 }).end();
    return;
  }
  const headers = { "content-type": "text/yaml; charset=utf-8", etag, "cache-control": "no-cache" };
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, "content-length": body.length });
  res.end(req.method === "HEAD" ? undefined : body);
});
serveAsChild(server);

// Serves the portal (portal/, built by scripts/build.mjs into portal/dist/) at `/`: hashed assets
// under /assets/ cached for a year as immutable, index.html never stored (a new build takes
// effect at the next load), and index.html for every other page path so a shared link or a
// reload of /r/team/app/-/tags opens the app there. Never under the protocol prefixes: a wrong
// /v2/, /helm/, /api/ or token URL stays a 404 in its protocol's shape, never an HTML page.
//
// The files are read once at start (a few hundred KiB) and kept with their gzip form.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** portal/dist at the repository root, from src/handlers/portal or dist/handlers/portal alike. */
export const PORTAL_DIST = fileURLToPath(new URL("../../../portal/dist/", import.meta.url));

/**
 * The portal's Content-Security-Policy (docs/portal.md): scripts and styles only from Berth's
 * own files, no inline script, images only from itself or data: (a README's remote images are
 * never fetched), calls only to itself, never framed.
 */
export const PORTAL_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join("; ");

// Leading slashes repeated too: //v2/ is what a client with a trailing-slash base URL sends.
const RESERVED = /^\/+(?:v2|helm|api|oauth2|token|healthz|metrics)(?:[/?]|$)/;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

interface PortalFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  immutable: boolean;
}

function load(root: string): Map<string, PortalFile> {
  const files = new Map<string, PortalFile>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const url = `/${relative(root, path).split(sep).join("/")}`;
      const body = readFileSync(path);
      const type = TYPES[extname(name)] ?? "application/octet-stream";
      const compressible = /^(?:text\/|application\/(?:json|manifest)|image\/svg)/.test(type) && body.length > 512;
      files.set(url, {
        body,
        gzip: compressible ? gzipSync(body) : null,
        type,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        immutable: url.startsWith("/assets/"),
      });
    }
  };
  if (existsSync(root)) walk(root);
  return files;
}

function send(request: FastifyRequest, reply: FastifyReply, file: PortalFile, isPage: boolean) {
  reply.header("content-type", file.type);
  reply.header("etag", file.etag);
  reply.header("vary", "accept-encoding");
  reply.header("cache-control", file.immutable ? "public, max-age=31536000, immutable" : isPage ? "no-store" : "no-cache");
  if (isPage) {
    reply.header("content-security-policy", PORTAL_CSP);
    reply.header("x-frame-options", "DENY");
    reply.header("referrer-policy", "no-referrer");
    reply.header("cross-origin-opener-policy", "same-origin");
    reply.header("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()");
  }
  if (!isPage && request.headers["if-none-match"] === file.etag) return reply.code(304).send();
  const gzip = file.gzip && /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? "")) ? file.gzip : null;
  if (gzip) reply.header("content-encoding", "gzip");
  const body = gzip ?? file.body;
  reply.header("content-length", body.length);
  return reply.code(200).send(request.method === "HEAD" ? undefined : body);
}

export async function portalPlugin(app: FastifyInstance, options: { root?: string } = {}): Promise<void> {
  const files = load(options.root ?? PORTAL_DIST);
  const index = files.get("/index.html");

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    request.berth.route = "portal";
    let path: string;
    try {
      path = decodeURIComponent(request.url.split("?")[0]!);
    } catch {
      return reply.callNotFound();
    }
    if (RESERVED.test(path)) return reply.callNotFound();
    const file = path === "/" ? undefined : files.get(path);
    if (file) return send(request, reply, file, file === index);
    // A missing hashed asset is a 404 (an old page asking for a replaced build), never index.html.
    if (path.startsWith("/assets/") || extname(path) !== "") return reply.callNotFound();
    if (!index) {
      return reply.code(503).header("content-type", "text/plain; charset=utf-8").send("The portal is not built: run `npm run build` (npm ci does it), then restart Berth.\n");
    }
    return send(request, reply, index, true);
  };
  app.route({ method: ["GET", "HEAD"], url: "/", handler });
  app.route({ method: ["GET", "HEAD"], url: "/*", handler });
}

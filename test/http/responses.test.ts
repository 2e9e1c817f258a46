// What every response carries and how every refusal reads (issue 13, points 8 and 12), over a real
// socket: node:http and Fastify refuse some requests before any route runs, and blob bodies are
// written past Fastify (send-body.ts), so inject() alone would not see what a client sees.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { chartYamlFor, provenanceFor, provenanceSum, validChart } from "../support/chart-fixtures.ts";
import { AUTH, freshApp, OCI_MANIFEST, pushBlob, putManifest, sha256 } from "../support/app.ts";

/** The OCI distribution spec's error codes: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes */
const SPEC_CODES = ["BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS"];
const SANDBOX = "sandbox; default-src 'none'";

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes the bytes as they are and reads until the server closes: node:http's refusals have no response object. */
function rawExchange(url: URL, text: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {}); // the server resets after answering a refusal; the answer is what counts
    socket.on("close", () => {
      const answer = Buffer.concat(chunks).toString("latin1");
      const split = answer.indexOf("\r\n\r\n");
      const [statusLine, ...lines] = answer.slice(0, split).split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1]);
      if (!status) return reject(new Error(`no HTTP answer: ${answer.slice(0, 200)}`));
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      resolve({ status, headers, body: answer.slice(split + 4) });
    });
    socket.end(text);
  });
}

function assertErrorBody(what: string, answer: { status: number; headers: Record<string, string>; body: string }, spec: boolean): void {
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/, `${what}: content-type`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["errors"], `${what}: only {"errors": [...]}, not the framework's default (${answer.body.slice(0, 200)})`);
  const [first] = body.errors as { code: string; message: string; detail: unknown }[];
  assert.ok(first && typeof first.code === "string" && first.message.length > 10 && "detail" in first, `${what}: {code, message, detail}: ${answer.body}`);
  if (spec) assert.ok(SPEC_CODES.includes(first.code), `${what}: ${first.code} is not one of the spec's codes`);
  assert.equal(answer.headers["x-content-type-options"], "nosniff", `${what}: nosniff`);
}

test("a 64 KiB Authorization header gets 431 with the registry's error body, on /v2/ with a spec code", async (t) => {
  const app = await freshApp(t);
  const url = await app.listen();
  const huge = `Basic ${"A".repeat(64 * 1024)}`;
  for (const path of ["/v2/", "/v2/team/app/manifests/v1", "/helm/v1/repo/index.yaml", "/api/v1/charts"]) {
    const answer = await rawExchange(url, `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${huge}\r\n\r\n`);
    assert.ok(answer.status === 431 || answer.status === 401, `${path}: ${answer.status}`);
    assertErrorBody(`GET ${path} with a 64 KiB Authorization`, answer, path.startsWith("/v2/"));
    assert.match(answer.body, /16 KiB/, "the message says the limit");
  }
});

test("no framework-default error body: unknown routes, bad URLs, long URIs, bad JSON, bad media types, unparsable HTTP, refused methods", async (t) => {
  const app = await freshApp(t);
  const url = await app.listen();
  const auth = `Authorization: ${AUTH}\r\n`;
  const cases: { what: string; request: string; spec: boolean }[] = [
    // GET / is the portal now (test/http/portal.test.ts); a missing portal asset is still a 404 body.
    { what: "GET /assets/missing.js", request: "GET /assets/missing.js HTTP/1.1\r\n", spec: false },
    { what: "GET /favicon.ico", request: "GET /favicon.ico HTTP/1.1\r\n", spec: false },
    { what: "POST /healthz", request: "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n", spec: false },
    { what: "a malformed escape under /v2/", request: "GET /v2/%zz/manifests/v1 HTTP/1.1\r\n", spec: true },
    { what: "a malformed escape under /helm/", request: "GET /helm/v1/%zz/index.yaml HTTP/1.1\r\n", spec: false },
    { what: "a 20 KB URI under /v2/", request: `GET /v2/${"a".repeat(20_000)}/tags/list HTTP/1.1\r\n`, spec: true },
    { what: "a 20 KB URI under /helm/", request: `GET /helm/v1/${"a".repeat(20_000)}/index.yaml HTTP/1.1\r\n`, spec: false },
    { what: "OPTIONS /v2/", request: "OPTIONS /v2/ HTTP/1.1\r\n", spec: true },
    { what: "GET /api/v1/nonsense", request: `GET /api/v1/nonsense HTTP/1.1\r\n${auth}`, spec: false },
    { what: "PUT /api/repo/charts", request: `PUT /api/repo/charts HTTP/1.1\r\n${auth}Content-Length: 0\r\n`, spec: false },
    { what: "POST /helm/v1/repo/index.yaml", request: `POST /helm/v1/repo/index.yaml HTTP/1.1\r\n${auth}Content-Length: 0\r\n`, spec: false },
    { what: "bad JSON to /oauth2/token", request: "POST /oauth2/token HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}", spec: false },
    { what: "an XML body to /api/v1/users", request: `POST /api/v1/users HTTP/1.1\r\n${auth}Content-Type: application/xml\r\nContent-Length: 4\r\n\r\n<a/>`, spec: false },
    { what: "bad JSON to /api/v1/users", request: `POST /api/v1/users HTTP/1.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}`, spec: false },
    { what: "not HTTP at all", request: "HELLO\r\n", spec: true },
    { what: "a header line without a colon under /v2/", request: "GET /v2/ HTTP/1.1\r\nno colon here\r\n", spec: true },
  ];
  for (const c of cases) {
    const [head, body = ""] = c.request.split("\r\n\r\n");
    const request = `${head!.replace(/\r\n$/, "")}\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n${body}`;
    const answer = await rawExchange(url, c.request.startsWith("HELLO") ? c.request : request);
    assert.ok(answer.status >= 400 && answer.status < 500, `${c.what}: ${answer.status}`);
    assertErrorBody(c.what, answer, c.spec);
  }
});

test("nosniff on every response, and the sandbox CSP on every read of stored content under /v2/, /helm/ and /api/ (GET and HEAD, errors too)", async (t) => {
  const app = await freshApp(t);
  const url = await app.listen();
  const html = "<!DOCTYPE html><html><body><script>alert(document.domain)</script></body></html>";
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><script>alert(1)</script></svg>';
  const htmlDigest = await pushBlob(app, "team/app", html);
  const svgDigest = await pushBlob(app, "team/app", svg);
  const config = await pushBlob(app, "team/app", "{}");
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 2 },
      layers: [
        { mediaType: "text/html", digest: htmlDigest, size: html.length },
        { mediaType: "image/svg+xml", digest: svgDigest, size: svg.length },
      ],
      annotations: { "org.opencontainers.image.description": `<html><script>alert(1)</script></html>${svg}` },
    }),
  );
  assert.equal((await putManifest(app, "team/app", "v1", manifest)).status, 201);
  const tgz = await validChart({ name: "page", version: "1.0.0", description: `<script>alert(1)</script>` });
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/page-1.0.0.tgz", { body: tgz })).status, 201);
  const prov = provenanceFor(chartYamlFor({ name: "page", version: "1.0.0" }), { "page-1.0.0.tgz": provenanceSum(tgz) });
  assert.equal((await app.request("PUT", "/helm/v1/repo/_blobs/page-1.0.0.tgz.prov", { body: prov })).status, 201);

  const reads: [path: string, status: number][] = [
    [`/v2/team/app/blobs/${htmlDigest}`, 200],
    [`/v2/team/app/blobs/${svgDigest}`, 200],
    ["/v2/team/app/manifests/v1", 200],
    [`/v2/team/app/manifests/${sha256(manifest)}`, 200],
    ["/v2/team/app/tags/list", 200],
    ["/v2/_catalog", 200],
    ["/helm/v1/repo/index.yaml", 200],
    ["/helm/v1/repo/_blobs/page-1.0.0.tgz", 200],
    ["/helm/v1/repo/_blobs/page-1.0.0.tgz.prov", 200],
    ["/helm/v1/repo/_charts/page", 200],
    ["/api/repo/charts/page/1.0.0", 200],
    ["/api/v1/charts", 200],
    ["/api/v1/provenance/team/app/v1", 200],
    // refusals carry the same headers
    [`/v2/team/app/blobs/sha256:${"0".repeat(64)}`, 404],
    ["/v2/team/app/manifests/missing", 404],
    ["/helm/v1/repo/_blobs/missing-1.0.0.tgz", 404],
    ["/helm/v1/repo/_blobs/missing-1.0.0.tgz.prov", 404],
    ["/api/v1/provenance/team/app/missing", 404],
  ];
  for (const [path, status] of reads) {
    for (const method of ["GET", "HEAD"]) {
      if (method === "HEAD" && (path.startsWith("/api/v1/") || path.includes("/_charts") || path.includes("tags/list") || path.includes("_catalog"))) continue; // GET-only routes
      for (const auth of [AUTH, null]) {
        const res = await fetch(new URL(path, url), { method, headers: auth ? { authorization: auth } : {} });
        await res.arrayBuffer();
        if (auth) assert.equal(res.status, status, `${method} ${path}`);
        else assert.ok(res.status === 401, `${method} ${path} anonymous: ${res.status}`);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff", `${method} ${path} (${res.status}): nosniff`);
        assert.equal(res.headers.get("content-security-policy"), SANDBOX, `${method} ${path} (${res.status}): sandbox CSP`);
      }
    }
  }
  // Berth's own pages at the root: nosniff, but no sandbox (the portal is served from /, with its own CSP).
  for (const path of ["/healthz", "/", "/index.yaml", "/oauth2/token"]) {
    const res = await fetch(new URL(path, url));
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", `GET ${path}: nosniff`);
    assert.doesNotMatch(res.headers.get("content-security-policy") ?? "", /sandbox/, `GET ${path}: no sandbox at the root`);
  }
});

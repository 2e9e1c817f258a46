// A fresh Berth app per test on a temporary data directory, driven through Fastify's inject():
// the real handlers, services and stores, without a socket.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { buildApp, type BerthApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { checkIntegrity } from "../../src/services/fsck.ts";
import { collectGarbage } from "../../src/services/gc.ts";
import { checkApiAnswer } from "./api-contract.ts";
import { basic } from "./identity-api.ts";

export const PASSWORD = "test-admin-password";
export const AUTH = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;

export interface TestApp {
  berth: BerthApp;
  dataDir: string;
  /** `remoteAddress`: the client address the request comes from (default 127.0.0.1). */
  request(method: string, url: string, options?: { body?: Buffer | string; headers?: Record<string, string>; auth?: string | null; remoteAddress?: string }): Promise<TestResponse>;
  /** Starts listening on a free loopback port (once) and returns the base URL. */
  listen(): Promise<URL>;
  /** Sends the path byte for byte over a real socket (inject() would resolve `..` first). */
  rawRequest(method: string, path: string, options?: { body?: Buffer | string; headers?: Record<string, string> }): Promise<TestResponse>;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
  json(): any;
  errorCode(): string | undefined;
}

export async function freshApp(t: TestContext, settings: Record<string, unknown> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), "berth-unit-"));
  const config = loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD, ...settings } });
  const berth = await buildApp(config, createLogger("silent"));
  t.after(async () => {
    await berth.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  let address: Promise<string> | undefined;
  return {
    berth,
    dataDir,
    async listen() {
      address ??= berth.app.listen({ port: 0, host: "127.0.0.1" });
      return new URL(await address);
    },
    async rawRequest(method, path, options = {}) {
      address ??= berth.app.listen({ port: 0, host: "127.0.0.1" });
      const url = new URL(await address);
      return new Promise((ok, fail) => {
        const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { authorization: AUTH, ...options.headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const body = Buffer.concat(chunks);
            try {
              checkApiAnswer(method, path, res.statusCode ?? 0, body);
            } catch (err) {
              fail(err);
              return;
            }
            ok({ status: res.statusCode ?? 0, headers: res.headers as TestResponse["headers"], body, json: () => JSON.parse(body.toString()), errorCode: () => errorCodeOf(body) });
          });
        });
        req.on("error", fail);
        req.end(options.body);
      });
    },
    async request(method, url, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      const auth = options.auth === undefined ? AUTH : options.auth;
      if (auth) headers.authorization = auth;
      const res = await berth.app.inject({ method: method as "GET", url, headers, payload: options.body, ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}) });
      const body = res.rawPayload;
      checkApiAnswer(method, url, res.statusCode, body);
      return {
        status: res.statusCode,
        headers: res.headers,
        body,
        json: () => JSON.parse(body.toString("utf8")),
        errorCode: () => errorCodeOf(body),
      };
    },
  };
}

/** The first error code of an answer's body; undefined for a body that is not an error document (a 202's empty one). */
function errorCodeOf(body: Buffer): string | undefined {
  try {
    return JSON.parse(body.toString("utf8")).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function sha512(data: Buffer | string): string {
  return `sha512:${createHash("sha512").update(data).digest("hex")}`;
}

/** Pushes a blob in one request and returns its digest. */
export async function pushBlob(app: TestApp, repo: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  const res = await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: data, headers: { "content-type": "application/octet-stream" } });
  if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${res.body}`);
  return digest;
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** Pushes a config and a layer, and returns an image manifest naming them (not pushed). */
export async function imageManifest(app: TestApp, repo: string, extra: Record<string, unknown> = {}): Promise<{ body: Buffer; digest: string; config: string; layer: string; layerBytes: string }> {
  const configBytes = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } });
  const layerBytes = `layer of ${repo} ${Math.random()}`;
  const config = await pushBlob(app, repo, configBytes);
  const layer = await pushBlob(app, repo, layerBytes);
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: Buffer.byteLength(configBytes) },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer, size: Buffer.byteLength(layerBytes) }],
      ...extra,
    }),
  );
  return { body, digest: sha256(body), config, layer, layerBytes };
}

export async function putManifest(app: TestApp, repo: string, reference: string, body: Buffer, mediaType = OCI_MANIFEST): Promise<TestResponse> {
  return app.request("PUT", `/v2/${repo}/manifests/${reference}`, { body, headers: { "content-type": mediaType } });
}

// ---- the admin's calls and checks the attack tests (test/http/attack-*.test.ts) share ----

export const JSON_TYPE = { "content-type": "application/json" };
export const OCTETS = { "content-type": "application/octet-stream" };

/** A JSON body (a string as it is) to the app, as the admin or as `auth`. */
export function send(app: TestApp, method: string, url: string, body: unknown, auth?: string) {
  return app.request(method, url, { body: typeof body === "string" ? body : JSON.stringify(body), headers: JSON_TYPE, ...(auth !== undefined && { auth }) });
}

/** POST /api/v1/users (201 asserted); the new user's Authorization header. */
export async function user(app: TestApp, name: string, roles: string[]): Promise<string> {
  const res = await send(app, "POST", "/api/v1/users", { name, roles });
  assert.equal(res.status, 201, res.body.toString());
  return basic(name, res.json().password);
}

/** `berth gc` now on the app's stores: no grace period, uploads expire after a day. */
export const gc = (app: TestApp) => collectGarbage(app.berth.stores.metadata, app.berth.stores.blobs, { gracePeriodSeconds: 0, uploadExpirySeconds: 86_400, dryRun: false });

/** What `berth fsck` finds on the app's stores. */
export async function problems(app: TestApp): Promise<unknown[]> {
  return (await checkIntegrity(app.berth.stores.metadata, app.berth.stores.blobs)).problems;
}

// The Fastify instance every protocol plugs into: JSON access logs (one line per request, with
// the identity, never a secret), request metrics, /healthz and /metrics.
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Identity } from "../auth/identity.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { StorageReport } from "../observability/storage-space.ts";
import { replyWithError } from "./errors.ts";
import { clientErrorHandler, frameworkErrors, notFound, rootErrorHandler, shuttingDown } from "./refusals.ts";
import { safetyHeaders } from "./response-headers.ts";
import { refuseCrossSite } from "./session-cookie.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** `who`: the identity the guard found, once it has (a refusal's words may depend on it: route.ts). */
    berth: { started: bigint; bytesRead: number; bytesWritten: number; route: string; identity: string; who?: Identity };
  }
}

export interface ServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Whether the stores answer (for /healthz). */
  healthy: () => Promise<boolean>;
  /** Free space of the data directory (for /healthz: degraded below storage.minFreeBytes). */
  storage?: () => Promise<StorageReport>;
  /** Who may read /metrics here: throws to refuse; null when /metrics is served elsewhere. */
  metricsAccess: ((request: FastifyRequest) => Promise<void>) | null;
  /** URL clients reach Berth at: its origin is accepted as a request's Origin besides the Host's. */
  publicUrl?: string | undefined;
  /** Proxies whose X-Forwarded-For names the client (request.ip); none: the TCP peer. */
  trustProxy?: string[];
}

/** How long shutdown lets requests in flight finish before it closes their connections. */
export const SHUTDOWN_GRACE_MS = 5_000;

export function createServer(options: ServerOptions): FastifyInstance {
  // Fastify types the instance by its logger; Berth's plugins take the default shape.
  const app = Fastify({
    loggerInstance: options.logger,
    // One access-log line per request comes from the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Refusals in Berth's error shape, not Fastify's default bodies (refusals.ts); shutdown's 503 too.
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors,
    // Blob bodies stream to disk; only manifest-sized bodies are ever read whole.
    bodyLimit: 4 * 1024 * 1024,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 1000 },
    ...(options.trustProxy?.length ? { trustProxy: options.trustProxy } : {}),
  }) as unknown as FastifyInstance;

  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
    // Shutdown waits for requests in flight, but not for ever: a stuck one (CI once had a chart page's
    // read that never ended) must not keep the process from exiting. Clients retry a cut request.
    // Node closes the connections idle at close() only; one whose answer goes out later stays open
    // for keep-alive, so those are closed as they fall idle.
    const idle = setInterval(() => app.server.closeIdleConnections(), 100).unref();
    setTimeout(() => {
      clearInterval(idle);
      app.server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS).unref();
  });
  app.setErrorHandler(rootErrorHandler);
  app.setNotFoundHandler(notFound);

  app.addHook("onRequest", async (request: FastifyRequest, reply) => {
    const socket = request.raw.socket;
    request.berth = { started: process.hrtime.bigint(), bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten, route: "other", identity: "anonymous" };
    // Every response, errors and hijacked blob bodies included, since headers set here stay on the reply.
    reply.headers(safetyHeaders(request.url));
    if (closing) {
      reply.header("connection", "close");
      throw shuttingDown();
    }
     // One rule for every route (session-cookie.ts): no state change from another site's page.
    refuseCrossSite(request, options.publicUrl);
  });

  app.addHook("onResponse", async (request, reply) => {
    const info = request.berth;
    const seconds = Number(process.hrtime.bigint() - info.started) / 1e9;
    const socket = request.raw.socket;
    const bytesIn = socket.bytesRead - info.bytesRead;
    const bytesOut = socket.bytesWritten - info.bytesWritten;
    const status = String(reply.statusCode);
    options.metrics.requests.inc({ route: info.route, method: request.method, status });
    options.metrics.bytesIn.inc({ route: info.route }, Math.max(bytesIn, 0));
    options.metrics.bytesOut.inc({ route: info.route }, Math.max(bytesOut, 0));
    options.metrics.duration.observe({ route: info.route, method: request.method }, seconds);
    request.log.info(
      { method: request.method, path: request.url.split("?")[0], status: reply.statusCode, bytesIn, bytesOut, durationMs: Math.round(seconds * 1e4) / 10, identity: info.identity, remote: request.ip },
      "request",
    );
  });

  app.get("/healthz", async (request, reply) => {
    request.berth.route = "healthz";
    const ok = await options.healthy().catch(() => false);
    if (!ok) return reply.code(503).send({ status: "unavailable" });
    const storage = await options.storage?.().catch(() => null);
    if (!storage) return reply.code(200).send({ status: "ok" });
    // Degraded is still 200: reads work, and restarting Berth (what a failed probe does) frees no space.
    const { freeBytes, minFreeBytes, low } = storage;
    return reply.code(200).send({ status: low ? "degraded" : "ok", storage: { freeBytes, minFreeBytes } });
  });

  const { metricsAccess } = options;
  if (metricsAccess) {
    app.get("/metrics", async (request, reply) => {
      request.berth.route = "metrics";
      try {
        await metricsAccess(request);
      } catch (err) {
        return replyWithError(reply, err);
      }
      return reply.header("content-type", options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
    });
  }

  return app;
}

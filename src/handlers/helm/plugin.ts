// Mounts the Helm protocols: the classic repository under /helm, ChartMuseum's API and Berth's
// JSON API under /api, and the hint for `helm repo add http://<host>` at the root.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import { RegistryError } from "../../domain/errors.ts";
import { replyWithError, statusOf } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import type { ChartService } from "../../services/charts/chart-service.ts";
import * as classic from "./classic.ts";
import * as museum from "./chartmuseum.ts";
import type { HelmContext } from "./context.ts";
import { listAllCharts } from "./management.ts";
import { classicHint, parseClassicPath, parseMuseumPath } from "./paths.ts";

export interface HelmPluginOptions {
  guard: Guard;
  authorizer: Authorizer;
  charts: ChartService;
}

const READ = ["GET", "HEAD"];

/** ChartMuseum answers errors as {"error": "..."}; its clients print that field. */
function replyMuseumError(reply: FastifyReply, thrown: unknown) {
  if (!(thrown instanceof RegistryError)) return replyWithError(reply, thrown);
  if (thrown.challenge) reply.header("www-authenticate", thrown.challenge);
  return reply.code(statusOf(thrown.code)).send({ error: thrown.message });
}

export async function helmPlugin(app: FastifyInstance, options: HelmPluginOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  // Classic clients send Basic pre-emptively. Which charts a caller may read or change is
  // decided per chart repository by the services (a view spans many), so here: who asks.
  async function context(request: FastifyRequest, reply: FastifyReply): Promise<HelmContext> {
    const who = await options.guard.identify(request, "basic");
    if (who.kind === "anonymous" && !(READ.includes(request.method) && options.authorizer.mayPing(who))) {
      throw new RegistryError("UNAUTHORIZED", "authentication required: pass --username and --password to helm repo add", null, options.guard.challenge(request, "basic", []));
    }
    return { request, reply, who, charts: options.charts, authorizer: options.authorizer };
  }

  /** A refusal from deep in a push or delete still gets its challenge, and a 403 its audit entry. */
  async function refused(ctx: HelmContext | null, request: FastifyRequest, err: unknown): Promise<unknown> {
    return ctx ? options.guard.refused(request, ctx.who, [], "basic", err) : err;
  }

  app.route({
    method: ["GET", "HEAD", "PUT", "PATCH", "DELETE"],
    url: "/helm/*",
    handler: async (request, reply) => {
      request.berth.route = "helm";
      let ctx: HelmContext | null = null;
      try {
        const path = parseClassicPath(request.url.split("?")[0]!.slice("/helm/".length));
        ctx = await context(request, reply);
        const method = request.method;
        if (path.kind === "index" && READ.includes(method)) return await classic.getIndex(ctx, path);
        if (path.kind === "blob" && READ.includes(method)) return await classic.getBlob(ctx, path);
        if (path.kind === "blob" && (method === "PUT" || method === "PATCH")) return await classic.putBlob(ctx, path);
        if (path.kind === "blob" && method === "DELETE") return await classic.deleteBlob(ctx, path);
        if (path.kind === "charts" && method === "GET") return await classic.getCharts(ctx, path);
        if (path.kind === "charts" && method === "DELETE") return await classic.deleteCharts(ctx, path);
        throw new RegistryError("UNSUPPORTED", `${method} is not supported here`);
      } catch (err) {
        return replyWithError(reply, await refused(ctx, request, err));
      }
    },
  });

  app.route({
    method: ["GET", "HEAD", "POST", "DELETE"],
    url: "/api/*",
    handler: async (request, reply) => {
      const rest = request.url.split("?")[0]!.slice("/api/".length);
      if (rest === "v1/charts" && request.method === "GET") {
        request.berth.route = "api";
        try {
          return await listAllCharts(await context(request, reply));
        } catch (err) {
          return replyWithError(reply, err);
        }
      }
      request.berth.route = "chartmuseum";
      let ctx: HelmContext | null = null;
      try {
        const path = parseMuseumPath(rest);
        if (!path) throw new RegistryError("CHART_UNKNOWN", "no such API: ChartMuseum's routes are /api/<repository>/charts[/<name>[/<version>]] and /api/<repository>/prov");
        ctx = await context(request, reply);
        const method = request.method;
        if (path.kind === "charts" && method === "POST" && !path.name) return await museum.postCharts(ctx, path);
        if (path.kind === "prov" && method === "POST") return await museum.postProv(ctx, path);
        if (path.kind === "charts" && READ.includes(method)) return await museum.getCharts(ctx, path);
        if (path.kind === "charts" && method === "DELETE") return await museum.deleteChart(ctx, path);
        throw new RegistryError("UNSUPPORTED", `${method} is not supported here`);
      } catch (err) {
        return replyMuseumError(reply, await refused(ctx, request, err));
      }
    },
  });

  // `helm repo add x http://<host>` fetches /index.yaml: say where the repositories are.
  app.get("/index.yaml", async (request, reply) => {
    request.berth.route = "helm";
    return replyWithError(reply, classicHint());
  });
}

// Mounts the Helm protocols: the classic repository under /helm, ChartMuseum's API and Berth's
// JSON API under /api, and the hint for `helm repo add http://<host>` at the root.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import { isAnonymous } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import { replyWithError, statusOf } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import type { ChartService } from "../../services/charts/chart-service.ts";
import type { ChartAction, HelmContext } from "./context.ts";
import { listAllCharts } from "./management.ts";
import { classicHint, parseClassicPath, parseMuseumPath } from "./paths.ts";
import { CLASSIC_ROUTES, findHelmRoute, MUSEUM_ROUTES } from "./routes.ts";

export interface HelmPluginOptions {
  guard: Guard;
  authorizer: Authorizer;
  charts: ChartService;
}

/** ChartMuseum answers errors as {"error": "..."}; its clients print that field. */
function replyMuseumError(reply: FastifyReply, thrown: unknown) {
  if (!(thrown instanceof RegistryError)) return replyWithError(reply, thrown);
  if (thrown.challenge) reply.header("www-authenticate", thrown.challenge);
  return reply.code(statusOf(thrown.code)).send({ error: thrown.message });
}

export async function helmPlugin(app: FastifyInstance, options: HelmPluginOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  // Classic clients send Basic pre-emptively. A view spans many OCI repositories, so here: who
  // asks, and the route's action; each chart version it touches is checked in context.ts.
  async function context(request: FastifyRequest, reply: FastifyReply, action: ChartAction): Promise<HelmContext> {
    const who = await options.guard.identify(request, "basic");
    if (isAnonymous(who) && !(action === "pull" && options.authorizer.mayPing(who))) {
      throw new RegistryError("UNAUTHORIZED", "authentication required: pass --username and --password to helm repo add", null, options.guard.challenge(request, "basic", []));
    }
    return { request, reply, who, charts: options.charts, authorizer: options.authorizer, action };
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
        const route = findHelmRoute(CLASSIC_ROUTES, path, request.method);
        if (!route) throw new RegistryError("UNSUPPORTED", `${request.method} is not supported here`);
        ctx = await context(request, reply, route.action);
        return await route.handler(ctx, path);
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
          return await listAllCharts(await context(request, reply, "pull"));
        } catch (err) {
          return replyWithError(reply, err);
        }
      }
      request.berth.route = "chartmuseum";
      const path = parseMuseumPath(rest);
      // Not a ChartMuseum route (a mistyped /api/v1/… path, say): Berth's error shape, not ChartMuseum's.
      if (!path) {
        return replyWithError(reply, new RegistryError("ENDPOINT_UNKNOWN", `no such API: ${request.method} /api/${rest.slice(0, 200)}. Berth's API is under /api/v1/; ChartMuseum's routes are /api/<repository>/charts[/<name>[/<version>]] and /api/<repository>/prov`));
      }
      let ctx: HelmContext | null = null;
      try {
        const route = findHelmRoute(MUSEUM_ROUTES, path, request.method);
        if (!route) throw new RegistryError("UNSUPPORTED", `${request.method} is not supported here`);
        ctx = await context(request, reply, route.action);
        return await route.handler(ctx, path);
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

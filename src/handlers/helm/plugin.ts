// Mounts the Helm protocols: the classic repository under /helm, ChartMuseum's API under
// /api/<repository>/..., Berth's chart list at GET /api/v1/charts, and the hint for
// `helm repo add http://<host>` at the root. Every route answers through http/route.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import { isAnonymous } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import { replyWithError, statusOf } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import { answering, disclosed } from "../../http/route.ts";
import type { ChartService } from "../../services/charts/chart-service.ts";
import type { ChartAction, HelmContext } from "./context.ts";
import { listAllCharts } from "./management.ts";
import { classicHint, parseClassicPath, parseMuseumPath } from "./paths.ts";
import { CLASSIC_ROUTES, findHelmRoute, MUSEUM_ROUTES, type HelmRoute } from "./routes.ts";

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
  async function context(request: FastifyRequest, reply: FastifyReply, action: ChartAction, listing = false): Promise<HelmContext> {
    const who = await options.guard.identify(request, "basic");
    // Asked of the anonymous identity itself: an anonymous access token (a bearer) is no sign-in.
    const anonymousMay = listing ? options.authorizer.mayList({ kind: "anonymous" }) : options.authorizer.mayPing({ kind: "anonymous" });
    if (isAnonymous(who) && !(action === "pull" && anonymousMay)) {
      throw new RegistryError("UNAUTHORIZED", "authentication required: pass --username and --password to helm repo add", null, options.guard.challenge(request, "basic", []));
    }
    return { request, reply, who, charts: options.charts, authorizer: options.authorizer, action };
  }

  /** A refusal from deep in a push or delete still gets its challenge, and a 403 its audit entry. */
  async function refused(ctx: HelmContext, request: FastifyRequest, err: unknown): Promise<unknown> {
    return options.guard.refused(request, ctx.who, [], "basic", err);
  }

  /** Finds the route in `table`, identifies the caller, runs it; a refusal still gets its challenge. */
  function dispatch<P extends { kind: string }>(table: readonly HelmRoute<P>[], parse: (request: FastifyRequest) => P) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const path = parse(request);
      const route = findHelmRoute(table, path, request.method);
      if (!route) throw new RegistryError("UNSUPPORTED", `${request.method} is not supported here`);
      const ctx = await context(request, reply, route.action);
      try {
        return await route.handler(ctx, path);
      } catch (err) {
        throw await refused(ctx, request, err);
      }
    };
  }

  app.route({
    method: ["GET", "HEAD", "PUT", "PATCH", "DELETE"],
    url: "/helm/*",
    handler: answering("helm", dispatch(CLASSIC_ROUTES, (request) => parseClassicPath(request.url.split("?")[0]!.slice("/helm/".length)))),
  });

  // Berth's own list of every chart version; beside the API's routes, but the chart index is here.
  // Anonymous callers are answered as the portal's other lists answer them (Authorizer.mayList):
  // with per-repository anonymous pull, the charts of those repositories, as their pages show them.
  app.get("/api/v1/charts", answering("api", async (request, reply) => listAllCharts(await context(request, reply, "pull", true))));

  // ChartMuseum's API: /api/[helm/v1/]<repository>/charts[/<name>[/<version>]] and …/prov. The
  // repository holds slashes, so Fastify cannot match these paths by itself; the wildcard takes
  // what the API plugin's /api/v1/ routes leave, and MUSEUM_ROUTES decides, as CLASSIC_ROUTES
  // does for /helm. Anything else under /api is Berth's 404, not ChartMuseum's body.
  app.route({
    method: ["GET", "HEAD", "POST", "DELETE"],
    url: "/api/*",
    handler: answering("chartmuseum", async (request, reply) => {
      const rest = request.url.split("?")[0]!.slice("/api/".length);
      const path = parseMuseumPath(rest);
      if (!path) {
        throw new RegistryError("ENDPOINT_UNKNOWN", `no such API: ${request.method} /api/${rest.slice(0, 200)}. Berth's API is under /api/v1/ (docs/api.md); ChartMuseum's routes are /api/<repository>/charts[/<name>[/<version>]] and /api/<repository>/prov`);
      }
      try {
        return await dispatch(MUSEUM_ROUTES, () => path)(request, reply);
      } catch (err) {
        return replyMuseumError(reply, disclosed(err, request));
      }
    }),
  });

  // `helm repo add x http://<host>` fetches /index.yaml: say where the repositories are.
  app.get("/index.yaml", answering("helm", async () => {
    throw classicHint();
  }));
}

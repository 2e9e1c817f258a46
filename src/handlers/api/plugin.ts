// Mounts the management API (identities, scope maps, tokens, attributes, audit) at explicit
// /api/v1/... paths. The Helm plugin owns the wildcard /api/* (ChartMuseum, /api/v1/charts);
// Fastify's router prefers these static and parametric routes over it, so each path here wins
// and everything else under /api still reaches ChartMuseum. This plugin's scope keeps Fastify's
// JSON parser (the raw-stream parsers of /v2 and /helm live in their own scopes).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Authorizer } from "../../auth/authorizer.ts";
import { describeIdentity } from "../../auth/identity.ts";
import { replyWithError } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import { bodyRefusal } from "../../http/refusals.ts";
import type { IdentityService } from "../../services/identities/identity-service.ts";
import type { ApiContext } from "./context.ts";
import { API_ROUTES, type ApiRoute } from "./routes.ts";

export interface ManagementPluginOptions {
  guard: Guard;
  identities: IdentityService;
  /** Not consulted yet: every route's access goes through the guard. */
  authorizer: Authorizer;
}

/** Identity documents are small; anything bigger is a mistake or an attack. */
export const MANAGEMENT_BODY_LIMIT = 64 * 1024;

export async function managementPlugin(app: FastifyInstance, options: ManagementPluginOptions): Promise<void> {
  app.setErrorHandler((error: FastifyError, _request, reply) => replyWithError(reply, bodyRefusal(error, { accepts: "application/json", limitBytes: MANAGEMENT_BODY_LIMIT }) ?? error));

  function dispatch(route: ApiRoute) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      request.berth.route = "api";
      try {
        const who = await options.guard.check(request, route.access(request), "basic");
        const identity = describeIdentity(who);
        request.berth.identity = identity;
        const ctx: ApiContext = { request, reply, who, by: { identity, client: request.ip }, identities: options.identities };
        return await route.handler(ctx);
      } catch (err) {
        return replyWithError(reply, err);
      }
    };
  }

  for (const route of API_ROUTES) {
    app.route({ method: route.method, url: route.url, bodyLimit: MANAGEMENT_BODY_LIMIT, handler: dispatch(route) });
  }
}

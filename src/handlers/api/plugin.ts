// Mounts Berth's JSON API: every route of routes.ts at its explicit /api/v1/... path, and the
// rest of /api/v1/ answered with Berth's 404 here, so a new API path can never fall into
// ChartMuseum's routes (the Helm plugin's /api/<repository>/..., which Fastify's router tries only
// after every /api/v1/ route). This plugin's scope keeps Fastify's JSON parser (the raw-stream
// parsers of /v2 and /helm live in their own scopes). Bodies: src/api-contract/, docs/api.md.
import type { FastifyError, FastifyInstance } from "fastify";
import { describeIdentity, isAnonymous, type Access, type Identity } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import { actorOf } from "../../http/actor.ts";
import { replyWithError } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import { bodyRefusal } from "../../http/refusals.ts";
import { API_PREFIX } from "../../api-contract/endpoints.ts";
import { answering } from "../../http/route.ts";
import type { ApiServices } from "./context.ts";
import { API_ROUTES } from "./routes.ts";

export interface ApiPluginOptions extends ApiServices {
  guard: Guard;
}

/** Identity and metadata documents are small; anything bigger is a mistake or an attack. */
export const API_BODY_LIMIT = 64 * 1024;

export async function apiPlugin(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  app.setErrorHandler((error: FastifyError, _request, reply) => replyWithError(reply, bodyRefusal(error, { accepts: "application/json", limitBytes: API_BODY_LIMIT }) ?? error));
  const { guard, ...services } = options;

  for (const route of API_ROUTES) {
    const handler = answering("api", async (request, reply) => {
      const who: Identity = route.open ? { kind: "anonymous" } : await guard.check(request, route.access(request), "basic");
      const require = async (wanted: readonly Access[]) => {
        const bound = await guard.authorizer.bindTags(wanted);
        try {
          guard.authorizer.authorize(who, bound);
        } catch (err) {
          throw await guard.refused(request, who, bound, "basic", err);
        }
      };
      const signedIn = () => {
        if (isAnonymous(who) && !guard.authorizer.mayList(who)) {
          // The portal's calls get no challenge (Guard.challenge): the browser must not pop up its own dialog.
          throw new RegistryError("UNAUTHORIZED", "authentication required: sign in with your Berth credentials", null, guard.challenge(request, "basic", []));
        }
      };
      return route.handler({ request, reply, who, guard, by: { identity: describeIdentity(who), client: request.ip, actor: actorOf(request, who) }, actor: actorOf(request, who), authorizer: guard.authorizer, require, signedIn, ...services });
    });
    app.route({ method: route.method, url: route.url, bodyLimit: API_BODY_LIMIT, handler });
  }

  app.route({
    method: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    url: `${API_PREFIX}*`,
    bodyLimit: API_BODY_LIMIT,
    handler: answering("api", async (request) => {
      throw new RegistryError("ENDPOINT_UNKNOWN", `no such API: ${request.method} ${request.url.split("?")[0]!.slice(0, 200)}; Berth's API is listed in docs/api.md`);
    }),
  });
}

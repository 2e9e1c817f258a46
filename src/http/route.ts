// The one wrapper every route's handler runs in (OCI, Helm, ChartMuseum, the API, the token
// service): the route's label for metrics and the access log, then the work, and whatever it
// throws turned into its protocol's error body, Berth's unless the plugin passes its own refusal
// (the spec's codes under /v2, ChartMuseum's {"error"}). Who asks is named by the guard.
import type { FastifyReply, FastifyRequest } from "fastify";
import { permitsAll } from "../auth/policy.ts";
import { QuotaRefusal } from "../domain/quotas.ts";
import { replyWithError } from "./errors.ts";
import { refuseNul } from "./refusals.ts";

export type Refusal = (reply: FastifyReply, error: unknown, request: FastifyRequest) => unknown;

export type RouteLabel = "api" | "helm" | "chartmuseum" | "token" | "other" | (string & {});

const berthRefusal: Refusal = (reply, error) => replyWithError(reply, error);

export function answering(label: RouteLabel, work: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>, refuse: Refusal = berthRefusal) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    request.berth.route = label;
    try {
      refuseNul(request);
      return await work(request, reply);
    } catch (err) {
      return refuse(reply, disclosed(err, request), request);
    }
  };
}

/**
 * A quota refusal with its figures (used, limit) for a caller who may pull every repository of
 * the quota's scope; for anyone else, as thrown: its scope and what the push needed (the rule:
 * domain/quotas.ts QuotaRefusal). Every route's errors pass here; ChartMuseum's too.
 */
export function disclosed(err: unknown, request: FastifyRequest): unknown {
  const who = request.berth.who;
  return err instanceof QuotaRefusal && who ? err.disclosedTo((scope) => permitsAll(who, "pull", scope)) : err;
}

// Who a change is made for, as the event stream records it (domain/changes.ts ChangeActor): read
// from the request that makes it and handed down to the service that writes, never kept aside.
import type { FastifyRequest } from "fastify";
import { describeIdentity, type Identity } from "../auth/identity.ts";
import type { ChangeActor } from "../domain/changes.ts";

export function actorOf(request: FastifyRequest, who: Identity): ChangeActor {
  // A bearer token acts for the principal it was issued to: the event names that principal's kind.
  const kind = who.kind === "bearer" ? who.principal.kind : who.kind;
  const agent = request.headers["user-agent"];
  return { name: describeIdentity(who), kind, address: request.ip, userAgent: typeof agent === "string" ? agent.slice(0, 512) : null, requestId: String(request.id) };
}

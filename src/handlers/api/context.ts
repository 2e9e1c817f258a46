// What every management handler receives, and the one way it reads a JSON body: a zod schema,
// with a refusal that names each bad field by its path.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { Identity } from "../../auth/identity.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { Actor, IdentityService } from "../../services/identities/identity-service.ts";

export interface ApiContext {
  request: FastifyRequest;
  reply: FastifyReply;
  who: Identity;
  /** Who the audit trail names for a change. */
  by: Actor;
  identities: IdentityService;
}

export type ApiHandler = (ctx: ApiContext) => Promise<unknown>;

/** The body checked against `schema`; a missing body reads as `{}` (every field optional then). */
export function bodyOf<S extends z.ZodType>(ctx: ApiContext, schema: S): z.infer<S> {
  const result = schema.safeParse(ctx.request.body ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.map(String).join(".") || "(body)", message: issue.message }));
  const first = issues[0]!;
  throw new RegistryError("INVALID_REQUEST", `invalid request body: ${first.path}: ${first.message}`, { issues });
}

/** A route parameter, as Fastify decoded it. */
export function param(ctx: ApiContext, name: string): string {
  return (ctx.request.params as Record<string, string>)[name] ?? "";
}

export function slotParam(ctx: ApiContext): number {
  const text = param(ctx, "slot");
  return /^[0-9]$/.test(text) ? Number(text) : Number.NaN;
}

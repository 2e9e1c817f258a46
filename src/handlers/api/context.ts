// What every /api/v1 handler receives, and the one way it reads a JSON body or a query: a zod
// schema from src/api-contract/, with a refusal that names each bad field by its path.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { SettingsView } from "../../api-contract/settings.ts";
import type { Authorizer } from "../../auth/authorizer.ts";
import type { Access, Identity } from "../../auth/identity.ts";
import type { SessionService } from "../../auth/sessions.ts";
import type { Guard } from "../../http/guard.ts";
import type { ChangeActor } from "../../domain/changes.ts";
import type { Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { CatalogService } from "../../services/catalog/catalog-service.ts";
import type { SearchService } from "../../services/catalog/search-service.ts";
import type { Actor, IdentityService } from "../../services/identities/identity-service.ts";
import type { ManifestService } from "../../services/manifest-service.ts";
import type { DeletedContent } from "../../services/trash.ts";
import type { RetentionService } from "../../services/retention.ts";
import type { WebhookService } from "../../services/events/webhook-service.ts";
import type { RegistryMetadata } from "../../services/provenance/registry-metadata.ts";
import type { ProvenanceReports } from "../../services/provenance/report.ts";

export interface ApiServices {
  identities: IdentityService;
  reports: ProvenanceReports;
  registryMetadata: RegistryMetadata;
  catalog: CatalogService;
  search: SearchService;
  manifests: ManifestService;
  /** Soft delete: what can be restored, and restoring it (trash.ts). */
  deleted: DeletedContent;
  /** deletion.restorableFor: seconds a delete stays restorable (0: off). */
  restorableFor: number;
  sessions: SessionService;
  webhooks: WebhookService;
  retention: RetentionService;
  /** What the configuration sets, as GET /api/v1/settings shows it. */
  settings: SettingsView;
  /** Configured base URL (its origin is accepted as a request's Origin besides the Host's). */
  publicUrl?: string | undefined;
}

export interface ApiContext extends ApiServices {
  request: FastifyRequest;
  reply: FastifyReply;
  who: Identity;
  guard: Guard;
  /** Who the audit trail names for a change. */
  by: Actor;
  /** Who the change log names for a change (the event's actor). */
  actor: ChangeActor;
  /** Who may see what (Authorizer.shows), what the caller may do (may). */
  authorizer: Authorizer;
  /**
   * Checks accesses known only once the handler has read rows (a repository's delete: each of its
   * manifests, bound to the locks of the tags covering it), exactly as the guard checks a route's.
   */
  require: (wanted: readonly Access[]) => Promise<void>;
  /** For lists open to any sign-in: anonymous callers only while anonymous pull is on (401 otherwise). */
  signedIn: () => void;
}

export type ApiHandler = (ctx: ApiContext) => Promise<unknown>;

function parsed<S extends z.ZodType>(schema: S, value: unknown, what: "request body" | "query"): z.infer<S> {
  // No body at all reads as {}; a body that says `null` is a body, and no object (found by attack:
  // `-d null` on POST /api/v1/retention-runs started a real run).
  const result = schema.safeParse(value === undefined ? {} : value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.map(String).join(".") || `(${what === "query" ? "query" : "body"})`, message: issue.message }));
  const first = issues[0]!;
  throw new RegistryError("INVALID_REQUEST", `invalid ${what}: ${first.path}: ${first.message}`, { issues });
}

/** The body checked against `schema`; a missing body reads as `{}` (every field optional then). */
export function bodyOf<S extends z.ZodType>(ctx: ApiContext, schema: S): z.infer<S> {
  return parsed(schema, ctx.request.body, "request body");
}

export function queryOf<S extends z.ZodType>(ctx: ApiContext, schema: S): z.infer<S> {
  return parsed(schema, ctx.request.query, "query");
}

/** A route parameter, as Fastify decoded it. */
export function param(ctx: ApiContext, name: string): string {
  return (ctx.request.params as Record<string, string>)[name] ?? "";
}

export function slotParam(ctx: ApiContext): number {
  const text = param(ctx, "slot");
  return /^[0-9]$/.test(text) ? Number(text) : Number.NaN;
}

/**
 * Whether this caller may be shown content of `repository` named by digest (Authorizer.showsContent),
 * asked once per digest: for what a page reaches from a manifest it may read (referrers, an
 * index's children, signatures), which a read-locked tag of their own may still cover.
 */
export function contentShown(ctx: ApiContext, repository: string): (digest: Digest) => Promise<boolean> {
  const asked = new Map<Digest, Promise<boolean>>();
  return (digest) => {
    let answer = asked.get(digest);
    if (!answer) asked.set(digest, (answer = ctx.authorizer.showsContent(ctx.who, repository, digest)));
    return answer;
  };
}

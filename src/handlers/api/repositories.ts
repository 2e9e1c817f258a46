// Repository and tag attributes (ACR: `az acr repository update`, REST "Update Attributes") and
// the audit trail. Repository names hold slashes, so the attribute routes take the rest of the
// path and read the name up to /attributes.
import { z } from "zod";
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import { bodyOf, type ApiContext } from "./context.ts";

export const REPOSITORIES_PREFIX = "/api/v1/repositories/";
const ATTRIBUTES_SUFFIX = "/attributes";

const AttributesQuery = z.strictObject({ tag: z.string().optional() });
const AttributesPatch = z.strictObject({
  readEnabled: z.boolean().optional(),
  writeEnabled: z.boolean().optional(),
  deleteEnabled: z.boolean().optional(),
  listEnabled: z.boolean().optional(),
  anonymousPull: z.boolean().optional(),
});
const AuditQuery = z.strictObject({ limit: z.string().regex(/^[0-9]{1,6}$/, "a whole number").optional() });

/** The repository of /api/v1/repositories/<name>/attributes. */
export function attributesRepository(url: string): RepositoryName {
  const path = url.split("?")[0]!;
  const rest = path.startsWith(REPOSITORIES_PREFIX) ? path.slice(REPOSITORIES_PREFIX.length) : "";
  if (!rest.endsWith(ATTRIBUTES_SUFFIX)) {
    throw new RegistryError("UNSUPPORTED", "no such endpoint: repository attributes are at /api/v1/repositories/<name>/attributes", { path: path.slice(0, 300) });
  }
  return parseRepositoryName(rest.slice(0, -ATTRIBUTES_SUFFIX.length));
}

function query<S extends z.ZodType>(ctx: ApiContext, schema: S): z.infer<S> {
  const result = schema.safeParse(ctx.request.query ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.map(String).join(".") || "(query)", message: issue.message }));
  throw new RegistryError("INVALID_REQUEST", `invalid query: ${issues[0]!.path}: ${issues[0]!.message}`, { issues });
}

export async function getAttributes(ctx: ApiContext) {
  return ctx.identities.attributes.get(attributesRepository(ctx.request.url), query(ctx, AttributesQuery).tag ?? "");
}

export async function patchAttributes(ctx: ApiContext) {
  const tag = query(ctx, AttributesQuery).tag ?? "";
  return ctx.identities.attributes.update(ctx.by, attributesRepository(ctx.request.url), tag, bodyOf(ctx, AttributesPatch));
}

export async function getAudit(ctx: ApiContext) {
  const { limit } = query(ctx, AuditQuery);
  const events = await ctx.identities.audit(limit === undefined ? undefined : Number(limit));
  return {
    events: events.map((e) => ({ at: e.at, event: e.event, identity: e.identity, action: e.action, repository: e.repository, outcome: e.outcome, client: e.client, detail: e.detail })),
  };
}

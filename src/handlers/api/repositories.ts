// Repository and tag attributes (ACR: `az acr repository update`, REST "Update Attributes") and
// the audit trail. Repository names hold slashes, so the attribute routes take the rest of the
// path and read the name up to /attributes.
import { AttributesPatch, AttributesQuery, AuditQuery } from "../../api-contract/repositories.ts";
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName, type RepositoryName } from "../../domain/names.ts";
import { bodyOf, queryOf, type ApiContext } from "./context.ts";

export const REPOSITORIES_PREFIX = "/api/v1/repositories/";
const ATTRIBUTES_SUFFIX = "/attributes";

/** The repository of /api/v1/repositories/<name>/attributes. */
export function attributesRepository(url: string): RepositoryName {
  const path = url.split("?")[0]!;
  const rest = path.startsWith(REPOSITORIES_PREFIX) ? path.slice(REPOSITORIES_PREFIX.length) : "";
  if (!rest.endsWith(ATTRIBUTES_SUFFIX)) {
    throw new RegistryError("UNSUPPORTED", "no such endpoint: repository attributes are at /api/v1/repositories/<name>/attributes", { path: path.slice(0, 300) });
  }
  return parseRepositoryName(rest.slice(0, -ATTRIBUTES_SUFFIX.length));
}

export async function getAttributes(ctx: ApiContext) {
  return ctx.identities.attributes.get(attributesRepository(ctx.request.url), queryOf(ctx, AttributesQuery).tag ?? "");
}

export async function patchAttributes(ctx: ApiContext) {
  const tag = queryOf(ctx, AttributesQuery).tag ?? "";
  return ctx.identities.attributes.update(ctx.by, attributesRepository(ctx.request.url), tag, bodyOf(ctx, AttributesPatch));
}

export async function getAudit(ctx: ApiContext) {
  const { limit, from, to, ...exact } = queryOf(ctx, AuditQuery);
  const filter = { ...exact, ...(from ? { from: new Date(from) } : {}), ...(to ? { to: new Date(to) } : {}) };
  const events = await ctx.identities.audit(limit === undefined ? undefined : Number(limit), filter);
  return {
    events: events.map((e) => ({ id: e.id, at: e.at, event: e.event, identity: e.identity, action: e.action, repository: e.repository, outcome: e.outcome, client: e.client, detail: e.detail })),
  };
}

/** GET /api/v1/attributes: every stored attribute row (an owner's way to find what listings hide). */
export async function getAttributeRows(ctx: ApiContext) {
  return { attributes: await ctx.identities.attributes.list() };
}

/** GET /api/v1/settings: what the configuration sets, as it is running. */
export async function getSettings(ctx: ApiContext) {
  return ctx.settings;
}

// Berth's /api/v1 endpoint table (identities, scope maps, tokens, attributes, audit, provenance,
// registry-side metadata), with the access each route needs; the guard checks it before a handler
// runs. Every identity route needs `manage` on registry:identities (an unscoped owner); reading
// attributes needs metadata_read on the repository, changing them (locks, anonymous pull) `manage`
// on it. Bodies: src/api-contract/endpoints.ts (a test holds this table and that one together).
// GET /api/v1/charts is the Helm plugin's (handlers/helm/plugin.ts), which holds the chart index.
import type { FastifyRequest } from "fastify";
import { MANAGE, type Access } from "../../auth/identity.ts";
import type { ApiHandler } from "./context.ts";
import {
  deleteServicePrincipal, deleteUser, getAdmin, getServicePrincipals, getUsers, patchAdmin, postAdminPassword, postServicePrincipal,
  postServicePrincipalSecret, postUser, postUserPassword,
} from "./identities.ts";
import { deleteMetadata, getMetadata, getReport, METADATA_PREFIX, onMetadata, onReport, PROVENANCE_PREFIX, putMetadata } from "./provenance.ts";
import { deleteSession, getSession, postSession } from "./session.ts";
import { deleteRepositoryResource, getRepositories, getRepositoryResource, onRepositoryPath } from "./catalog.ts";
import { CHARTS_PREFIX, getChart, onChart } from "./charts.ts";
import { DELETED_PREFIX, deletePurge, getDeleted, onDeleted, onRestore, postRestore } from "./deleted.ts";
import { attributesRepository, getAttributeRows, getAttributes, getAudit, getSettings, patchAttributes, REPOSITORIES_PREFIX } from "./repositories.ts";
import { getSearch } from "./search.ts";
import { deleteTagRule, getTagRules, postTagRule } from "./tag-rules.ts";
import { deleteQuota, getQuotas, putQuota, QUOTAS_PREFIX } from "./quotas.ts";
import { deleteRetentionPolicy, getRetentionPolicies, postRetentionPolicy, postRetentionRun } from "./retention.ts";
import { deleteWebhook, getDeliveries, getEvents, getWebhook, getWebhooks, patchWebhook, postPing, postRedeliver, postWebhook } from "./webhooks.ts";
import {
  deleteScopeMap, deleteToken, deleteTokenPassword, getScopeMap, getScopeMaps, getTokens, patchToken, postToken, postTokenPassword, putScopeMap,
} from "./tokens.ts";

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiRoute {
  method: Method;
  url: string;
  handler: ApiHandler;
  access: (request: FastifyRequest) => Access[];
  /** The handler identifies the caller itself (the session routes); the guard does not run. */
  open?: true;
}

const manage = (): Access[] => [MANAGE];
/** No access beyond who asks: the handler shows only what the caller may pull (Authorizer.shows). */
const signedIn = (): Access[] => [];
const onRepository = (action: "metadata_read" | "manage") => (request: FastifyRequest): Access[] => [
  { type: "repository", name: attributesRepository(request.url), action },
];

export const API_ROUTES: ApiRoute[] = [
  { method: "GET", url: "/api/v1/session", handler: getSession, access: () => [], open: true },
  { method: "POST", url: "/api/v1/session", handler: postSession, access: () => [], open: true },
  { method: "DELETE", url: "/api/v1/session", handler: deleteSession, access: () => [], open: true },

  { method: "GET", url: "/api/v1/admin", handler: getAdmin, access: manage },
  { method: "PATCH", url: "/api/v1/admin", handler: patchAdmin, access: manage },
  { method: "POST", url: "/api/v1/admin/passwords/:slot", handler: postAdminPassword, access: manage },

  { method: "GET", url: "/api/v1/users", handler: getUsers, access: manage },
  { method: "POST", url: "/api/v1/users", handler: postUser, access: manage },
  { method: "DELETE", url: "/api/v1/users/:name", handler: deleteUser, access: manage },
  { method: "POST", url: "/api/v1/users/:name/password", handler: postUserPassword, access: manage },

  { method: "GET", url: "/api/v1/service-principals", handler: getServicePrincipals, access: manage },
  { method: "POST", url: "/api/v1/service-principals", handler: postServicePrincipal, access: manage },
  { method: "POST", url: "/api/v1/service-principals/:id/secret", handler: postServicePrincipalSecret, access: manage },
  { method: "DELETE", url: "/api/v1/service-principals/:id", handler: deleteServicePrincipal, access: manage },

  { method: "GET", url: "/api/v1/scope-maps", handler: getScopeMaps, access: manage },
  { method: "GET", url: "/api/v1/scope-maps/:name", handler: getScopeMap, access: manage },
  { method: "PUT", url: "/api/v1/scope-maps/:name", handler: putScopeMap, access: manage },
  { method: "DELETE", url: "/api/v1/scope-maps/:name", handler: deleteScopeMap, access: manage },

  { method: "GET", url: "/api/v1/tag-rules", handler: getTagRules, access: manage },
  { method: "POST", url: "/api/v1/tag-rules", handler: postTagRule, access: manage },
  { method: "DELETE", url: "/api/v1/tag-rules/:id", handler: deleteTagRule, access: manage },
  { method: "GET", url: "/api/v1/retention-policies", handler: getRetentionPolicies, access: manage },
  { method: "POST", url: "/api/v1/retention-policies", handler: postRetentionPolicy, access: manage },
  { method: "DELETE", url: "/api/v1/retention-policies/:id", handler: deleteRetentionPolicy, access: manage },
  { method: "POST", url: "/api/v1/retention-runs", handler: postRetentionRun, access: manage },

  { method: "GET", url: "/api/v1/quotas", handler: getQuotas, access: manage },
  { method: "PUT", url: "/api/v1/quotas", handler: putQuota, access: manage },
  { method: "DELETE", url: `${QUOTAS_PREFIX}*`, handler: deleteQuota, access: manage },

  { method: "GET", url: "/api/v1/tokens", handler: getTokens, access: manage },
  { method: "POST", url: "/api/v1/tokens", handler: postToken, access: manage },
  { method: "PATCH", url: "/api/v1/tokens/:name", handler: patchToken, access: manage },
  { method: "POST", url: "/api/v1/tokens/:name/passwords/:slot", handler: postTokenPassword, access: manage },
  { method: "DELETE", url: "/api/v1/tokens/:name/passwords/:slot", handler: deleteTokenPassword, access: manage },
  { method: "DELETE", url: "/api/v1/tokens/:name", handler: deleteToken, access: manage },

  // The portal's read API (catalog.ts): listing needs only a sign-in (or anonymous pull) and
  // shows what the caller may pull; the rest of the path decides the access (onRepositoryPath).
  { method: "GET", url: "/api/v1/events", handler: getEvents, access: manage },
  { method: "GET", url: "/api/v1/webhooks", handler: getWebhooks, access: manage },
  { method: "POST", url: "/api/v1/webhooks", handler: postWebhook, access: manage },
  { method: "GET", url: "/api/v1/webhooks/:name", handler: getWebhook, access: manage },
  { method: "PATCH", url: "/api/v1/webhooks/:name", handler: patchWebhook, access: manage },
  { method: "DELETE", url: "/api/v1/webhooks/:name", handler: deleteWebhook, access: manage },
  { method: "POST", url: "/api/v1/webhooks/:name/ping", handler: postPing, access: manage },
  { method: "GET", url: "/api/v1/webhooks/:name/deliveries", handler: getDeliveries, access: manage },
  { method: "POST", url: "/api/v1/webhooks/:name/deliveries/:id/redeliver", handler: postRedeliver, access: manage },

  { method: "GET", url: "/api/v1/repositories", handler: getRepositories, access: signedIn },
  { method: "GET", url: `${REPOSITORIES_PREFIX}*`, handler: (ctx) => getRepositoryResource(ctx, getAttributes), access: onRepositoryPath },
  { method: "PATCH", url: `${REPOSITORIES_PREFIX}*`, handler: patchAttributes, access: onRepository("manage") },
  { method: "DELETE", url: `${REPOSITORIES_PREFIX}*`, handler: deleteRepositoryResource, access: onRepositoryPath },
  // Soft delete: who may delete in a repository may list what was deleted there and purge it; restoring is a push too.
  { method: "GET", url: `${DELETED_PREFIX}*`, handler: getDeleted, access: onDeleted },
  { method: "POST", url: `${DELETED_PREFIX}*`, handler: postRestore, access: onRestore },
  { method: "DELETE", url: `${DELETED_PREFIX}*`, handler: deletePurge, access: onDeleted },
  { method: "GET", url: `${CHARTS_PREFIX}*`, handler: getChart, access: onChart },
  { method: "GET", url: "/api/v1/search", handler: getSearch, access: signedIn },

  { method: "GET", url: "/api/v1/audit", handler: getAudit, access: manage },
  { method: "GET", url: "/api/v1/attributes", handler: getAttributeRows, access: manage },
  { method: "GET", url: "/api/v1/settings", handler: getSettings, access: manage },

  { method: "GET", url: `${PROVENANCE_PREFIX}*`, handler: getReport, access: onReport },

  { method: "GET", url: `${METADATA_PREFIX}*`, handler: getMetadata, access: onMetadata("metadata_read") },
  { method: "PUT", url: `${METADATA_PREFIX}*`, handler: putMetadata, access: onMetadata("metadata_write") },
  { method: "DELETE", url: `${METADATA_PREFIX}*`, handler: deleteMetadata, access: onMetadata("metadata_write") },
];

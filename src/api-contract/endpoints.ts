// Every endpoint under /api, with its request and response bodies: the one list the handlers'
// route tables are checked against (test/unit/api-contract.test.ts), the HTTP tests validate
// answers with (test/support/api-contract.ts), and docs/api.md is rendered from.
// Path templates: {name} is one segment; {name...} is one or more (repository names hold slashes).
// Order matters where templates overlap: the first match wins, as in the handlers.
import type { z } from "zod";
import * as cat from "./catalog.ts";
import { ChartDetail, ChartDetailQuery, ChartList, ChartListQuery, ChartListing, ChartVersionEntry, ChartVersions, Saved } from "./charts.ts";
import { Deleted, Empty, ErrorBody, MuseumErrorBody } from "./common.ts";
import { DeletedList, DeletedListQuery, Purged, PurgeQuery, Restored, RestoreBody } from "./deleted.ts";
import * as id from "./identities.ts";
import * as pv from "./provenance.ts";
import { SessionView, SignIn } from "./session.ts";
import { SearchAnswer, SearchQuery } from "./search.ts";
import { AttributeRowList, AttributesPatch, AttributesQuery, AttributesView, AuditList, AuditQuery } from "./repositories.ts";
import { SettingsView } from "./settings.ts";
import { TagRuleBody, TagRuleList, TagRuleView } from "./tag-rules.ts";
import { QuotaBody, QuotaList, QuotaView } from "./quotas.ts";
import { RetentionPolicyBody, RetentionPolicyList, RetentionPolicyView, RetentionRunBody, RetentionRunView } from "./retention.ts";
import * as wh from "./webhooks.ts";

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Endpoint {
  method: Method;
  path: string;
  summary: string;
  /** Who may call it, in words (the route tables hold the Access each needs). */
  access: string;
  query?: z.ZodType;
  /** A JSON body; `raw` for a chart package or .prov file (or multipart/form-data). */
  body?: z.ZodType | "raw";
  /** Success statuses and their bodies; null: no body (HEAD). */
  responses: Partial<Record<number, z.ZodType | null>>;
  /** The body of every refusal. */
  error: z.ZodType;
}

const MANAGE = "owner without a scope (the admin, or a user or service principal with role owner)";
const berth = (method: Method, path: string, summary: string, access: string, responses: Endpoint["responses"], more: Partial<Endpoint> = {}): Endpoint => ({
  method, path, summary, access, responses, error: ErrorBody, ...more,
});
const museum = (method: Method, path: string, summary: string, access: string, responses: Endpoint["responses"], more: Partial<Endpoint> = {}): Endpoint => ({
  method, path, summary, access, responses, error: MuseumErrorBody, ...more,
});

export const ENDPOINTS: readonly Endpoint[] = [
  berth("GET", "/api/v1/session", "who the portal session is, with its CSRF token (identity null when not signed in)", "anyone", { 200: SessionView }),
  berth("POST", "/api/v1/session", "sign in: sets the HttpOnly session cookie; failures count against the sign-in rate limit", "anyone with valid credentials", { 200: SessionView }, { body: SignIn }),
  berth("DELETE", "/api/v1/session", "sign out: ends the session on the server and clears the cookie (needs X-Berth-CSRF)", "the session itself", { 200: Deleted }),

  berth("GET", "/api/v1/admin", "the admin account: enabled, and when each password was set", MANAGE, { 200: id.AdminView }),
  berth("PATCH", "/api/v1/admin", "enable or disable the admin account (refused while no other unscoped owner is enabled)", MANAGE, { 200: id.AdminView }, { body: id.AdminPatch }),
  berth("POST", "/api/v1/admin/passwords/{slot}", "generate the admin's password 1 or 2, shown once", MANAGE, { 200: id.AdminPassword }, { body: Empty }),

  berth("GET", "/api/v1/users", "every user", MANAGE, { 200: id.UserList }),
  berth("POST", "/api/v1/users", "add a user; without a password one is generated and shown once", MANAGE, { 201: id.CreatedUser }, { body: id.NewUser }),
  berth("DELETE", "/api/v1/users/{name}", "delete a user; its password stops working at once", MANAGE, { 200: Deleted }),
  berth("POST", "/api/v1/users/{name}/password", "set or generate a user's password", MANAGE, { 200: id.UserPassword }, { body: id.NewPassword }),

  berth("GET", "/api/v1/service-principals", "every service principal", MANAGE, { 200: id.ServicePrincipalList }),
  berth("POST", "/api/v1/service-principals", "create a service principal; its secret is shown once", MANAGE, { 201: id.CreatedServicePrincipal }, { body: id.NewServicePrincipal }),
  berth("POST", "/api/v1/service-principals/{id}/secret", "generate a new secret, shown once", MANAGE, { 200: id.ServicePrincipalSecret }, { body: Empty }),
  berth("DELETE", "/api/v1/service-principals/{id}", "delete a service principal", MANAGE, { 200: Deleted }),

  berth("GET", "/api/v1/scope-maps", "every scope map", MANAGE, { 200: id.ScopeMapList }),
  berth("GET", "/api/v1/scope-maps/{name}", "one scope map", MANAGE, { 200: id.ScopeMapView }),
  berth("PUT", "/api/v1/scope-maps/{name}", "create (201) or replace (200) a scope map", MANAGE, { 200: id.ScopeMapView, 201: id.ScopeMapView }, { body: id.ScopeMapBody }),
  berth("DELETE", "/api/v1/scope-maps/{name}", "delete a scope map no token uses", MANAGE, { 200: Deleted }),

  berth("GET", "/api/v1/tokens", "every token (no passwords)", MANAGE, { 200: id.TokenList }),
  berth("POST", "/api/v1/tokens", "create a token bound to a scope map; password 1 is shown once", MANAGE, { 201: id.CreatedToken }, { body: id.NewToken }),
  berth("PATCH", "/api/v1/tokens/{name}", "enable, disable or rebind a token", MANAGE, { 200: id.TokenView }, { body: id.TokenPatch }),
  berth("POST", "/api/v1/tokens/{name}/passwords/{slot}", "generate password 1 or 2, shown once", MANAGE, { 200: id.IssuedPassword }, { body: id.PasswordOptions }),
  berth("DELETE", "/api/v1/tokens/{name}/passwords/{slot}", "remove password 1 or 2", MANAGE, { 200: Deleted }),
  berth("DELETE", "/api/v1/tokens/{name}", "delete a token", MANAGE, { 200: Deleted }),

  // A repository name never ends in /attributes, /tags, /manifests or /manifests/<reference> here:
  // those suffixes name the sub-resource (a repository whose name ends so is found by the list's q).
  berth("GET", "/api/v1/repositories", "repository summaries the caller may see: kind, tags, size, last push (?q= ?kind= ?sort=name|pushed|size ?order= ?n= ?last=)", "signed in (anonymous when anonymous pull is on); lists what the caller may pull", { 200: cat.RepositoryList }, { query: cat.RepositoryListQuery }),
  berth("GET", "/api/v1/repositories/{repository...}/attributes", "a repository's attributes, or with ?tag= a tag's", "metadata_read on the repository", { 200: AttributesView }, { query: AttributesQuery }),
  berth("PATCH", "/api/v1/repositories/{repository...}/attributes", "lock, hide or open a repository (or with ?tag= a tag)", "owner of the repository", { 200: AttributesView }, { query: AttributesQuery, body: AttributesPatch }),
  berth("GET", "/api/v1/repositories/{repository...}/tags", "a repository's tags with digest, size, platforms, last push, signed (?sort=name|time_desc|time_asc ?q= ?n= ?last=); a walk by time (?last=) lists each tag once, those pushed since its first page at the end (oldest first), so a tag moved or pushed again mid-walk is not missed (one pushed again after the walk listed it comes again there)", "pull on the repository; lists the tags listEnabled shows", { 200: cat.TagList }, { query: cat.TagListQuery }),
  berth("GET", "/api/v1/repositories/{repository...}/manifests/{reference}", "one manifest (by tag or digest): config, layers, annotations, labels, platforms, referrers tree, chart", "pull on the repository (tag locks apply)", { 200: cat.ManifestDetail }),
  berth("GET", "/api/v1/repositories/{repository...}/manifests", "a repository's manifests, newest push first; a walk (?last=) then lists those pushed since its first page, oldest first, so a manifest pushed again mid-walk is not missed (it may be listed twice) (?untagged=true ?n= ?last=)", "pull on the repository", { 200: cat.ManifestList }, { query: cat.ManifestListQuery }),
  berth("GET", "/api/v1/repositories/{repository...}", "one repository's summary, with what the caller may do to it", "pull on the repository", { 200: cat.RepositoryDetail }),
  berth("DELETE", "/api/v1/repositories/{repository...}/tags/{tag}", "delete a tag (its manifest stays)", "delete on the tag (its locks apply), as DELETE /v2/<name>/manifests/<tag>", { 200: Deleted }),
  berth("DELETE", "/api/v1/repositories/{repository...}/manifests/{digest}", "delete a manifest and every tag on it", "delete on the digest (the locks of every tag covering it apply), as DELETE /v2/<name>/manifests/<digest>", { 200: Deleted }),
  berth("DELETE", "/api/v1/repositories/{repository...}", "delete every manifest and tag of a repository, in one transaction", "delete on the repository and on each of its tags (a delete-locked tag refuses it)", { 200: Deleted }),
  berth("GET", "/api/v1/deleted/{repository...}", "soft delete: the repository's deleted tags and manifests that can still be restored, newest first, paged (?n= ?last=); tags hidden from listings (listEnabled false) are left out; empty when deletion.restorableFor is 0", "delete on the repository", { 200: DeletedList }, { query: DeletedListQuery }),
  berth("POST", "/api/v1/deleted/{repository...}", "soft delete: restore a deleted tag (with its manifest) or manifest (with the tags deleted with it), as a push: 409 when a tag was pushed again since (unless force) or content it needs is gone", "delete and push on the repository", { 200: Restored }, { body: RestoreBody }),
  berth("DELETE", "/api/v1/deleted/{repository...}", "soft delete: purge now what the repository's deletes kept restorable (?reference= a tag or digest: only those records), so the next gc frees what only it used; one delete event (purged) per record; 404 when a reference names nothing", "delete on the repository", { 200: Purged }, { query: PurgeQuery }),

  berth("GET", "/api/v1/tag-rules", "every tag immutability rule, oldest first", MANAGE, { 200: TagRuleList }),
  berth("POST", "/api/v1/tag-rules", "create a tag immutability rule: tags it covers, once pushed, are never moved or deleted (DENIED names the rule)", MANAGE, { 201: TagRuleView }, { body: TagRuleBody }),
  berth("DELETE", "/api/v1/tag-rules/{id}", "remove a tag immutability rule", MANAGE, { 200: Deleted }),

  berth("GET", "/api/v1/quotas", "every storage quota with what its scope holds now (counted when asked: exact)", MANAGE, { 200: QuotaList }),
  berth("PUT", "/api/v1/quotas", "set a storage quota (create, or change the limit of the scope's): a push that would pass it is refused with DENIED naming it", MANAGE, { 200: QuotaView }, { body: QuotaBody }),
  berth("DELETE", "/api/v1/quotas/{scope...}", "remove a storage quota (the scope as set: *, team/*, team/app)", MANAGE, { 200: Deleted }),
  berth("GET", "/api/v1/retention-policies", "every retention policy, oldest first", MANAGE, { 200: RetentionPolicyList }),
  berth("POST", "/api/v1/retention-policies", "create a retention policy: untaggedDays (untagged manifests pushed N days ago or more go) or keepNewest with tags (only the newest N matching tags stay)", MANAGE, { 201: RetentionPolicyView }, { body: RetentionPolicyBody }),
  berth("DELETE", "/api/v1/retention-policies/{id}", "remove a retention policy", MANAGE, { 200: Deleted }),
  berth("POST", "/api/v1/retention-runs", "run every retention policy now (dryRun: list what would go, delete nothing); each item with its reason, skipped ones with why; a real run is a retention event", MANAGE, { 200: RetentionRunView }, { body: RetentionRunBody }),

  berth("GET", "/api/v1/audit", "the audit trail, newest first, filtered on the server (?identity= ?event= ?action= ?repository= ?outcome= ?from= ?to= ?limit=, default 100)", MANAGE, { 200: AuditList }, { query: AuditQuery }),
  berth("GET", "/api/v1/attributes", "every repository and tag with attributes of its own (locked, hidden, anonymous pull), so an owner finds what a listing hides", MANAGE, { 200: AttributeRowList }),
  berth("GET", "/api/v1/settings", "what the configuration sets (anonymous pull, push and pull policies, signature verification): read-only here", MANAGE, { 200: SettingsView }),

  berth("GET", "/api/v1/charts", "every chart version the caller may see, however stored, read-locked ones left out (?q=; with ?n= and ?last= a page)", "signed in (anonymous when anonymous pull is on); lists what the caller may pull", { 200: ChartList }, { query: ChartListQuery }),
  berth("GET", "/api/v1/charts/{repository...}", "one chart (repository <namespace>/<name>): its versions, Chart.yaml, README.md and values.yaml of ?version= (default newest)", "pull on the repository; lists the versions listEnabled shows", { 200: ChartDetail }, { query: ChartDetailQuery }),

  berth("GET", "/api/v1/search", "manifests whose labels, annotations, signatures or provenance match (?label=k=v ?label=k~v ?annotation= ?dockerfile= ?unsigned=true ?unverified=true ?builder= ?repository= ?n= ?last=)", "signed in (anonymous when anonymous pull is on); finds what the caller may pull", { 200: SearchAnswer }, { query: SearchQuery }),

  berth("GET", "/api/v1/provenance/{repository...}/{reference}", "the provenance report of a tag or digest (also …/<repository>@<digest>)", "pull on the repository (tag locks apply)", { 200: pv.ProvenanceReport }),

  berth("GET", "/api/v1/metadata/{target...}/_values", "every metadata value of a repository, or of a digest (<repository>@<digest>)", "metadata_read", { 200: pv.MetadataValues }),
  berth("GET", "/api/v1/metadata/{target...}/_history", "every change, oldest first (?key= for one key)", "metadata_read", { 200: pv.MetadataHistory }, { query: pv.MetadataHistoryQuery }),
  berth("GET", "/api/v1/metadata/{target...}/{key}", "one metadata value", "metadata_read", { 200: pv.MetadataEntry }),
  berth("PUT", "/api/v1/metadata/{target...}/{key}", "set a metadata value", "metadata_write", { 200: pv.MetadataSet }, { body: pv.MetadataBody }),
  berth("DELETE", "/api/v1/metadata/{target...}/{key}", "delete a metadata value", "metadata_write", { 200: pv.MetadataDeleted }),

  berth("GET", "/api/v1/events", "the event stream, oldest first: every push, delete, chart push/delete, referrer, identity change and retention run with its actor and target (?after= cursor ?limit= ?action= ?repository=: a page holds up to limit events of that action and repository, however rare; ?order=newest&before= pages backwards from the newest)", MANAGE, { 200: wh.EventList }, { query: wh.EventsQuery }),
  berth("GET", "/api/v1/webhooks", "every webhook (no secrets)", MANAGE, { 200: wh.WebhookList }),
  berth("POST", "/api/v1/webhooks", "create a webhook; its signing secret is shown once; the URL's host must be allowed (webhooks.allowedHosts, private addresses refused unless webhooks.allowPrivateAddresses)", MANAGE, { 201: wh.CreatedWebhook }, { body: wh.NewWebhook }),
  berth("GET", "/api/v1/webhooks/{name}", "one webhook", MANAGE, { 200: wh.WebhookView }),
  berth("PATCH", "/api/v1/webhooks/{name}", "change a webhook (URL checked again); rotateSecret shows the new secret once", MANAGE, { 200: wh.UpdatedWebhook }, { body: wh.WebhookPatch }),
  berth("DELETE", "/api/v1/webhooks/{name}", "delete a webhook and its deliveries", MANAGE, { 200: Deleted }),
  berth("POST", "/api/v1/webhooks/{name}/ping", "send a ping now (outside the queue) and answer with the delivery", MANAGE, { 200: wh.DeliveryView }, { body: Empty }),
  berth("GET", "/api/v1/webhooks/{name}/deliveries", "the webhook's deliveries, newest first: request, response status, latency, error (?limit=, default 20)", MANAGE, { 200: wh.DeliveryList }, { query: wh.DeliveriesQuery }),
  berth("POST", "/api/v1/webhooks/{name}/deliveries/{id}/redeliver", "send a finished delivery again, before the webhook's newer ones", MANAGE, { 200: wh.DeliveryView }, { body: Empty }),

  // ChartMuseum's API; each path also answers under /api/helm/v1/<repository>/… as ChartMuseum's
  // multitenant form does. The repository is a classic repository (a namespace of charts).
  museum("GET", "/api/{repository...}/charts", "every chart of the repository, by name", "pull on each version listed", { 200: ChartListing }),
  museum("HEAD", "/api/{repository...}/charts/{name}", "does the chart exist", "pull", { 200: null }),
  museum("GET", "/api/{repository...}/charts/{name}", "every version of a chart", "pull", { 200: ChartVersions }),
  museum("HEAD", "/api/{repository...}/charts/{name}/{version}", "does the version exist", "pull", { 200: null }),
  museum("GET", "/api/{repository...}/charts/{name}/{version}", "one chart version", "pull", { 200: ChartVersionEntry }),
  museum("POST", "/api/{repository...}/charts", "upload a package (raw, or multipart with `chart` and `prov`; ?force overwrites)", "push on the chart version", { 201: Saved }, { body: "raw" }),
  museum("POST", "/api/{repository...}/prov", "upload a .prov file for a pushed version (raw or multipart `prov`)", "push on the chart version", { 201: Saved }, { body: "raw" }),
  museum("DELETE", "/api/{repository...}/charts/{name}/{version}", "delete a chart version", "delete on the chart version", { 200: Deleted }),
];

function pattern(template: string): RegExp {
  const source = template
    .split(/(\{[a-z]+(?:\.\.\.)?\})/i)
    .map((part) => (part.startsWith("{") ? (part.endsWith("...}") ? "(?:[^/]+/)*[^/]+" : "[^/]+") : part.replace(/[.*+?^$()[\]\\|]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}/?$`);
}

const MATCHERS = ENDPOINTS.map((endpoint) => ({ endpoint, re: pattern(endpoint.path) }));

/** /api/v1/ is Berth's alone: no ChartMuseum path starts there. */
export const API_PREFIX = "/api/v1/";

/** The endpoint a request reaches (by method and path, without the query), or undefined. */
export function findEndpoint(method: string, path: string): Endpoint | undefined {
  const bare = path.split("?")[0]!;
  const museumPath = bare.startsWith(API_PREFIX) ? null : bare.replace(/^\/api\/helm\/v1\//, "/api/");
  return MATCHERS.find((m) => m.endpoint.method === method && (m.endpoint.error === MuseumErrorBody ? museumPath !== null && m.re.test(museumPath) : m.re.test(bare)))?.endpoint;
}

// The exact-answer matrix of an outside attack on identity and access control: every route of
// the four route tables (OCI_ROUTES, API_ROUTES, CLASSIC_ROUTES, MUSEUM_ROUTES: enumerated from
// the code, and a route without a probe fails the first test) × every kind of credential, against
// one real `berth serve`. Where access-matrix.test.ts accepts "401 or 403", this one asks for the
// exact answer: the status, the error code, and the challenge (Bearer under /v2/, Basic elsewhere,
// `error="invalid_token"` for a token that does not verify, `insufficient_scope` for one short of
// scope), and for an allowed request the very answer the admin gets (the probes aim at missing
// things where they would change something, so every allowed probe answers alike).
//
// Expected refusals come from a small model of the grants (below), not from Berth's policy.ts.
// Credentials: none, a wrong password, the admin, a user per role, scoped service principals, a
// read-only scope-map token, a scope-map token for another repository, an exchanged refresh token
// (zero-GUID), an access token for pull on one repository, and tokens that must not verify: expired
// (signed with Berth's own key), signed with a forged key under Berth's key id, an unknown key id,
// alg none, a deleted user's, and a disabled token's password. Afterwards no password, secret or
// token may appear in the server's output.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateKeyPair, importJWK, SignJWT } from "jose";
import { API_ROUTES } from "../../src/handlers/api/routes.ts";
import { CLASSIC_ROUTES, MUSEUM_ROUTES } from "../../src/handlers/helm/routes.ts";
import { OCI_ROUTES } from "../../src/handlers/oci/routes.ts";
import { putChart } from "../support/access-probes.ts";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { accessTokenOf, api, basic, createServicePrincipal, createToken, createUser, exchange, getToken, patchAttributes, putScopeMap, ZERO_GUID } from "../support/identity-api.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, type TestImage } from "../support/oci-images.ts";

// --- the model -------------------------------------------------------------------------------

type Action = "pull" | "push" | "delete" | "metadata_read" | "metadata_write" | "manage" | "catalog";
const REPO = "team/app";
const OTHER = "other/app";
const HIDDEN = "team/hidden"; // readEnabled: false

/** What a credential may do: actions on repository patterns, and registry-wide ones. */
interface Grants {
  repositories: [pattern: string, actions: Action[]][];
  registry: Action[];
  /** An access token: refused answers under /v2/ are 401 insufficient_scope. */
  bearer?: boolean;
}

const ROLE: Record<string, Action[]> = {
  acrpull: ["pull", "metadata_read"],
  acrpush: ["pull", "push", "metadata_read", "metadata_write"],
  acrdelete: ["delete", "metadata_read"],
  owner: ["pull", "push", "delete", "metadata_read", "metadata_write", "manage"],
};
const everywhere = (role: string): Grants => ({ repositories: [["*", ROLE[role]!]], registry: [...ROLE[role]!.filter((a) => a === "manage"), "catalog"] });

function may(g: Grants, action: Action, repo: string | null): boolean {
  if (repo === null) return g.registry.includes(action);
  return g.repositories.some(([p, actions]) => actions.includes(action) && (p === "*" || p === repo || (p.endsWith("/*") && repo.startsWith(p.slice(0, -1)))));
}

interface Credential {
  name: string;
  authorization: string | null;
  /** null: refused whatever it asks (no credentials, or ones that do not verify). */
  grants: Grants | null;
  /** A Bearer token that must not verify: `invalid_token` in the challenge. */
  badToken?: boolean;
}

// --- the probes: one or more per route of the tables -----------------------------------------

type Surface = "oci" | "api" | "helm" | "museum";
interface Probe {
  /** The route it exercises, as `method route` of its table. */
  route: string;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  surface: Surface;
  /** What it needs; "signed-in": any known identity; "open": answers everyone. */
  need: { action: Action; repo: string | null } | "signed-in" | "open";
  /** A second action it needs as well, on the same repository (a restore: delete and push). */
  also?: Action;
  /** Helm finds charts by file: without a grant on the chart's repository the answer is 404. */
  byFile?: boolean;
  /** A Helm push reads the body before it knows the repository: 403 only for who may push nowhere. */
  pushSomewhere?: boolean;
  /** Another action that suffices (cancelling an upload: delete, or push). */
  orElse?: Action;
  /** Aims at a chart that does not exist, found by file: 404 for every caller that gets so far. */
  missing?: boolean;
}

const missingDigest = `sha256:${"e".repeat(64)}`;
const missingUpload = "00000000-0000-4000-8000-000000000000";

function probes(image: TestImage, otherImage: TestImage, upload: string): Probe[] {
  const on = (action: Action, repo: string | null = REPO) => ({ action, repo });
  const json = (body: unknown) => ({ body: JSON.stringify(body), contentType: "application/json" });
  const oci = (route: string, method: string, path: string, need: Probe["need"], extra: Partial<Probe> = {}): Probe => ({ route: `oci ${route} ${method}`, method, path: `/v2/${path}`, need, surface: "oci", ...extra });
  const apiProbe = (route: string, method: string, path: string, need: Probe["need"], extra: Partial<Probe> = {}): Probe => ({ route: `api ${method} ${route}`, method, path, need, surface: "api", ...extra });
  const layer = image.layers[0]!.digest;
  return [
    oci("base", "GET", "", "signed-in"),
    oci("base", "HEAD", "", "signed-in"),
    oci("catalog", "GET", "_catalog", on("catalog", null)),
    oci("tags", "GET", `${REPO}/tags/list`, on("pull")),
    oci("tags", "GET", `${OTHER}/tags/list`, on("pull", OTHER)),
    oci("manifest", "GET", `${REPO}/manifests/v1`, on("pull")),
    oci("manifest", "GET", `${REPO}/manifests/${image.digest}`, on("pull")),
    oci("manifest", "HEAD", `${REPO}/manifests/${image.digest}`, on("pull")),
    // Content of another repository is not reached through this one: 404 for everyone who may pull here.
    oci("manifest", "GET", `${REPO}/manifests/${otherImage.digest}`, on("pull")),
    oci("blob", "GET", `${REPO}/blobs/${layer}`, on("pull")),
    oci("blob", "HEAD", `${REPO}/blobs/${layer}`, on("pull")),
    oci("blob", "GET", `${REPO}/blobs/${otherImage.layers[0]!.digest}`, on("pull")),
    oci("referrers", "GET", `${REPO}/referrers/${image.digest}`, on("pull")),
    oci("manifest", "GET", `${HIDDEN}/manifests/v1`, on("pull", HIDDEN)),
    oci("uploads", "POST", `${REPO}/blobs/uploads/`, on("push")),
    oci("upload", "GET", `${REPO}/blobs/uploads/${upload}`, on("pull")),
    oci("upload", "PATCH", `${REPO}/blobs/uploads/${missingUpload}`, on("push"), { body: "", contentType: "application/octet-stream" }),
    oci("upload", "PUT", `${REPO}/blobs/uploads/${missingUpload}?digest=${missingDigest}`, on("push")),
    oci("upload", "DELETE", `${REPO}/blobs/uploads/${missingUpload}`, on("delete"), { orElse: "push" }),
    oci("manifest", "PUT", `${REPO}/manifests/probe`, on("push"), { body: "{}", contentType: "application/vnd.oci.image.manifest.v1+json" }),
    oci("manifest", "DELETE", `${REPO}/manifests/${missingDigest}`, on("delete")),
    oci("blob", "DELETE", `${REPO}/blobs/${missingDigest}`, on("delete")),

    apiProbe("/api/v1/session", "GET", "/api/v1/session", "open"),
    apiProbe("/api/v1/admin", "GET", "/api/v1/admin", on("manage", null)),
    apiProbe("/api/v1/admin", "PATCH", "/api/v1/admin", on("manage", null), json({})),
    apiProbe("/api/v1/admin/passwords/:slot", "POST", "/api/v1/admin/passwords/9", on("manage", null), json({})),
    apiProbe("/api/v1/users", "GET", "/api/v1/users", on("manage", null)),
    apiProbe("/api/v1/users", "POST", "/api/v1/users", on("manage", null), json({})),
    apiProbe("/api/v1/users/:name", "DELETE", "/api/v1/users/nobody", on("manage", null)),
    apiProbe("/api/v1/users/:name/password", "POST", "/api/v1/users/nobody/password", on("manage", null), json({})),
    apiProbe("/api/v1/service-principals", "GET", "/api/v1/service-principals", on("manage", null)),
    apiProbe("/api/v1/service-principals", "POST", "/api/v1/service-principals", on("manage", null), json({})),
    apiProbe("/api/v1/service-principals/:id/secret", "POST", "/api/v1/service-principals/nobody/secret", on("manage", null), json({})),
    apiProbe("/api/v1/service-principals/:id", "DELETE", "/api/v1/service-principals/nobody", on("manage", null)),
    apiProbe("/api/v1/scope-maps", "GET", "/api/v1/scope-maps", on("manage", null)),
    apiProbe("/api/v1/scope-maps/:name", "GET", "/api/v1/scope-maps/nothing", on("manage", null)),
    apiProbe("/api/v1/scope-maps/:name", "PUT", "/api/v1/scope-maps/nothing", on("manage", null), json({})),
    apiProbe("/api/v1/scope-maps/:name", "DELETE", "/api/v1/scope-maps/nothing", on("manage", null)),
    apiProbe("/api/v1/events", "GET", "/api/v1/events", on("manage", null)),
    apiProbe("/api/v1/webhooks", "GET", "/api/v1/webhooks", on("manage", null)),
    apiProbe("/api/v1/webhooks", "POST", "/api/v1/webhooks", on("manage", null), json({})),
    apiProbe("/api/v1/webhooks/:name", "GET", "/api/v1/webhooks/nothing", on("manage", null)),
    apiProbe("/api/v1/webhooks/:name", "PATCH", "/api/v1/webhooks/nothing", on("manage", null), json({})),
    apiProbe("/api/v1/webhooks/:name", "DELETE", "/api/v1/webhooks/nothing", on("manage", null)),
    apiProbe("/api/v1/webhooks/:name/ping", "POST", "/api/v1/webhooks/nothing/ping", on("manage", null), json({})),
    apiProbe("/api/v1/webhooks/:name/deliveries", "GET", "/api/v1/webhooks/nothing/deliveries", on("manage", null)),
    apiProbe("/api/v1/webhooks/:name/deliveries/:id/redeliver", "POST", "/api/v1/webhooks/nothing/deliveries/1/redeliver", on("manage", null), json({})),
    apiProbe("/api/v1/tag-rules", "GET", "/api/v1/tag-rules", on("manage", null)),
    apiProbe("/api/v1/tag-rules", "POST", "/api/v1/tag-rules", on("manage", null), json({})),
    apiProbe("/api/v1/tag-rules/:id", "DELETE", "/api/v1/tag-rules/nothing", on("manage", null)),
    apiProbe("/api/v1/quotas", "GET", "/api/v1/quotas", on("manage", null)),
    apiProbe("/api/v1/quotas", "PUT", "/api/v1/quotas", on("manage", null), json({})),
    apiProbe("/api/v1/quotas/*", "DELETE", "/api/v1/quotas/nothing/*", on("manage", null)),
    apiProbe("/api/v1/retention-policies", "GET", "/api/v1/retention-policies", on("manage", null)),
    apiProbe("/api/v1/retention-policies", "POST", "/api/v1/retention-policies", on("manage", null), json({})),
    apiProbe("/api/v1/retention-policies/:id", "DELETE", "/api/v1/retention-policies/nothing", on("manage", null)),
    apiProbe("/api/v1/retention-runs", "POST", "/api/v1/retention-runs", on("manage", null), json({ dryRun: true })),
    apiProbe("/api/v1/tokens", "GET", "/api/v1/tokens", on("manage", null)),
    apiProbe("/api/v1/tokens", "POST", "/api/v1/tokens", on("manage", null), json({})),
    apiProbe("/api/v1/tokens/:name", "PATCH", "/api/v1/tokens/nothing", on("manage", null), json({})),
    apiProbe("/api/v1/tokens/:name/passwords/:slot", "POST", "/api/v1/tokens/nothing/passwords/1", on("manage", null), json({})),
    apiProbe("/api/v1/tokens/:name/passwords/:slot", "DELETE", "/api/v1/tokens/nothing/passwords/1", on("manage", null)),
    apiProbe("/api/v1/tokens/:name", "DELETE", "/api/v1/tokens/nothing", on("manage", null)),
    apiProbe("/api/v1/repositories", "GET", "/api/v1/repositories", "signed-in"),
    apiProbe("/api/v1/repositories/*", "GET", `/api/v1/repositories/${REPO}`, on("pull")),
    apiProbe("/api/v1/repositories/*", "GET", `/api/v1/repositories/${REPO}/attributes`, on("metadata_read")),
    apiProbe("/api/v1/repositories/*", "GET", `/api/v1/repositories/${OTHER}/tags`, on("pull", OTHER)),
    apiProbe("/api/v1/repositories/*", "PATCH", `/api/v1/repositories/${REPO}/attributes`, on("manage"), json({})),
    apiProbe("/api/v1/repositories/*", "DELETE", `/api/v1/repositories/${REPO}/manifests/${missingDigest}`, on("delete")),
    apiProbe("/api/v1/deleted/*", "GET", `/api/v1/deleted/${REPO}`, on("delete")),
    apiProbe("/api/v1/deleted/*", "POST", `/api/v1/deleted/${REPO}`, on("delete"), { ...json({ reference: "never-deleted" }), also: "push" }),
    apiProbe("/api/v1/deleted/*", "GET", `/api/v1/deleted/${OTHER}`, on("delete", OTHER)),
    // A purge aimed at nothing deleted: 404 for every caller allowed so far, nothing forgotten.
    apiProbe("/api/v1/deleted/*", "DELETE", `/api/v1/deleted/${REPO}?reference=never-deleted`, on("delete")),
    apiProbe("/api/v1/deleted/*", "DELETE", `/api/v1/deleted/${OTHER}?reference=${missingDigest}`, on("delete", OTHER)),
    apiProbe("/api/v1/charts/*", "GET", `/api/v1/charts/${REPO}`, on("pull")),
    apiProbe("/api/v1/search", "GET", "/api/v1/search?label=berth.test~app", "signed-in"),
    apiProbe("/api/v1/audit", "GET", "/api/v1/audit?limit=1", on("manage", null)),
    apiProbe("/api/v1/attributes", "GET", "/api/v1/attributes", on("manage", null)),
    apiProbe("/api/v1/settings", "GET", "/api/v1/settings", on("manage", null)),
    apiProbe("/api/v1/provenance/*", "GET", `/api/v1/provenance/${REPO}/v1`, on("pull")),
    apiProbe("/api/v1/provenance/*", "GET", `/api/v1/provenance/${REPO}@${image.digest}`, on("pull")),
    apiProbe("/api/v1/metadata/*", "GET", `/api/v1/metadata/${REPO}/_values`, on("metadata_read")),
    apiProbe("/api/v1/metadata/*", "PUT", `/api/v1/metadata/${REPO}@${image.digest}/probe`, on("metadata_write"), json({})),
    apiProbe("/api/v1/metadata/*", "DELETE", `/api/v1/metadata/${REPO}/nothing`, on("metadata_write")),

    { route: "helm index GET,HEAD", method: "GET", path: "/helm/v1/team/index.yaml", need: on("pull"), surface: "helm", byFile: true },
    { route: "helm index GET,HEAD", method: "HEAD", path: "/helm/v1/team/index.yaml", need: on("pull"), surface: "helm", byFile: true },
    { route: "helm blob GET,HEAD", method: "GET", path: "/helm/v1/team/_blobs/app-1.0.0.tgz", need: on("pull"), surface: "helm", byFile: true },
    { route: "helm blob GET,HEAD", method: "HEAD", path: "/helm/v1/other/_blobs/app-2.0.0.tgz", need: on("pull", OTHER), surface: "helm", byFile: true },
    { route: "helm blob PUT,PATCH", method: "PUT", path: "/helm/v1/team/_blobs/app-9.0.0.tgz", body: "not a chart", contentType: "application/octet-stream", need: on("push"), surface: "helm", pushSomewhere: true },
    { route: "helm blob DELETE", method: "DELETE", path: "/helm/v1/team/_blobs/app-9.9.9.tgz", need: on("delete"), surface: "helm", byFile: true, missing: true },
    { route: "helm charts GET", method: "GET", path: "/helm/v1/team/_charts", need: on("pull"), surface: "helm", byFile: true },
    { route: "helm charts DELETE", method: "DELETE", path: "/helm/v1/team/_charts/app/9.9.9", need: on("delete"), surface: "helm", byFile: true, missing: true },
    { route: "museum charts POST", method: "POST", path: "/api/team/charts", body: "not a chart", contentType: "application/octet-stream", need: on("push"), surface: "museum", pushSomewhere: true },
    { route: "museum prov POST", method: "POST", path: "/api/team/prov", body: "not a signature", contentType: "application/octet-stream", need: on("push"), surface: "museum", pushSomewhere: true },
    { route: "museum charts GET,HEAD", method: "GET", path: "/api/team/charts/app/1.0.0", need: on("pull"), surface: "museum", byFile: true },
    { route: "museum charts DELETE", method: "DELETE", path: "/api/team/charts/app/9.9.9", need: on("delete"), surface: "museum", byFile: true, missing: true },
  ];
}

/** Routes a probe here does not reach, and where they are tested instead. */
const ELSEWHERE: Record<string, string> = {
  "api POST /api/v1/session": "sign-in: test/http/session.test.ts, attack-auth.test.ts (limits)",
  "api DELETE /api/v1/session": "sign-out: test/http/attack-portal-session.test.ts",
};

// --- running ---------------------------------------------------------------------------------

interface Answer {
  status: number;
  code: string | null;
  challenge: string | null;
}

function describe(a: Answer): string {
  return `${a.status}${a.code ? ` ${a.code}` : ""}${a.challenge ? ` [${a.challenge}]` : ""}`;
}

/** The challenge reduced to what is asserted: its scheme, and for Bearer its error. */
function challengeOf(header: string | null): string | null {
  if (!header) return null;
  const scheme = header.split(" ")[0]!;
  const error = /error="([^"]+)"/.exec(header)?.[1];
  return error ? `${scheme} ${error}` : scheme;
}

async function send(berth: RunningBerth, probe: Probe, authorization: string | null): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (authorization) headers.authorization = authorization;
  if (probe.contentType) headers["content-type"] = probe.contentType;
  const res = await fetch(`${berth.url}${probe.path}`, { method: probe.method, headers, ...(probe.body !== undefined ? { body: probe.body } : {}) });
  const text = await res.text();
  let code: string | null = null;
  try {
    const body = JSON.parse(text) as { errors?: { code: string }[]; error?: string };
    code = body.errors?.[0]?.code ?? (body.error !== undefined ? "museum" : null);
  } catch {
    // not JSON (index.yaml, a chart, an empty body)
  }
  return { status: res.status, code, challenge: challengeOf(res.headers.get("www-authenticate")) };
}

/** The exact answer the model expects; `allowed` answers are the admin's (a baseline). */
function expected(probe: Probe, who: Credential, baseline: Answer): Answer {
  const bodyless = probe.method === "HEAD";
  const code = (c: string) => (bodyless ? null : probe.surface === "museum" ? "museum" : c);
  const challengeScheme = probe.surface === "oci" ? "Bearer" : "Basic";
  if (probe.need === "open") return baseline;
  if (who.grants === null) {
    const error = probe.surface === "oci" && who.badToken ? "Bearer invalid_token" : challengeScheme;
    return { status: 401, code: code("UNAUTHORIZED"), challenge: error };
  }
  if (probe.need === "signed-in") return baseline;
  const { action, repo } = probe.need;
  const allowed = (may(who.grants, action, repo) || (probe.orElse !== undefined && may(who.grants, probe.orElse, repo))) && (probe.also === undefined || may(who.grants, probe.also, repo)) && !(repo === HIDDEN && action === "pull");
  if (allowed || probe.missing) return baseline;
  if (probe.byFile && !may(who.grants, "pull", repo) && !may(who.grants, action, repo)) {
    return { status: 404, code: code(probe.path.endsWith("index.yaml") || probe.path.endsWith("_charts") ? "CLASSIC_REPOSITORY_UNKNOWN" : "CHART_UNKNOWN"), challenge: null };
  }
  if (probe.pushSomewhere && who.grants.repositories.some(([, actions]) => actions.includes("push"))) return { status: 400, code: code(probe.surface === "museum" ? "museum" : "CHART_INVALID"), challenge: null };
  if (probe.surface === "oci" && who.grants.bearer) return { status: 401, code: code("UNAUTHORIZED"), challenge: "Bearer insufficient_scope" };
  return { status: 403, code: code("DENIED"), challenge: null };
}

let berth: RunningBerth;
const credentials: Credential[] = [];
let table: Probe[] = [];
const secrets: string[] = [];

before(async () => {
  const env = { BERTH_AUTH_FAILED_SIGN_INS_PER_IDENTITY: "1000000", BERTH_AUTH_FAILED_SIGN_INS_PER_ADDRESS: "1000000", BERTH_LOG_LEVEL: "info" };
  berth = await startBerth({ env });
  const admin = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  const image = buildImage([randomLayer(64)], `${REPO}:v1`);
  const otherImage = buildImage([randomLayer(64)], `${OTHER}:v1`);
  await pushImage(admin, REPO, "v1", image);
  await pushImage(admin, OTHER, "v1", otherImage);
  await pushImage(admin, HIDDEN, "v1", buildImage([randomLayer(64)], `${HIDDEN}:v1`));
  await patchAttributes(berth, HIDDEN, { readEnabled: false });
  assert.equal(await putChart(berth, berth.basicAuth, "team", "app", "1.0.0"), 201);
  assert.equal(await putChart(berth, berth.basicAuth, "other", "app", "2.0.0"), 201);
  const started = await fetch(`${berth.url}/v2/${REPO}/blobs/uploads/`, { method: "POST", headers: { authorization: berth.basicAuth } });
  await started.body?.cancel();
  const upload = new URL(started.headers.get("location")!, berth.url).pathname.split("/").at(-1)!;
  table = probes(image, otherImage, upload);

  const add = (name: string, authorization: string | null, grants: Grants | null, badToken = false) => credentials.push({ name, authorization, grants, badToken });
  const password = (name: string, secret: string) => (secrets.push(secret), basic(name, secret));
  add("no credentials", null, null);
  add("wrong password", password("admin", "not-the-admin-password"), null);
  secrets.push(berth.password);
  add("admin", berth.basicAuth, { repositories: [["*", Object.keys(ROLE).flatMap((r) => ROLE[r]!)]], registry: ["manage", "catalog"] });
  for (const role of Object.keys(ROLE)) add(`user ${role}`, password(`u-${role}`, await createUser(berth, `u-${role}`, [role as "owner"])), everywhere(role));
  const spPull = await createServicePrincipal(berth, "sp-pull", "acrpull", { scope: "team/*" });
  add("service principal acrpull team/*", password(spPull.id, spPull.secret), { repositories: [["team/*", ROLE.acrpull!]], registry: ["catalog"] });
  const spOwner = await createServicePrincipal(berth, "sp-owner", "owner", { scope: "team/*" });
  add("service principal owner team/*", password(spOwner.id, spOwner.secret), { repositories: [["team/*", ROLE.owner!]], registry: ["catalog"] });
  await putScopeMap(berth, "read-app", [{ repository: REPO, actions: ["content/read"] }]);
  add("scope-map token, read-only team/app", password("tok-read", await createToken(berth, "tok-read", "read-app")), { repositories: [[REPO, ["pull"]]], registry: ["catalog"] });
  await putScopeMap(berth, "other-all", [{ repository: OTHER, actions: ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"] }]);
  add("scope-map token for other/app", password("tok-other", await createToken(berth, "tok-other", "other-all")), {
    repositories: [[OTHER, ["pull", "push", "delete", "metadata_read", "metadata_write"]]],
    registry: ["catalog"],
  });
  const exchangerPassword = await createUser(berth, "u-exchanger", ["owner"]);
  secrets.push(exchangerPassword);
  add("exchanged refresh token of an owner (zero-GUID)", password(ZERO_GUID, await exchange(berth, "u-exchanger", exchangerPassword)), everywhere("owner"));
  const pullToken = accessTokenOf(await getToken(berth, berth.basicAuth, [`repository:${REPO}:pull`]));
  secrets.push(pullToken);
  add("access token: pull team/app", `Bearer ${pullToken}`, { repositories: [[REPO, ["pull"]]], registry: [], bearer: true });

  // Tokens that must not verify.
  const gonePassword = await createUser(berth, "u-gone", ["owner"]);
  const goneToken = accessTokenOf(await getToken(berth, basic("u-gone", gonePassword), [`repository:${REPO}:pull,push,delete`]));
  await api(berth, "DELETE", "/api/v1/users/u-gone");
  add("access token of a deleted user", `Bearer ${goneToken}`, null, true);
  const disabled = await createToken(berth, "tok-off", "read-app");
  await api(berth, "PATCH", "/api/v1/tokens/tok-off", { enabled: false });
  add("disabled token's password", password("tok-off", disabled), null);
  const db = new DatabaseSync(join(berth.dataDir, "berth.db"), { readOnly: true });
  const key = db.prepare("select kid, private_jwk from signing_keys where retired_at is null").get() as { kid: string; private_jwk: string };
  db.close();
  const claims = JSON.parse(Buffer.from(pullToken.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
  const wide = { ...claims, access: [{ type: "repository", name: REPO, actions: ["pull", "push", "delete"] }, { type: "registry", name: "catalog", actions: ["*"] }] };
  const now = Math.floor(Date.now() / 1000);
  const sign = (header: { alg: string; kid: string }, signer: CryptoKey | Uint8Array, exp: number) =>
    new SignJWT({ ...wide, exp, iat: exp - 300, nbf: exp - 300 }).setProtectedHeader(header).sign(signer);
  const berthKey = (await importJWK(JSON.parse(key.private_jwk) as Record<string, unknown>, "ES256")) as CryptoKey;
  const forged = (await generateKeyPair("ES256")).privateKey;
  add("expired access token (Berth's key)", `Bearer ${await sign({ alg: "ES256", kid: key.kid }, berthKey, now - 60)}`, null, true);
  add("access token signed with a forged key", `Bearer ${await sign({ alg: "ES256", kid: key.kid }, forged, now + 300)}`, null, true);
  add("access token naming an unknown key id", `Bearer ${await sign({ alg: "ES256", kid: "no-such-key" }, forged, now + 300)}`, null, true);
  const none = [{ alg: "none", typ: "JWT" }, { ...wide, exp: now + 300 }].map((part) => Buffer.from(JSON.stringify(part)).toString("base64url"));
  add("access token with alg none", `Bearer ${none.join(".")}.`, null, true);
});

after(async () => {
  await berth?.dispose();
});

test("every route of the four route tables has a probe here (or names where it is tested)", () => {
  const routes = [
    ...OCI_ROUTES.map((r) => `oci ${r.kind} ${r.method}`),
    ...API_ROUTES.map((r) => `api ${r.method} ${r.url}`),
    ...CLASSIC_ROUTES.map((r) => `helm ${r.kind} ${r.methods.join(",")}`),
    ...MUSEUM_ROUTES.map((r) => `museum ${r.kind} ${r.methods.join(",")}`),
  ];
  const probed = new Set([...table.map((p) => p.route), ...Object.keys(ELSEWHERE)]);
  assert.deepEqual(routes.filter((r) => !probed.has(r)), [], "routes without a probe");
  assert.deepEqual([...probed].filter((r) => !routes.includes(r)), [], "probes of routes that are gone");
});

test("every credential × every route answers exactly as the model says", { timeout: 300_000 }, async (t) => {
  const adminCredential = credentials.find((c) => c.name === "admin")!;
  const baselines = new Map<Probe, Answer>();
  for (const probe of table) baselines.set(probe, await send(berth, probe, adminCredential.authorization));
  // The admin's answers are the model's "allowed": each must be an answer, never a refusal (the
  // hidden repository's lock refuses the admin too: 403 naming it).
  for (const [probe, answer] of baselines) {
    if (probe.path.includes(HIDDEN)) assert.equal(answer.status, 403, `admin ${probe.method} ${probe.path}`);
    else assert.ok(answer.status !== 401 && answer.status !== 403 && answer.status < 500, `admin ${probe.method} ${probe.path}: ${describe(answer)}`);
  }
  const failures: string[] = [];
  let checks = 0;
  await Promise.all(
    credentials.map(async (who) => {
      for (const probe of table) {
        const want = expected(probe, who, baselines.get(probe)!);
        const got = await send(berth, probe, who.authorization);
        checks++;
        if (got.status !== want.status || got.code !== want.code || got.challenge !== want.challenge) {
          failures.push(`${who.name} | ${probe.method} ${probe.path}: expected ${describe(want)}, got ${describe(got)}`);
        }
      }
    }),
  );
  t.diagnostic(`${checks} checks, ${failures.length} unexpected`);
  assert.deepEqual(failures, [], `${failures.length} of ${checks}:\n${failures.join("\n")}`);
});

test("listings show each credential exactly the repositories it may pull: the catalog, the portal's list, each index.yaml", async () => {
  const failures: string[] = [];
  for (const who of credentials.filter((c) => c.grants !== null)) {
    const g = who.grants!;
    const want = [REPO, OTHER].filter((r) => may(g, "pull", r)).sort();
    const headers = { authorization: who.authorization! };
    const catalog = await fetch(`${berth.url}/v2/_catalog`, { headers });
    if (may(g, "catalog", null)) {
      const listed = ((await catalog.json()) as { repositories: string[] }).repositories.sort();
      if (JSON.stringify(listed) !== JSON.stringify(want)) failures.push(`${who.name}: /v2/_catalog listed ${listed.join(", ")}; expected ${want.join(", ")}`);
    } else await catalog.body?.cancel();
    const portal = (await (await fetch(`${berth.url}/api/v1/repositories`, { headers })).json()) as { repositories: { name: string }[]; total: number };
    const names = portal.repositories.map((r) => r.name).sort();
    if (JSON.stringify(names) !== JSON.stringify(want) || portal.total !== want.length) failures.push(`${who.name}: /api/v1/repositories listed ${names.join(", ")} (total ${portal.total}); expected ${want.join(", ")}`);
    for (const [view, repo, version] of [["team", REPO, "1.0.0"], ["other", OTHER, "2.0.0"]] as const) {
      const index = await fetch(`${berth.url}/helm/v1/${view}/index.yaml`, { headers });
      const listed = index.status === 200 && (await index.text()).includes(`version: ${version}`);
      if (index.status !== 200) await index.body?.cancel();
      // A view that lists nothing to the caller answers 404 as a missing one does (docs/helm.md).
      if (listed !== may(g, "pull", repo) || (!listed && index.status !== 404)) failures.push(`${who.name}: /helm/v1/${view}/index.yaml answered ${index.status}, ${listed ? "listing" : "without"} ${repo}'s chart`);
    }
  }
  assert.deepEqual(failures, []);
});

test("no password, secret or token reaches the server's output or the audit trail", async () => {
  await new Promise((r) => setTimeout(r, 200));
  const audit = JSON.stringify(await api(berth, "GET", "/api/v1/audit?limit=1000"));
  assert.ok(audit.includes('"sign-in"'), "the audit trail holds the sign-ins");
  const output = berth.output() + audit;
  assert.ok(output.includes('"msg":"request"'), "the access log is on (info)");
  const tokens = credentials.flatMap((c) => (c.authorization?.startsWith("Bearer ") ? [c.authorization.slice(7)] : []));
  const leaked = [...secrets, ...tokens].filter((s) => s.length >= 12 && output.includes(s));
  assert.deepEqual(leaked.map((s) => `${s.slice(0, 6)}…`), []);
});

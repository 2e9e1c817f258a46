// The access matrix: every kind of identity × every action × a repository inside its scope, one
// outside, a locked one and an unreadable one, against a real `berth serve`. The expected
// outcome of each cell comes from a small model of the rules (below), not from a table of
// answers, so a change to a rule changes many cells at once and a wrong cell is a Berth bug or a
// model bug, never a typo. Contract: /tmp/identity-spec.md; research/registries.md §3 and §3.6.
//
// Outcomes: allowed ↔ 2xx (listings: 200 and the repository listed); refused ↔ 401 for no or bad
// credentials, 403 for a known identity lacking the right or a locked repository (a Bearer token
// short of scope may also answer 401), and, for listings, 200 without the repository. What Berth
// does for listings, precisely: a signed-in identity always gets 200 and sees only what it may
// pull (index.yaml, /api/v1/charts, /v2/_catalog); anonymous gets 401 unless anonymous pull is
// on, then index.yaml and /api/v1/charts answer 200 filtered, and /v2/_catalog 401 (listing the
// registry is not pulling). Except: the index.yaml of a view that is not configured and lists
// nothing to the caller answers 404, as a mistyped view does (docs/helm.md), so a refused index
// is 200 without the repository or 404.
//
// Helm's classic and ChartMuseum routes find a chart by view and file name, not by repository:
// a chart in a repository the identity's grants reach neither for pull nor for the action
// answers 404, as a missing one does (no existence oracle); with a grant, a refusal is 403.
//
// OCI actions run twice: Basic straight on /v2, and the token flow (GET /oauth2/token with the
// credentials and the scope the action needs, then Bearer); some a third time with that access
// token as the zero-GUID password (as `helm registry login` sends one). Helm's classic repository
// and the API take Basic only, as helm sends it (research/helm.md §1.2).
//
// Routes reach content by tag, by digest, by `?tag=`, by blob delete, by mount and through the
// referrers and provenance APIs: team/taglock's tag v1 is read-, write- and delete-locked, and
// every route to v1's content must refuse. An access token may never mint tokens, whoever holds it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import {
  addUser, apiCharts, catalog, classicDelete, classicDownload, classicIndex, classicOverwrite, classicPush, deleteBlob, deleteManifest, getBlob, getManifest,
  getManifestByDigest, listUsers, mintWithAccessToken, mountFrom, museumDelete, museumGet, museumList, museumPush, nextVersion, patchOwnAttributes, provenance,
  pushManifest, pushTagByQuery, putChart, referrers, seedRepository, spareImage, spareManifest, tagsList, type Outcome, type RepositoryFixture,
} from "../support/access-probes.ts";
import {
  accessTokenOf, api, basic, createServicePrincipal, createToken, createUser, exchange, getToken, patchAttributes, putScopeMap, ZERO_GUID, type Role,
} from "../support/identity-api.ts";

// --- the model -------------------------------------------------------------------------------

/** lock: change a repository's attributes; manage: registry-wide identity management; mint: tokens from an access token (never). */
type Need = "pull" | "push" | "delete" | "catalog" | "manage" | "lock" | "mint" | "mount";
type Rule = { repository: string; actions: ("content/read" | "content/write" | "content/delete" | "metadata/read" | "metadata/write" | "attributes/write")[] };

/** What an identity holds, as the contract defines it. */
type Grants =
  | { kind: "admin" }
  | { kind: "roles"; roles: Role[]; scope?: string }
  | { kind: "scope-map"; rules: Rule[] }
  | { kind: "anonymous"; anonymousPull: boolean }
  /** Disabled, expired, rotated away, deleted: refused at once with 401, whatever the action. */
  | { kind: "revoked" };

const ROLE_NEEDS: Record<Role, Need[]> = {
  acrpull: ["pull", "catalog"],
  acrpush: ["pull", "push", "catalog"],
  acrdelete: ["delete", "catalog"],
  owner: ["pull", "push", "delete", "catalog", "manage", "lock"],
};
const SCOPE_MAP_NEEDS: Record<Rule["actions"][number], Need | null> = {
  "content/read": "pull",
  "content/write": "push",
  "content/delete": "delete",
  "metadata/read": null,
  "metadata/write": null,
  "attributes/write": "lock",
};

function matches(pattern: string, repo: string): boolean {
  return pattern === "*" || pattern === repo || (pattern.endsWith("/*") && repo.startsWith(pattern.slice(0, -1)));
}

/** The identity's own grants, before repository attributes. */
function permits(g: Grants, need: Need, repo: string | null): boolean {
  switch (g.kind) {
    case "admin":
      return true;
    case "roles":
      // A repository scope bounds everything: nothing registry-wide but the (filtered) catalog.
      if (g.scope !== undefined && repo === null && need !== "catalog") return false;
      return g.roles.some((r) => ROLE_NEEDS[r].includes(need)) && (repo === null || g.scope === undefined || matches(g.scope, repo));
    case "scope-map":
      if (need === "catalog") return g.rules.length > 0;
      return repo !== null && g.rules.some((rule) => matches(rule.repository, repo) && rule.actions.some((a) => SCOPE_MAP_NEEDS[a] === need));
    case "anonymous":
      return need === "pull" && g.anonymousPull;
    case "revoked":
      return false;
  }
}

/** Repository attributes lock everyone, the admin too. */
const LOCKED = "team/locked"; // writeEnabled=false, deleteEnabled=false
const UNREADABLE = "team/hidden"; // readEnabled=false
const TAG_LOCKED = "team/taglock"; // tag v1: readEnabled=false, writeEnabled=false, deleteEnabled=false
function lockedFor(need: Need, repo: string | null, action?: Action): boolean {
  if (need === "mount") return false;
  if (repo === TAG_LOCKED && action?.touchesV1) return need === "pull" || need === "push" || need === "delete";
  return (repo === LOCKED && (need === "push" || need === "delete")) || (repo === UNREADABLE && need === "pull");
}

/** basic: the credentials on each request; bearer: an access token for the action's scope; zero-guid: that token as the zero-GUID password. */
type Style = "basic" | "bearer" | "zero-guid";
type Listing = "catalog" | "index" | "charts" | "museum";

interface Action {
  name: string;
  need: Need;
  /** OCI actions run in both styles (or the ones listed); Helm and API actions with Basic only. */
  oci: boolean;
  styles?: Style[];
  listing?: Listing;
  /** Finds its chart by file name: 404 for a chart the identity's grants do not reach. */
  byFile?: boolean;
  /** Acts on a chart version whose tag attributes lock this (list: hide it from listings). */
  tagLock?: Need | "list";
  /** Registry-level: run once per identity, not per repository. */
  global?: boolean;
  /** Reaches tag v1's content (by tag or digest): team/taglock's tag locks apply. */
  touchesV1?: boolean;
  run(ctx: Cell): Promise<Outcome>;
}

interface Expectation {
  allowed: boolean;
  /** The statuses a refusal may answer (200: a listing without the repository). */
  refusals: number[];
}

function expect(g: Grants, action: Action, repo: string | null, style: Style): Expectation {
  const need = action.need;
  const locked = lockedFor(need, repo, action) || action.tagLock === need;
  if (need === "mint") return { allowed: false, refusals: [401] };
  if (need === "mount") {
    // Push on <repo>-mount decides whether the request is let in; pull on the source whether it mounts (201) or starts an upload (202).
    const target = `${repo}-mount`;
    const mayPush = permits(g, "push", target);
    const allowed = mayPush && permits(g, "pull", repo) && !lockedFor("pull", repo, action);
    const refusals = g.kind === "revoked" || g.kind === "anonymous" ? [401] : mayPush ? [202] : style === "basic" ? [403] : [401, 403];
    return { allowed, refusals };
  }
  const allowed = action.listing
    ? !locked && action.tagLock !== "list" && permits(g, "pull", repo) && (action.listing !== "catalog" || permits(g, "catalog", null))
    : !locked && permits(g, need, repo);
  let refusals: number[];
  if (g.kind === "revoked") refusals = [401];
  else if (g.kind === "anonymous") {
    if (action.listing === "catalog") refusals = [401];
    else if (action.listing) refusals = g.anonymousPull ? listingRefusals(action) : [401];
    // A lock is checked before who asks, so an anonymous request may hear 403 there.
    else refusals = locked ? [401, 403] : [401];
  } else if (action.listing) refusals = listingRefusals(action);
  else if (action.byFile && !permits(g, "pull", repo) && !permits(g, need, repo)) refusals = [404];
  else refusals = style === "basic" ? [403] : [401, 403];
  return { allowed, refusals };
}

/** A listing without the repository: 200; an index.yaml also 404, when the fixture's view then lists nothing to the caller. */
function listingRefusals(action: Action): number[] {
  return action.listing === "index" ? [200, 404] : [200];
}

// --- the table -------------------------------------------------------------------------------

interface Identity {
  name: string;
  grants: Grants;
  berth: "main" | "anonymous-pull";
  /** Basic header (null: anonymous). */
  authorization: string | null;
  /** For a revoked identity: an access token issued while it was valid; Bearer style uses it. */
  earlierToken?: string;
}

interface Cell {
  berth: RunningBerth;
  auth: string | null;
  fixture: RepositoryFixture;
}

/** What each repository's attributes already are: PATCHing them back checks the right, changes nothing. */
function ownAttributes(repo: string): Record<string, boolean> {
  return repo === LOCKED ? { writeEnabled: false, deleteEnabled: false } : repo === UNREADABLE ? { readEnabled: false } : { listEnabled: true };
}

const ACTIONS: Action[] = [
  { name: "pull manifest", need: "pull", oci: true, styles: ["basic", "bearer", "zero-guid"], touchesV1: true, run: (c) => getManifest(c.berth, c.auth, c.fixture) },
  { name: "pull manifest by digest", need: "pull", oci: true, touchesV1: true, run: (c) => getManifestByDigest(c.berth, c.auth, c.fixture) },
  { name: "pull blob", need: "pull", oci: true, touchesV1: true, run: (c) => getBlob(c.berth, c.auth, c.fixture) },
  { name: "push", need: "push", oci: true, styles: ["basic", "bearer", "zero-guid"], run: (c) => pushManifest(c.berth, c.auth, c.fixture) },
  { name: "push ?tag=v1", need: "push", oci: true, touchesV1: true, run: (c) => pushTagByQuery(c.berth, c.auth, c.fixture) },
  {
    name: "delete manifest",
    need: "delete",
    oci: true,
    touchesV1: true,
    run: async (c) => {
      const repo = c.fixture.repo;
      const target = repo === LOCKED ? c.fixture.victim : repo === TAG_LOCKED ? c.fixture.manifest : await spareManifest(c.berth, repo);
      return deleteManifest(c.berth, c.auth, c.fixture, target);
    },
  },
  {
    name: "delete blob",
    need: "delete",
    oci: true,
    touchesV1: true,
    run: async (c) => {
      const repo = c.fixture.repo;
      const target = repo === LOCKED || repo === TAG_LOCKED ? c.fixture.layer : (await spareImage(c.berth, repo)).layer;
      return deleteBlob(c.berth, c.auth, c.fixture, target);
    },
  },
  { name: "mount v1's layer into <repo>-mount", need: "mount", oci: true, touchesV1: true, run: (c) => mountFrom(c.berth, c.auth, c.fixture) },
  { name: "catalog", need: "pull", oci: true, listing: "catalog", run: (c) => catalog(c.berth, c.auth, c.fixture) },
  { name: "tags list", need: "pull", oci: true, run: (c) => tagsList(c.berth, c.auth, c.fixture) },
  { name: "referrers", need: "pull", oci: true, touchesV1: true, run: (c) => referrers(c.berth, c.auth, c.fixture) },
  { name: "provenance by tag", need: "pull", oci: false, touchesV1: true, run: (c) => provenance(c.berth, c.auth, c.fixture, "tag") },
  { name: "provenance by digest", need: "pull", oci: false, touchesV1: true, run: (c) => provenance(c.berth, c.auth, c.fixture, "digest") },
  { name: "classic index", need: "pull", oci: false, listing: "index", run: (c) => classicIndex(c.berth, c.auth, c.fixture) },
  { name: "classic download", need: "pull", oci: false, byFile: true, run: (c) => classicDownload(c.berth, c.auth, c.fixture) },
  { name: "classic push", need: "push", oci: false, run: (c) => classicPush(c.berth, c.auth, c.fixture) },
  {
    name: "classic delete",
    need: "delete",
    oci: false,
    byFile: true,
    run: async (c) => {
      if (c.fixture.repo === LOCKED) return classicDelete(c.berth, c.auth, c.fixture, c.fixture.version);
      const version = nextVersion(1);
      const seeded = await putChart(c.berth, c.berth.basicAuth, c.fixture.view, c.fixture.chart, version);
      if (seeded !== 201) throw new Error(`seeding ${c.fixture.chart} ${version} answered ${seeded}`);
      return classicDelete(c.berth, c.auth, c.fixture, version);
    },
  },
  { name: "GET /api/v1/charts", need: "pull", oci: false, listing: "charts", run: (c) => apiCharts(c.berth, c.auth, c.fixture) },
  { name: "PATCH attributes", need: "lock", oci: false, run: (c) => patchOwnAttributes(c.berth, c.auth, c.fixture, ownAttributes(c.fixture.repo)) },
  { name: "ChartMuseum push", need: "push", oci: false, run: (c) => museumPush(c.berth, c.auth, c.fixture) },
  { name: "ChartMuseum get version", need: "pull", oci: false, byFile: true, run: (c) => museumGet(c.berth, c.auth, c.fixture) },
  { name: "ChartMuseum list", need: "pull", oci: false, listing: "museum", run: (c) => museumList(c.berth, c.auth, c.fixture) },
  {
    name: "ChartMuseum delete",
    need: "delete",
    oci: false,
    byFile: true,
    run: async (c) => {
      if (c.fixture.repo === LOCKED) return museumDelete(c.berth, c.auth, c.fixture, c.fixture.version);
      const version = nextVersion(4);
      const seeded = await putChart(c.berth, c.berth.basicAuth, c.fixture.view, c.fixture.chart, version);
      if (seeded !== 201) throw new Error(`seeding ${c.fixture.chart} ${version} answered ${seeded}`);
      return museumDelete(c.berth, c.auth, c.fixture, version);
    },
  },
  // Chart versions locked by their tag's attributes, through every route that reaches them.
  { name: "classic download, read-locked version", need: "pull", oci: false, byFile: true, tagLock: "pull", run: (c) => classicDownload(c.berth, c.auth, c.fixture, c.fixture.tagUnreadable) },
  { name: "ChartMuseum get, read-locked version", need: "pull", oci: false, byFile: true, tagLock: "pull", run: (c) => museumGet(c.berth, c.auth, c.fixture, c.fixture.tagUnreadable) },
  { name: "classic PATCH, write-locked version", need: "push", oci: false, tagLock: "push", run: (c) => classicOverwrite(c.berth, c.auth, c.fixture, c.fixture.tagLocked) },
  { name: "ChartMuseum ?force, write-locked version", need: "push", oci: false, tagLock: "push", run: (c) => museumPush(c.berth, c.auth, c.fixture, c.fixture.tagLocked, true) },
  { name: "classic delete, delete-locked version", need: "delete", oci: false, byFile: true, tagLock: "delete", run: (c) => classicDelete(c.berth, c.auth, c.fixture, c.fixture.tagLocked) },
  { name: "ChartMuseum delete, delete-locked version", need: "delete", oci: false, byFile: true, tagLock: "delete", run: (c) => museumDelete(c.berth, c.auth, c.fixture, c.fixture.tagLocked) },
  { name: "classic index, list-locked version", need: "pull", oci: false, listing: "index", tagLock: "list", run: (c) => classicIndex(c.berth, c.auth, c.fixture, c.fixture.tagUnlisted) },
  { name: "ChartMuseum list, list-locked version", need: "pull", oci: false, listing: "museum", tagLock: "list", run: (c) => museumList(c.berth, c.auth, c.fixture, c.fixture.tagUnlisted) },
  // Listing is not reading: a list-locked version still downloads, as a list-locked OCI tag pulls.
  { name: "classic download, list-locked version", need: "pull", oci: false, byFile: true, run: (c) => classicDownload(c.berth, c.auth, c.fixture, c.fixture.tagUnlisted) },
  { name: "GET /api/v1/users", need: "manage", oci: false, global: true, run: (c) => listUsers(c.berth, c.auth) },
  { name: "POST /api/v1/users", need: "manage", oci: false, global: true, run: (c) => addUser(c.berth, c.auth) },
  { name: "mint tokens with an access token", need: "mint", oci: false, global: true, run: (c) => mintWithAccessToken(c.berth, c.auth, c.fixture) },
];

/** The scope a client asks the token endpoint for, per action. */
function scopesFor(action: Action, repo: string): string[] {
  if (action.listing === "catalog") return ["registry:catalog:*"];
  if (action.need === "mount") return [`repository:${repo}-mount:pull,push`, `repository:${repo}:pull`];
  if (action.need === "push") return [`repository:${repo}:pull,push`];
  return [`repository:${repo}:${action.need}`];
}

const REPOSITORIES = ["team/app", "other/app", LOCKED, UNREADABLE, TAG_LOCKED];
const TEAM_APP_RULES: Rule[] = [{ repository: "team/app", actions: ["content/read", "content/write", "metadata/read"] }];
const EVERYTHING = [...REPOSITORIES.map((r) => `repository:${r}:pull,push,delete`), "registry:catalog:*"];

let main: RunningBerth;
let open: RunningBerth;
const fixtures = new Map<RunningBerth, RepositoryFixture[]>();
const identities: Identity[] = [];
/** Expired credentials used before they expired, tried about 1 s after. */
const expiredRightAway: { name: string; status: number }[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signs in once (so a cache would remember it) and returns an access token for everything. */
async function useOnce(berth: RunningBerth, authorization: string): Promise<string> {
  const res = await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { authorization } });
  await res.body?.cancel();
  return accessTokenOf(await getToken(berth, authorization, EVERYTHING));
}

async function seed(berth: RunningBerth): Promise<void> {
  const list: RepositoryFixture[] = [];
  for (const [i, repo] of REPOSITORIES.entries()) list.push(await seedRepository(berth, repo, `1.${i}.0`));
  await patchAttributes(berth, LOCKED, { writeEnabled: false, deleteEnabled: false });
  await patchAttributes(berth, UNREADABLE, { readEnabled: false });
  await api(berth, "PATCH", `/api/v1/repositories/${TAG_LOCKED}/attributes?tag=v1`, { readEnabled: false, writeEnabled: false, deleteEnabled: false });
  fixtures.set(berth, list);
}

before(async () => {
  // Refused credentials are checked hundreds of times here: lift the sign-in limiter (tokens.test.ts covers it).
  const env = { BERTH_AUTH_FAILED_SIGN_INS_PER_IDENTITY: "1000000", BERTH_AUTH_FAILED_SIGN_INS_PER_ADDRESS: "1000000" };
  [main, open] = await Promise.all([startBerth({ env }), startBerth({ env: { ...env, BERTH_ANONYMOUS_PULL: "true" } })]);
  await Promise.all([seed(main), seed(open)]);

  const add = (name: string, grants: Grants, authorization: string | null, berth: Identity["berth"] = "main", earlierToken?: string) =>
    identities.push({ name, grants, authorization, berth, ...(earlierToken ? { earlierToken } : {}) });
  add("admin", { kind: "admin" }, main.basicAuth);
  for (const role of ["acrpull", "acrpush", "acrdelete", "owner"] as const) {
    add(`user ${role}`, { kind: "roles", roles: [role] }, basic(`u-${role}`, await createUser(main, `u-${role}`, [role])));
  }
  const sp = await createServicePrincipal(main, "ci", "acrpush", { scope: "team/*" });
  add("service principal acrpush team/*", { kind: "roles", roles: ["acrpush"], scope: "team/*" }, basic(sp.id, sp.secret));
  const teamOwner = await createServicePrincipal(main, "team-owner", "owner", { scope: "team/*" });
  add("service principal owner team/*", { kind: "roles", roles: ["owner"], scope: "team/*" }, basic(teamOwner.id, teamOwner.secret));
  await putScopeMap(main, "team-app", TEAM_APP_RULES);
  add("scoped token team/app", { kind: "scope-map", rules: TEAM_APP_RULES }, basic("tok-app", await createToken(main, "tok-app", "team-app")));
  const refresh = await exchange(main, "u-exchanger", await createUser(main, "u-exchanger", ["acrpush"]));
  add("exchanged token of an acrpush user (zero-GUID)", { kind: "roles", roles: ["acrpush"] }, basic(ZERO_GUID, refresh));
  add("anonymous, anonymous pull off", { kind: "anonymous", anonymousPull: false }, null);
  add("anonymous, anonymous pull on", { kind: "anonymous", anonymousPull: true }, null, "anonymous-pull");

  // Revoked credentials, each used once before (a remembered sign-in must not outlive the change).
  const revoked: Grants = { kind: "revoked" };
  const disabled = basic("tok-off", await createToken(main, "tok-off", "team-app"));
  const disabledToken = await useOnce(main, disabled);
  await api(main, "PATCH", "/api/v1/tokens/tok-off", { enabled: false });
  add("disabled token", revoked, disabled, "main", disabledToken);

  const rotatedUser = basic("u-rotated", await createUser(main, "u-rotated", ["owner"]));
  await useOnce(main, rotatedUser);
  await api(main, "POST", "/api/v1/users/u-rotated/password", {});
  add("user owner, password rotated away", revoked, rotatedUser);

  const rotatedToken = basic("tok-rotated", await createToken(main, "tok-rotated", "team-app"));
  await useOnce(main, rotatedToken);
  await api(main, "POST", "/api/v1/tokens/tok-rotated/passwords/1", {});
  add("token, password 1 rotated away", revoked, rotatedToken);

  const gone = await exchange(main, "u-gone", await createUser(main, "u-gone", ["owner"]));
  const goneToken = await useOnce(main, basic(ZERO_GUID, gone));
  await api(main, "DELETE", "/api/v1/users/u-gone");
  add("exchanged token of a deleted user", revoked, basic(ZERO_GUID, gone), "main", goneToken);

  // Expiry: both made first (each change clears remembered sign-ins), then each signs in once.
  // Six seconds: the setup between making them and signing in must finish before they expire,
  // also on a loaded machine (two seconds did not, at a load of 10 on two cores).
  const expiring = await createServicePrincipal(main, "short", "owner", { expiresIn: 6 });
  await createToken(main, "tok-short", "team-app");
  const slot2 = await api<{ password: string }>(main, "POST", "/api/v1/tokens/tok-short/passwords/2", { expiresIn: 6 });
  // Both expiries were set before this moment (each when the server made it), so both have run out by a second past it plus six.
  const madeBy = Date.now();
  const expiringToken = await useOnce(main, basic(expiring.id, expiring.secret));
  await useOnce(main, basic("tok-short", slot2.password));
  await sleep(Math.max(0, madeBy + 7_000 - Date.now()));
  // Straight after expiry, before any identity change clears remembered sign-ins.
  for (const [name, authorization] of [["service principal secret", basic(expiring.id, expiring.secret)], ["token password 2", basic("tok-short", slot2.password)]] as const) {
    const res = await fetch(`${main.url}/v2/team/app/tags/list`, { headers: { authorization } });
    await res.body?.cancel();
    expiredRightAway.push({ name, status: res.status });
  }
  add("service principal, expired", revoked, basic(expiring.id, expiring.secret), "main", expiringToken);
  add("token password 2, expired", revoked, basic("tok-short", slot2.password));
});

after(async () => {
  await Promise.all([main?.dispose(), open?.dispose()]);
});

async function authorizationFor(who: Identity, berth: RunningBerth, style: Style, action: Action, repo: string): Promise<{ auth: string | null } | { refused: Outcome }> {
  if (style === "basic") return { auth: who.authorization };
  const present = (token: string) => (style === "bearer" ? `Bearer ${token}` : basic(ZERO_GUID, token));
  if (who.earlierToken) return { auth: present(who.earlierToken) };
  const answer = await getToken(berth, who.authorization, scopesFor(action, repo));
  if (answer.status !== 200) return { refused: { status: answer.status, note: "GET /oauth2/token" } };
  return { auth: present(accessTokenOf(answer)) };
}

function describe(outcome: Outcome): string {
  return `${outcome.status}${outcome.listed === undefined ? "" : outcome.listed ? " listed" : " not listed"}${outcome.note ? ` (at ${outcome.note})` : ""}`;
}

function agrees(expected: Expectation, outcome: Outcome, action: Action): boolean {
  // A mount is allowed when it mounts (201); 202 means a plain upload started instead.
  if (action.need === "mount") return expected.allowed ? outcome.status === 201 : expected.refusals.includes(outcome.status);
  if (expected.allowed) return action.listing ? outcome.status === 200 && outcome.listed === true : outcome.status >= 200 && outcome.status < 300;
  if (outcome.status === 200 && action.listing) return expected.refusals.includes(200) && outcome.listed === false;
  return expected.refusals.includes(outcome.status);
}

test("access matrix: every identity × action × repository answers as the model says", { timeout: 600_000 }, async (t) => {
  const tally = { checks: 0, allowed: 0, refused: 0 };
  // Identities run side by side (refused passwords cost Berth a scrypt each), cells of one identity
  // in order. Revoked identities go first, as a group: nothing in it changes an identity (their
  // POST /api/v1/users is refused), so whether a remembered sign-in outlives a revocation does not
  // depend on when another identity's POST /api/v1/users happens to clear the memory.
  const cells = async (who: Identity) => {
    const failures: string[] = [];
    const berth = who.berth === "main" ? main : open;
    for (const action of ACTIONS) {
      for (const style of action.styles ?? (action.oci ? (["basic", "bearer"] as const) : (["basic"] as const))) {
        const targets = action.global ? [fixtures.get(berth)![0]!] : fixtures.get(berth)!;
        for (const fixture of targets) {
          const repo = action.global ? null : fixture.repo;
          const expected = expect(who.grants, action, repo, style);
          const auth = await authorizationFor(who, berth, style, action, fixture.repo);
          const outcome = "refused" in auth ? auth.refused : await action.run({ berth, auth: auth.auth, fixture });
          tally.checks++;
          tally[expected.allowed ? "allowed" : "refused"]++;
          if (!agrees(expected, outcome, action)) {
            const want = expected.allowed ? (action.listing ? "200 listed" : "2xx") : expected.refusals.map((s) => (s === 200 ? "200 not listed" : String(s))).join("|");
            failures.push(`${who.name} | ${style} | ${action.name} | ${repo ?? "(registry)"}: expected ${want}, got ${describe(outcome)}`);
          }
        }
      }
    }
    return failures;
  };
  const revokedFirst = await Promise.all(identities.filter((who) => who.grants.kind === "revoked").map(cells));
  const theRest = await Promise.all(identities.filter((who) => who.grants.kind !== "revoked").map(cells));
  const failures = [...revokedFirst, ...theRest].flat();
  const checks = tally.checks;
  t.diagnostic(`${checks} checks (${tally.allowed} expected allowed, ${tally.refused} expected refused), ${failures.length} unexpected`);
  console.log(`access matrix: ${checks} checks, ${failures.length} unexpected`);
  assert.ok(checks >= 300, `only ${checks} checks`);
  assert.deepEqual(failures, [], `${failures.length} of ${checks} checks answered against the model:\n${failures.join("\n")}`);
});

test("an expired secret is refused at once, though it signed in a second before it expired", () => {
  assert.equal(expiredRightAway.length, 2);
  for (const { name, status } of expiredRightAway) assert.equal(status, 401, `${name}: GET /v2/team/app/tags/list 1 s after expiry answered ${status}`);
});

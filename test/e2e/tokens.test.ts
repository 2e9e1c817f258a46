// Berth's token service from the outside: forged, expired, foreign and misdirected JWTs are
// refused (401 with error="invalid_token"; a token for another repository names
// insufficient_scope), every grant of the Docker token protocol and its OAuth2 variant works
// (GET with offline_token, POST password and refresh_token with access_type=offline, ACR's
// /oauth2/exchange and the zero-GUID user), and a password guesser meets 429 + Retry-After.
// research/registries.md §3.1–3.6; contract /tmp/identity-spec.md "Token service".
//
// Expiry: Berth allows 5 s of clock skew on exp and nbf (distribution allows 60 s; Berth verifies
// only its own tokens). The test also signs tokens with Berth's own signing key, read from its
// database (test-only access to the data directory): the signature is valid, so only the claims
// decide. exp 120 s and 30 s ago → refused; exp 2 s ago → accepted (the leeway); nbf 120 s ahead
// → refused. With BERTH_AUTH_TOKEN_LIFETIME=1 a real token is still accepted 3 s after its exp
// and refused 8 s after.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, test } from "node:test";
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from "jose";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { seedRepository } from "../support/access-probes.ts";
import {
  accessTokenOf, basic, challengeParams, createUser, exchange, getToken, postToken, ZERO_GUID,
} from "../support/identity-api.ts";

let berth: RunningBerth;
let user: string; // Basic header of an acrpush user
let userPassword: string;

before(async () => {
  berth = await startBerth({ env: { BERTH_AUTH_TOKEN_LIFETIME: "1" } });
  await seedRepository(berth, "team/a", "1.0.0");
  await seedRepository(berth, "team/b", "1.1.0");
  userPassword = await createUser(berth, "pusher", ["acrpush"]);
  user = basic("pusher", userPassword);
});

after(() => berth?.dispose());

/** GET /v2/<repo>/tags/list with the header; the status and the challenge. */
async function tags(repo: string, authorization: string): Promise<{ status: number; challenge: Record<string, string>; raw: string | null }> {
  const res = await fetch(`${berth.url}/v2/${repo}/tags/list`, { headers: { authorization } });
  await res.body?.cancel();
  const raw = res.headers.get("www-authenticate");
  return { status: res.status, challenge: challengeParams(raw), raw };
}

async function assertInvalidToken(token: string, what: string): Promise<void> {
  const answer = await tags("team/a", `Bearer ${token}`);
  assert.equal(answer.status, 401, `${what}: expected 401, got ${answer.status}`);
  assert.equal(answer.challenge.error, "invalid_token", `${what}: challenge ${answer.raw}`);
  assert.match(answer.raw ?? "", /^Bearer /, `${what}: a Bearer challenge, so the client asks for a new token`);
}

/** A real access token for team/a pull, and its decoded parts. */
async function realToken(): Promise<{ token: string; header: ReturnType<typeof decodeProtectedHeader>; claims: JWTPayload }> {
  const token = accessTokenOf(await getToken(berth, user, ["repository:team/a:pull"]));
  return { token, header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

const now = () => Math.floor(Date.now() / 1000);

/** Berth's active signing key, straight from its database (the test's only look behind the API). */
async function berthKey(): Promise<{ kid: string; key: CryptoKey }> {
  const db = new DatabaseSync(join(berth.dataDir, "berth.db"), { readOnly: true });
  try {
    const row = db.prepare("select kid, private_jwk from signing_keys where retired_at is null order by created_at desc limit 1").get() as { kid: string; private_jwk: string };
    return { kid: row.kid, key: (await importJWK(JSON.parse(row.private_jwk) as JWK, "ES256")) as CryptoKey };
  } finally {
    db.close();
  }
}

async function signWithBerthKey(claims: JWTPayload): Promise<string> {
  const { kid, key } = await berthKey();
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).sign(key);
}

test("a real access token works as Bearer; the answer has token, access_token, expires_in and an RFC 3339 issued_at", async () => {
  const answer = await getToken(berth, user, ["repository:team/a:pull"]);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body?.token, answer.body?.access_token);
  assert.equal(typeof answer.body?.expires_in, "number");
  assert.match(answer.body?.issued_at ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  assert.equal((await tags("team/a", `Bearer ${accessTokenOf(answer)}`)).status, 200);
});

test("alg none: refused with 401 error=invalid_token", async () => {
  const { header, claims } = await realToken();
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  const unsigned = `${encode({ ...header, alg: "none" })}.${encode({ ...claims, exp: now() + 600 })}.`;
  await assertInvalidToken(unsigned, "alg none, empty signature");
  await assertInvalidToken(`${encode({ alg: "none", typ: "JWT" })}.${encode({ ...claims, exp: now() + 600 })}.`, "alg none without kid");
});

test("signed by another key (Berth's kid, a new ES256 key; HS256 over Berth's public key): 401 invalid_token", async () => {
  const { header, claims } = await realToken();
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const forged = await new SignJWT({ ...claims, exp: now() + 600 }).setProtectedHeader({ alg: "ES256", kid: header.kid, typ: "JWT" }).sign(privateKey);
  await assertInvalidToken(forged, "another ES256 key under Berth's kid");
  const ownKid = await new SignJWT({ ...claims, exp: now() + 600 }).setProtectedHeader({ alg: "ES256", kid: "attacker", typ: "JWT" }).sign(privateKey);
  await assertInvalidToken(ownKid, "another ES256 key under its own kid");
  // Algorithm confusion: HMAC keyed with the verifier's public key.
  const publicJwk = JSON.stringify(await exportJWK(publicKey));
  const hmac = await new SignJWT({ ...claims, exp: now() + 600 }).setProtectedHeader({ alg: "HS256", kid: header.kid, typ: "JWT" }).sign(new TextEncoder().encode(publicJwk));
  await assertInvalidToken(hmac, "HS256");
});

test("expiry with a valid signature: exp 120 s and 30 s ago refused, exp 2 s ago accepted (5 s leeway), nbf 120 s ahead refused", async () => {
  const { claims } = await realToken();
  await assertInvalidToken(await signWithBerthKey({ ...claims, iat: now() - 600, nbf: now() - 600, exp: now() - 120 }), "exp 120 s ago");
  // distribution allows 60 s; Berth verifies only its own tokens, on one clock source: 5 s.
  await assertInvalidToken(await signWithBerthKey({ ...claims, iat: now() - 600, nbf: now() - 600, exp: now() - 30 }), "exp 30 s ago");
  const withinLeeway = await tags("team/a", `Bearer ${await signWithBerthKey({ ...claims, iat: now() - 600, nbf: now() - 600, exp: now() - 2 })}`);
  assert.equal(withinLeeway.status, 200, "exp 2 s ago is inside the 5 s leeway");
  await assertInvalidToken(await signWithBerthKey({ ...claims, iat: now(), nbf: now() + 120, exp: now() + 600 }), "nbf 120 s ahead");
  // The key alone is not enough: audience, issuer and the token's use are checked too.
  await assertInvalidToken(await signWithBerthKey({ ...claims, aud: "other.example", exp: now() + 600 }), "aud of another service");
  await assertInvalidToken(await signWithBerthKey({ ...claims, iss: "someone-else", exp: now() + 600 }), "another issuer");
  await assertInvalidToken(await signWithBerthKey({ ...claims, token_use: "refresh", exp: now() + 600 }), "a refresh token as Bearer");
});

test("a real token past its exp (lifetime 1 s) still works 3 s later: the leeway as a client sees it", async () => {
  const answer = await getToken(berth, user, ["repository:team/a:pull"]);
  assert.equal(answer.body?.expires_in, 1, "BERTH_AUTH_TOKEN_LIFETIME=1");
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal((await tags("team/a", `Bearer ${accessTokenOf(answer)}`)).status, 200);
});

test("a real token 7 s past its exp is refused: the leeway ends it", async () => {
  const token = accessTokenOf(await getToken(berth, user, ["repository:team/a:pull"]));
  await new Promise((r) => setTimeout(r, 8_000));
  await assertInvalidToken(token, "lifetime 1 s, 8 s later");
});

test("a token issued for another service (GET /oauth2/token?service=other) is refused on this host: 401 invalid_token", async () => {
  const answer = await getToken(berth, user, ["repository:team/a:pull"], { service: "other.example" });
  assert.equal(answer.status, 200, answer.text);
  await assertInvalidToken(accessTokenOf(answer), "service=other.example");
});

test("a token for repository:team/a:pull used on team/b: refused, the challenge says insufficient_scope", async () => {
  const token = accessTokenOf(await getToken(berth, user, ["repository:team/a:pull"]));
  const answer = await tags("team/b", `Bearer ${token}`);
  assert.ok(answer.status === 401 || answer.status === 403, `expected 401/403, got ${answer.status}`);
  assert.equal(answer.challenge.error, "insufficient_scope", `GET /v2/team/b/tags/list with a team/a token answered ${answer.status}, WWW-Authenticate: ${answer.raw}`);
  assert.equal(answer.challenge.scope, "repository:team/b:pull", `the challenge names the scope to ask for: ${answer.raw}`);
  // A push with a pull-only token: the same.
  const push = await fetch(`${berth.url}/v2/team/a/blobs/uploads/`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  await push.body?.cancel();
  assert.ok(push.status === 401 || push.status === 403);
  assert.equal(challengeParams(push.headers.get("www-authenticate")).error, "insufficient_scope", `push with a pull token: ${push.status} ${push.headers.get("www-authenticate")}`);
});

test("POST /oauth2/token grant_type=password and refresh_token (access_type=offline): both access tokens work", async () => {
  const password = await postToken(berth, { grant_type: "password", username: "pusher", password: userPassword, scope: "repository:team/a:pull,push repository:team/b:pull", access_type: "offline" });
  assert.equal(password.status, 200, password.text);
  assert.ok(password.body?.access_token, "oras-go reads access_token on POST");
  assert.ok(password.body?.refresh_token, "access_type=offline returns a refresh token");
  assert.equal((await tags("team/a", `Bearer ${password.body.access_token}`)).status, 200);
  assert.equal((await tags("team/b", `Bearer ${password.body.access_token}`)).status, 200, "space-separated scopes are all granted");

  const refreshed = await postToken(berth, { grant_type: "refresh_token", refresh_token: password.body.refresh_token, scope: "repository:team/b:pull" });
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal((await tags("team/b", `Bearer ${accessTokenOf(refreshed)}`)).status, 200);

  const without = await postToken(berth, { grant_type: "password", username: "pusher", password: userPassword, scope: "repository:team/a:pull" });
  assert.equal(without.body?.refresh_token, undefined, "no refresh token unless access_type=offline");
  assert.equal((await postToken(berth, { grant_type: "password", username: "pusher", password: "wrong", scope: "repository:team/a:pull" })).status, 401);
  const accessAsRefresh = await postToken(berth, { grant_type: "refresh_token", refresh_token: password.body.access_token, scope: "repository:team/a:pull" });
  assert.equal(accessAsRefresh.status, 401, `an access token is no refresh token: ${accessAsRefresh.text}`);
});

test("GET /oauth2/token?offline_token=true returns a refresh token that the refresh grant accepts", async () => {
  const answer = await getToken(berth, user, ["repository:team/a:pull"], { offline: true });
  assert.equal(answer.status, 200, answer.text);
  assert.ok(answer.body?.refresh_token, `no refresh_token: ${answer.text}`);
  assert.equal((await getToken(berth, user, ["repository:team/a:pull"])).body?.refresh_token, undefined, "none without offline_token");
  const refreshed = await postToken(berth, { grant_type: "refresh_token", refresh_token: answer.body.refresh_token, scope: "repository:team/a:pull" });
  assert.equal((await tags("team/a", `Bearer ${accessTokenOf(refreshed)}`)).status, 200);
});

test("/oauth2/exchange → refresh token → password of the zero-GUID user on /v2, /helm/v1/repo/index.yaml and /api/v1/charts", async () => {
  const refresh = await exchange(berth, "pusher", userPassword);
  const authorization = basic(ZERO_GUID, refresh);
  for (const path of ["/v2/team/a/tags/list", "/helm/v1/repo/index.yaml", "/api/v1/charts"]) {
    const res = await fetch(`${berth.url}${path}`, { headers: { authorization } });
    await res.body?.cancel();
    assert.equal(res.status, 200, `GET ${path} as ${ZERO_GUID} with the exchanged refresh token`);
  }
  // And through the token flow, as docker, oras, crane and skopeo use a stored login.
  assert.equal((await tags("team/a", `Bearer ${accessTokenOf(await getToken(berth, authorization, ["repository:team/a:pull"]))}`)).status, 200);
  const helmLogin = await postToken(berth, { grant_type: "password", username: ZERO_GUID, password: refresh, scope: "repository:team/a:pull" });
  assert.equal(helmLogin.status, 200, `helm registry login's POST with the zero-GUID user: ${helmLogin.text}`);
  // An access token as the zero-GUID password works too (the contract); garbage does not.
  const access = accessTokenOf(await getToken(berth, user, ["repository:team/a:pull"]));
  assert.equal((await tags("team/a", basic(ZERO_GUID, access))).status, 200);
  assert.equal((await tags("team/a", basic(ZERO_GUID, "not-a-token"))).status, 401);
  const noCredentials = await fetch(`${berth.url}/oauth2/exchange`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=password&username=pusher&password=wrong" });
  await noCredentials.body?.cancel();
  assert.equal(noCredentials.status, 401);
});

test("11 wrong passwords for one name within a minute: 429 TOOMANYREQUESTS with Retry-After; other names still sign in", async (t) => {
  // A Berth of its own: the limiter's memory would refuse the other tests' sign-ins.
  const limited = await startBerth();
  t.after(() => limited.dispose());
  const right = await createUser(limited, "guessed", ["acrpull"]);
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 11; i++) {
    last = await fetch(`${limited.url}/v2/`, { headers: { authorization: basic("guessed", `wrong-${i}`) } });
    statuses.push(last.status);
    if (i < 10) await last.body?.cancel();
  }
  assert.deepEqual(statuses, [...Array<number>(10).fill(401), 429], `statuses: ${statuses.join(" ")}`);
  const retryAfter = Number(last!.headers.get("retry-after"));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${last!.headers.get("retry-after")}`);
  const body = (await last!.json()) as { errors: { code: string }[] };
  assert.equal(body.errors[0]?.code, "TOOMANYREQUESTS");
  const rightNow = await fetch(`${limited.url}/v2/`, { headers: { authorization: basic("guessed", right) } });
  await rightNow.body?.cancel();
  assert.equal(rightNow.status, 429, "while limited, even the right password waits");
  const tokenEndpoint = await fetch(`${limited.url}/oauth2/token?service=${limited.host}&scope=repository:x/y:pull`, { headers: { authorization: basic("guessed", right) } });
  await tokenEndpoint.body?.cancel();
  assert.equal(tokenEndpoint.status, 429, "the token endpoint shares the limit");
  const other = await fetch(`${limited.url}/v2/`, { headers: { authorization: limited.basicAuth } });
  await other.body?.cancel();
  assert.equal(other.status, 200, "another name is not limited");
});

// The identity side of a running Berth over plain HTTP, for the access-matrix, token and client
// tests: the management API (users, service principals, scope maps, tokens, attributes) signed in
// as the admin, the token endpoints (/oauth2/token GET and POST, /oauth2/exchange), and the
// Authorization headers each kind of credential turns into. Contract: /tmp/identity-spec.md;
// token protocol: shared/research/registries.md §3.
import { checkApiAnswer } from "./api-contract.ts";
import type { RunningBerth } from "./berth.ts";

export const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** A management API call as the admin (or `authorization`); throws with the body unless 2xx. */
export async function api<T>(berth: RunningBerth, method: string, path: string, body?: unknown, authorization = berth.basicAuth): Promise<T> {
  const res = await fetch(`${berth.url}${path}`, {
    method,
    headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  checkApiAnswer(method, path, res.status, Buffer.from(text));
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : null) as T;
}

export type Role = "acrpull" | "acrpush" | "acrdelete" | "owner";

/** POST /api/v1/users; the password (given or generated). */
export async function createUser(berth: RunningBerth, name: string, roles: Role[], password?: string): Promise<string> {
  const created = await api<{ password: string }>(berth, "POST", "/api/v1/users", { name, roles, ...(password ? { password } : {}) });
  return created.password;
}

export interface ServicePrincipal { id: string; secret: string }

/** POST /api/v1/service-principals: the id signs in as the username, the secret as password. */
export async function createServicePrincipal(berth: RunningBerth, name: string, role: Role, options: { scope?: string; expiresIn?: number } = {}): Promise<ServicePrincipal> {
  return api<ServicePrincipal>(berth, "POST", "/api/v1/service-principals", { name, role, ...options });
}

export interface ScopeRule { repository: string; actions: string[] }

export async function putScopeMap(berth: RunningBerth, name: string, rules: ScopeRule[]): Promise<void> {
  await api(berth, "PUT", `/api/v1/scope-maps/${name}`, { description: `test map ${name}`, rules });
}

/** POST /api/v1/tokens; password 1. */
export async function createToken(berth: RunningBerth, name: string, scopeMap: string): Promise<string> {
  const created = await api<{ passwords: { slot: number; password: string }[] }>(berth, "POST", "/api/v1/tokens", { name, scopeMap });
  const password = created.passwords.find((p) => p.slot === 1)?.password;
  if (!password) throw new Error(`POST /api/v1/tokens answered no password 1: ${JSON.stringify(created)}`);
  return password;
}

export interface Attributes { readEnabled?: boolean; writeEnabled?: boolean; deleteEnabled?: boolean; listEnabled?: boolean; anonymousPull?: boolean }

/** A repository's attributes, or with `tag` one tag's (a chart version's tag locks that version). */
export async function patchAttributes(berth: RunningBerth, repository: string, attributes: Attributes, tag?: string): Promise<void> {
  await api(berth, "PATCH", `/api/v1/repositories/${repository}/attributes${tag === undefined ? "" : `?tag=${encodeURIComponent(tag)}`}`, attributes);
}

function form(fields: Record<string, string>): RequestInit {
  return { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() };
}

/** POST /oauth2/exchange grant_type=password: ACR's refresh token (the `berth login` token). */
export async function exchange(berth: RunningBerth, username: string, password: string): Promise<string> {
  const res = await fetch(`${berth.url}/oauth2/exchange`, form({ grant_type: "password", username, password, service: berth.host }));
  const text = await res.text();
  if (!res.ok) throw new Error(`POST /oauth2/exchange answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { refresh_token: string }).refresh_token;
}

export interface TokenAnswer {
  status: number;
  headers: Headers;
  body: { token?: string; access_token?: string; refresh_token?: string; expires_in?: number; issued_at?: string; scope?: string } | null;
  text: string;
}

async function answer(res: Response): Promise<TokenAnswer> {
  const text = await res.text();
  let body: TokenAnswer["body"] = null;
  try {
    body = JSON.parse(text) as TokenAnswer["body"];
  } catch {
    // an error page: status and text say what happened
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** GET /oauth2/token?service=&scope=…[&offline_token=true] with the given Authorization (or none). */
export async function getToken(berth: RunningBerth, authorization: string | null, scopes: string[], options: { service?: string; offline?: boolean } = {}): Promise<TokenAnswer> {
  const url = new URL(`${berth.url}/oauth2/token`);
  url.searchParams.set("service", options.service ?? berth.host);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  if (options.offline) url.searchParams.set("offline_token", "true");
  return answer(await fetch(url, { headers: authorization ? { authorization } : {} }));
}

/** POST /oauth2/token (the OAuth2 variant): form fields as given, service defaulted. */
export async function postToken(berth: RunningBerth, fields: Record<string, string>): Promise<TokenAnswer> {
  return answer(await fetch(`${berth.url}/oauth2/token`, form({ service: berth.host, client_id: "berth-tests", ...fields })));
}

/** The access token of a successful token answer; throws with the answer otherwise. */
export function accessTokenOf(answer: TokenAnswer): string {
  const token = answer.body?.access_token ?? answer.body?.token;
  if (answer.status !== 200 || !token) throw new Error(`token endpoint answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  return token;
}

/** The parameters of a `Bearer k="v",…` (or Basic) challenge, keys lowercased. */
export function challengeParams(header: string | null): Record<string, string> {
  return Object.fromEntries([...(header ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
}

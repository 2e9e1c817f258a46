// Plain HTTP reads against the registry under test, for what a client test checks after the
// client is done (is the tag gone, what does the referrers API list). It answers the auth
// challenge the way clients do: Basic first; on a Bearer challenge, a token from the realm.
export interface Credentials {
  url: string;
  username: string;
  password: string;
}

export async function registryFetch(target: Credentials, path: string, init: RequestInit = {}): Promise<Response> {
  const basic = `Basic ${Buffer.from(`${target.username}:${target.password}`).toString("base64")}`;
  const first = await fetch(`${target.url}${path}`, { ...init, headers: { ...headersOf(init), authorization: basic } });
  const challenge = first.headers.get("www-authenticate") ?? "";
  if (first.status !== 401 || !/^bearer /i.test(challenge)) return first;
  await first.body?.cancel();
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
  const realm = new URL(params.realm ?? "", target.url);
  if (params.service) realm.searchParams.set("service", params.service);
  if (params.scope) realm.searchParams.set("scope", params.scope);
  const tokenResponse = await fetch(realm, { headers: { authorization: basic } });
  if (!tokenResponse.ok) throw new Error(`token request ${realm} answered ${tokenResponse.status}: ${await tokenResponse.text()}`);
  const body = (await tokenResponse.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  return fetch(`${target.url}${path}`, { ...init, headers: { ...headersOf(init), authorization: `Bearer ${token}` } });
}

function headersOf(init: RequestInit): Record<string, string> {
  return Object.fromEntries(new Headers(init.headers).entries());
}

// What an outside tester found after issue 12's fixes (the attack review of 2026-12-06), each a
// request that must now be refused or answer alike: lock messages as existence oracles, locks
// lifted by pushing an index, nested indexes and referrers outside a lock's reach, proxies
// sharing one sign-in limit, tokens outliving a narrowed scope map, tokens past expiry,
// metadata of read-locked content, escape codes and passwords in the audit trail, a registry
// left without an unscoped owner, and Host headers shaping the token realm.
import assert from "node:assert/strict";
import { test } from "node:test";
import { addressKey } from "../../src/auth/rate-limit.ts";
import { AUTH, freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, type TestApp, type TestResponse } from "../support/app.ts";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function json(app: TestApp, method: string, url: string, body?: unknown, auth?: string | null): Promise<TestResponse> {
  return app.request(method, url, body === undefined ? { auth } : { body: JSON.stringify(body), headers: { "content-type": "application/json" }, auth });
}

function expectStatus(res: TestResponse, status: number, what: string) {
  assert.equal(res.status, status, `${what} answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
}

function indexOf(...children: { digest: string; body: Buffer; mediaType?: string }[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((c) => ({ mediaType: c.mediaType ?? OCI_MANIFEST, digest: c.digest, size: c.body.length })) }));
}

const sha = async (body: Buffer) => `sha256:${(await import("node:crypto")).createHash("sha256").update(body).digest("hex")}`;

async function lockTag(app: TestApp, repo: string, tag: string, attributes: Record<string, boolean>) {
  expectStatus(await json(app, "PATCH", `/api/v1/repositories/${repo}/attributes?tag=${tag}`, attributes), 200, `lock ${repo}:${tag}`);
}

test("a lock's message reaches only callers whose grants reach the resource: locked and missing look alike to the others", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team-a/app");
  expectStatus(await putManifest(app, "team-a/app", "v1", image.body), 201, "push v1");
  await lockTag(app, "team-a/app", "v1", { readEnabled: false, deleteEnabled: false, writeEnabled: false });
  const sp = (await json(app, "POST", "/api/v1/service-principals", { name: "b-reader", role: "acrpull", scope: "team-b/*" })).json();
  const outsider = basic(sp.id, sp.secret);
  const made = `sha256:${"0".repeat(64)}`;
  for (const [what, auth, expected] of [["anonymous", null, 401], ["a principal scoped to team-b", outsider, 403]] as const) {
    const pairs: [string, string, string][] = [
      ["DELETE", "/v2/team-a/app/manifests/v1", "/v2/team-a/app/manifests/v9"],
      ["GET", `/v2/team-a/app/manifests/${image.digest}`, `/v2/team-a/app/manifests/${made}`],
      ["PUT", "/v2/team-a/app/manifests/v1", "/v2/team-a/nothere/manifests/v1"],
      ["GET", "/api/v1/provenance/team-a/app/v1", "/api/v1/provenance/team-a/app/nosuch"],
    ];
    for (const [method, locked, missing] of pairs) {
      const a = await app.request(method, locked, { auth, ...(method === "PUT" ? { body: image.body, headers: { "content-type": OCI_MANIFEST } } : {}) });
      const b = await app.request(method, missing, { auth, ...(method === "PUT" ? { body: image.body, headers: { "content-type": OCI_MANIFEST } } : {}) });
      expectStatus(a, expected, `${what}: ${method} ${locked}`);
      expectStatus(b, expected, `${what}: ${method} ${missing}`);
      assert.equal(a.json().errors[0].message, b.json().errors[0].message, `${what}: ${method} tells a locked resource from a missing one`);
      assert.doesNotMatch(a.body.toString(), /v1|readEnabled|deleteEnabled|writeEnabled/, `${what}: the refusal names the lock`);
    }
  }
});

test("a pusher cannot lift a read lock by pushing an index or a manifest over the locked content", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team-a/app");
  expectStatus(await putManifest(app, "team-a/app", "v2", image.body), 201, "push v2");
  await lockTag(app, "team-a/app", "v2", { readEnabled: false });
  const pusher = basic("pusher", (await json(app, "POST", "/api/v1/users", { name: "pusher", roles: ["acrpush"] })).json().password);
  const evil = indexOf(image);
  const pushed = await app.request("PUT", "/v2/team-a/app/manifests/evil", { auth: pusher, body: evil, headers: { "content-type": OCI_INDEX } });
  assert.ok(pushed.status >= 400 && pushed.status < 500, `an index over read-locked content was stored: ${pushed.status}`);
  const copy = JSON.parse(image.body.toString());
  copy.annotations = { "evil": "yes" };
  const again = await app.request("PUT", "/v2/team-a/app/manifests/evil2", { auth: pusher, body: Buffer.from(JSON.stringify(copy)), headers: { "content-type": OCI_MANIFEST } });
  assert.ok(again.status >= 400 && again.status < 500, `a manifest over the read-locked layer was stored: ${again.status}`);
  expectStatus(await app.request("GET", `/v2/team-a/app/manifests/${image.digest}`, { auth: pusher }), 403, "the locked manifest by digest");
  expectStatus(await app.request("GET", `/v2/team-a/app/blobs/${image.layer}`, { auth: pusher }), 403, "the locked layer");
});

test("a tag lock reaches every depth of nested indexes, and the referrers of what it covers", async (t) => {
  const app = await freshApp(t);
  const repo = "team-a/nest";
  const leaf = await imageManifest(app, repo);
  expectStatus(await putManifest(app, repo, leaf.digest, leaf.body), 201, "leaf");
  const inner = indexOf(leaf);
  const innerDigest = await sha(inner);
  expectStatus(await putManifest(app, repo, innerDigest, inner, OCI_INDEX), 201, "inner index");
  const outer = indexOf({ digest: innerDigest, body: inner, mediaType: OCI_INDEX });
  expectStatus(await putManifest(app, repo, "nested", outer, OCI_INDEX), 201, "outer index");
  const sbom = await pushBlob(app, repo, "sbom of the leaf");
  const emptyConfig = await pushBlob(app, repo, "{}");
  const referrer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/spdx+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyConfig, size: 2 }, layers: [{ mediaType: "application/spdx+json", digest: sbom, size: 16 }], subject: { mediaType: OCI_MANIFEST, digest: leaf.digest, size: leaf.body.length } }));
  const referrerDigest = await sha(referrer);
  expectStatus(await putManifest(app, repo, referrerDigest, referrer), 201, "referrer");
  await lockTag(app, repo, "nested", { readEnabled: false, deleteEnabled: false });
  for (const [method, path, what] of [
    ["DELETE", `/v2/${repo}/blobs/${leaf.layer}`, "the grandchild's layer"],
    ["DELETE", `/v2/${repo}/blobs/${leaf.config}`, "the grandchild's config"],
    ["GET", `/v2/${repo}/blobs/${leaf.layer}`, "reading the grandchild's layer"],
    ["GET", `/v2/${repo}/manifests/${leaf.digest}`, "reading the grandchild"],
    ["GET", `/v2/${repo}/manifests/${referrerDigest}`, "reading the referrer by its digest"],
    ["GET", `/v2/${repo}/blobs/${sbom}`, "reading the referrer's SBOM"],
    ["GET", `/api/v1/provenance/${repo}@${referrerDigest}`, "the referrer's provenance"],
    ["GET", `/api/v1/metadata/${repo}@${leaf.digest}/_history`, "metadata history of read-locked content"],
  ] as const) {
    expectStatus(await app.request(method, path), 403, what);
  }
  const mount = await app.request("POST", `/v2/team-a/copy/blobs/uploads/?mount=${leaf.layer}&from=${repo}`);
  expectStatus(mount, 202, "mounting the grandchild's layer out (a plain upload starts instead)");
});

test("behind a trusted proxy, X-Forwarded-For names the client: a guesser never locks out the holder", async (t) => {
  const app = await freshApp(t, { "http.trustProxy": "127.0.0.1" });
  const password = (await json(app, "POST", "/api/v1/users", { name: "holder", roles: ["acrpull"] })).json().password as string;
  const via = (client: string) => ({ remoteAddress: "127.0.0.1", headers: { "x-forwarded-for": client } });
  for (let i = 0; i < 15; i++) await app.request("GET", "/v2/", { auth: basic("holder", `wrong-${i}`), ...via("203.0.113.9") });
  expectStatus(await app.request("GET", "/v2/", { auth: basic("holder", "wrong-again"), ...via("203.0.113.9") }), 429, "the guesser");
  expectStatus(await app.request("GET", "/v2/", { auth: basic("holder", password), ...via("198.51.100.4") }), 200, "the holder, through the same proxy");
  // Untrusted peers cannot pick their address.
  const direct = await freshApp(t);
  const secret = (await json(direct, "POST", "/api/v1/users", { name: "holder", roles: ["acrpull"] })).json().password as string;
  for (let i = 0; i < 12; i++) await direct.request("GET", "/v2/", { auth: basic("holder", `wrong-${i}`), remoteAddress: "10.9.9.9", headers: { "x-forwarded-for": `192.0.2.${i}` } });
  expectStatus(await direct.request("GET", "/v2/", { auth: basic("holder", secret), remoteAddress: "10.9.9.9" }), 429, "X-Forwarded-For from an untrusted peer is ignored");
});

test("sign-in limits count an IPv6 host by its /64", () => {
  assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
});

test("access tokens already issued follow a narrowed scope map, and anonymous tokens a closed anonymous pull", async (t) => {
  const app = await freshApp(t);
  await json(app, "PUT", "/api/v1/scope-maps/rw", { description: "", rules: [{ repository: "team-b/*", actions: ["content/read", "content/write", "content/delete"] }] });
  const password = (await json(app, "POST", "/api/v1/tokens", { name: "tk", scopeMap: "rw" })).json().passwords[0].password as string;
  const token = (await app.request("GET", "/oauth2/token?service=localhost:80&scope=repository:team-b/app:pull,push,delete", { auth: basic("tk", password), headers: { host: "localhost:80" } })).json().token as string;
  const bearer = { auth: `Bearer ${token}`, headers: { host: "localhost:80" } };
  expectStatus(await app.request("POST", "/v2/team-b/app/blobs/uploads/", bearer), 202, "push before");
  await json(app, "PUT", "/api/v1/scope-maps/rw", { description: "", rules: [{ repository: "team-b/other", actions: ["content/read"] }] });
  expectStatus(await app.request("POST", "/v2/team-b/app/blobs/uploads/", bearer), 401, "push with the token after the scope map was narrowed");

  const open = await freshApp(t);
  await pushBlob(open, "public/base", "base layer");
  await json(open, "PATCH", "/api/v1/repositories/public/base/attributes", { anonymousPull: true });
  const anonymous = (await open.request("GET", "/oauth2/token?service=localhost:80&scope=repository:public/base:pull", { auth: null, headers: { host: "localhost:80" } })).json().token as string;
  const asAnonymous = { auth: `Bearer ${anonymous}`, headers: { host: "localhost:80" } };
  expectStatus(await open.request("GET", "/v2/public/base/tags/list", asAnonymous), 200, "anonymous pull while on");
  await json(open, "PATCH", "/api/v1/repositories/public/base/attributes", { anonymousPull: false });
  expectStatus(await open.request("GET", "/v2/public/base/tags/list", asAnonymous), 401, "the anonymous token after anonymous pull was switched off");
});

test("an access token stops within seconds of its expiry, not a minute later", async (t) => {
  const app = await freshApp(t, { "auth.tokenLifetime": 1 });
  const token = (await app.request("GET", "/oauth2/token?service=localhost:80&scope=registry:catalog:*", { headers: { host: "localhost:80" } })).json().token as string;
  await sleep(7000);
  expectStatus(await app.request("GET", "/v2/_catalog", { auth: `Bearer ${token}`, headers: { host: "localhost:80" } }), 401, "a token 6 s past its expiry");
});

test("the audit trail holds neither escape codes nor passwords typed as names", async (t) => {
  const app = await freshApp(t);
  const typedAsName = "MySecretP4ss-typed-as-name";
  await app.request("GET", "/v2/", { auth: basic(typedAsName, "") });
  await app.request("GET", "/v2/", { auth: `Basic ${Buffer.from("ev\u001bil\u001b[31mRED\u001b]0;pwned\u0007:x").toString("base64")}` });
  const audit = await app.request("GET", "/api/v1/audit?limit=100", { auth: AUTH });
  const text = audit.body.toString();
  assert.ok(!text.includes(typedAsName), "a password typed as the name is in the audit trail");
  assert.doesNotMatch(text, /\\u001b|\u001b/, "an escape code is in the audit trail");
  assert.match(text, /unknown name #[0-9a-f]{12}/);
});

test("the admin cannot be disabled while the only other owner is scoped to some repositories", async (t) => {
  const app = await freshApp(t);
  expectStatus(await json(app, "POST", "/api/v1/service-principals", { name: "team-owner", role: "owner", scope: "team-a/*" }), 201, "a scoped owner");
  expectStatus(await json(app, "PATCH", "/api/v1/admin", { enabled: false }), 400, "disabling the admin");
  await json(app, "POST", "/api/v1/users", { name: "ops", roles: ["owner"] });
  expectStatus(await json(app, "PATCH", "/api/v1/admin", { enabled: false }), 200, "disabling the admin once an unscoped owner exists");
});

test("a Host header cannot shape the token challenge; with http.publicUrl the service is its host", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("GET", "/v2/", { auth: null, headers: { host: 'evil.example/x",realm="http://attacker.example' } });
  expectStatus(res, 401, "anonymous ping");
  const challenge = String(res.headers["www-authenticate"]);
  assert.doesNotMatch(challenge, /attacker|evil/);
  assert.equal(challenge.match(/realm=/g)?.length, 1);
  const configured = await freshApp(t, { "http.publicUrl": "https://registry.example.com" });
  const answer = await configured.request("GET", "/v2/", { auth: null, headers: { host: "evil.example" } });
  assert.match(String(answer.headers["www-authenticate"]), /realm="https:\/\/registry\.example\.com\/oauth2\/token",service="registry\.example\.com"/);
});

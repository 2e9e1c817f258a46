// Attack (session 8b): forged cursors on every list that takes one, read locks in listings, on
// SQLite and PostgreSQL, through the real handlers (inject()).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createHash } from "node:crypto";
import { validChart } from "../support/chart-fixtures.ts";
import { freshApp, imageManifest, putManifest, type TestApp } from "../support/app.ts";
import { usePostgres } from "../support/postgres.ts";
import type { DestinationPolicy } from "../../src/services/events/destinations.ts";
import { SendThread } from "../../src/services/events/send-thread.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";
import { MEDIA, notationSignature, platformImage, type Built } from "../support/provenance-images.ts";

const postgres = usePostgres();
const DAY = 86_400;
const onBackend = async (backend: "sqlite" | "postgres") => (backend === "postgres" ? { "metadata.driver": "postgres", "metadata.postgres.url": await postgres().database() } : {});
const sha256hex = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

async function seeded(t: Parameters<typeof freshApp>[0], backend: "sqlite" | "postgres"): Promise<TestApp> {
  const app = await freshApp(t, { "deletion.restorableFor": DAY, ...(await onBackend(backend)) });
  for (const tag of ["v1", "v2", "v3"]) {
    const m = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", tag, m.body)).status, 201);
  }
  assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app/tags/v3")).status, 200);
  return app;
}

async function statuses(app: TestApp, urls: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    const res = await app.request("GET", url);
    if (res.status >= 500) out.push(`${url} → ${res.status} ${res.body.toString().slice(0, 200)}`);
  }
  return out;
}

const HELD_PROBES = [
  `/api/v1/repositories?sort=pushed&last=${forged([Number.MAX_SAFE_INTEGER, "x"])}`,
  `/api/v1/repositories?sort=size&last=${forged([-Number.MAX_SAFE_INTEGER, "x"])}`,
  `/api/v1/repositories?sort=name&last=${forged(["\uffff".repeat(300), "x"])}`,
  `/api/v1/repositories?sort=name&last=${forged(["\ud800", "x"])}`,
  `/api/v1/repositories/team/app/tags?last=${forged(["\ud800", "\ud800"])}`,
  `/api/v1/repositories/team/app/tags?sort=time_desc&last=${forged([Number.MAX_SAFE_INTEGER, "\ud800", -Number.MAX_SAFE_INTEGER, "since"])}`,
  `/api/v1/repositories/team/app/manifests?last=${forged([Number.MAX_SAFE_INTEGER, "\udfff", Number.MAX_SAFE_INTEGER, "before"])}`,
  `/api/v1/search?label=a=b&last=${forged(["\ud800", "x"])}`,
  `/api/v1/search?label=a=b&last=${forged(["team/app", "\ud800"])}`,
  `/api/v1/charts?n=1&last=${forged(["team/app", "not a version"])}`,
  `/api/v1/charts?n=1&last=${forged(["team/app", ""])}`,
  `/api/v1/charts?n=1&last=${forged(["team/app", "1.0.0-+"])}`,
  `/api/v1/charts?n=1&last=${forged(["\ud800", "1.0.0"])}`,
  `/api/v1/events?after=10000000000000000000`,
  `/api/v1/events?after=9007199254740993`,
  `/api/v1/events?order=newest&before=10000000000000000000`,
  `/api/v1/events?repository=%ED%A0%80`,
  `/v2/_catalog?n=1&last=%FF`,
  `/v2/_catalog?n=1&last=%ED%A0%80`,
  `/v2/team/app/tags/list?n=1&last=%ED%A0%80`,
  `/v2/team/app/tags/list?n=99999999999999999999999`,
  `/v2/team/app/referrers/sha256:${"0".repeat(64)}?artifactType=%00`,
  `/api/v1/repositories/team/app/tags?q=%ED%A0%80`,
  `/api/v1/search?label=a=b&repository=%ED%A0%80`,
];

for (const backend of ["sqlite", "postgres"] as const) {
  test(`held (${backend}): forged cursors (unsafe or lone-surrogate values, garbage chart versions, huge event ids) on repositories, tags, manifests, search, charts, events, /v2 lists: never a 500`, async (t) => {
    const app = await seeded(t, backend);
    assert.deepEqual(await statuses(app, HELD_PROBES), []);
  });

  test(`${backend === "postgres" ? "attack" : "held"} (${backend}): a forged soft-delete cursor whose time is past Date's range (a safe integer beyond 8.64e15 ms) is never a 500`, async (t) => {
    const app = await seeded(t, backend);
    for (const value of [9e15, -9e15, Number.MAX_SAFE_INTEGER]) {
      const res = await app.request("GET", `/api/v1/deleted/team/app?last=${forged([value, "x"])}`);
      assert.ok(res.status < 500, `${value}: ${res.status} ${res.body}`);
    }
  });

  test(`${backend === "postgres" ? "attack" : "held"} (${backend}): a NUL in /v2/_catalog's or /v2/<r>/tags/list's \`last\` is a 4xx (the spec's error body), not a 500`, async (t) => {
    const app = await seeded(t, backend);
    assert.deepEqual(await statuses(app, ["/v2/_catalog?last=%00", "/v2/_catalog?n=1&last=a%00b", "/v2/team/app/tags/list?n=1&last=%00"]), []);
  });

  test(`${backend === "postgres" ? "attack" : "held"} (${backend}): a NUL in a list's filter (repositories ?q=, tags ?q=, search terms, events ?repository=) is a 400, not a 500`, async (t) => {
    const app = await seeded(t, backend);
    assert.deepEqual(await statuses(app, [
      "/api/v1/repositories?q=%00",
      "/api/v1/repositories/team/app/tags?q=%00",
      "/api/v1/search?label=a%00=b",
      "/api/v1/search?annotation=a=%00",
      "/api/v1/search?dockerfile=%00",
      "/api/v1/search?builder=%00",
      "/api/v1/search?label=a=b&repository=%00",
      "/api/v1/events?repository=%00",
    ]), []);
  });
}

// ---- Read locks: a read-locked tag counts in listings, but nothing it points at comes out ----

const JSON_TYPE = { "content-type": "application/json" };
const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;

async function pushBuilt(app: TestApp, repo: string, tag: string | null, built: Built): Promise<void> {
  for (const b of built.blobs) assert.equal((await app.request("POST", `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { body: b.bytes, headers: { "content-type": "application/octet-stream" } })).status, 201);
  for (const [i, m] of built.manifests.entries()) {
    const reference = i === built.manifests.length - 1 && tag !== null ? tag : m.digest;
    const res = await putManifest(app, repo, reference, m.bytes, m.mediaType);
    assert.equal(res.status, 201, String(res.body));
  }
}

/** Every credential kind that may pull team/app without being admin. */
interface Credential { auth: string | null; headers: Record<string, string> }

/** Every credential kind that may pull the repositories under `pattern` without being admin: anonymous pull, acrpull (Basic and the portal's session cookie), a scope-map token. */
async function pullers(app: TestApp, pattern = "team/*"): Promise<Record<string, Credential>> {
  const user = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "puller", roles: ["acrpull"], password: "puller-secret-1" }), headers: JSON_TYPE });
  assert.equal(user.status, 201, String(user.body));
  const map = await app.request("PUT", "/api/v1/scope-maps/readers", { body: JSON.stringify({ rules: [{ repository: pattern, actions: ["content/read", "metadata/read"] }] }), headers: JSON_TYPE });
  assert.equal(map.status, 201, String(map.body));
  const token = await app.request("POST", "/api/v1/tokens", { body: JSON.stringify({ name: "reader", scopeMap: "readers" }), headers: JSON_TYPE });
  assert.equal(token.status, 201, String(token.body));
  const signedIn = await app.request("POST", "/api/v1/session", { body: JSON.stringify({ username: "puller", password: "puller-secret-1" }), headers: JSON_TYPE, auth: null });
  assert.equal(signedIn.status, 200, String(signedIn.body));
  const cookie = String([signedIn.headers["set-cookie"]].flat()[0]).split(";")[0]!;
  return {
    anonymous: { auth: null, headers: {} },
    acrpull: { auth: basic("puller", "puller-secret-1"), headers: {} },
    "acrpull portal session": { auth: null, headers: { cookie } },
    "scope-map token": { auth: basic("reader", token.json().passwords[0].password), headers: {} },
  };
}

for (const backend of ["sqlite", "postgres"] as const) {
  test(`held (${backend}): a read-locked tag (signed, labelled, newest) leaks no digest, label, signature or provenance through /api/v1 or /v2 listings, for anonymous pull, acrpull (Basic and portal session) and a scope-map token`, async (t) => {
    const app = await freshApp(t, { "auth.anonymousPull": true, ...(await onBackend(backend)) });
    const open = platformImage({ os: "linux", architecture: "amd64" }, { "build.user": "public-builder", "build.sha": "1111111aaaa" });
    await pushBuilt(app, "team/app", "open", { blobs: [open.layer, open.config], manifests: [open.manifest] });
    const secret = platformImage({ os: "linux", architecture: "arm64" }, { "build.user": "hidden-builder", "build.sha": "2222222bbbb", "build.dockerfile": "https://example.com/hidden.Dockerfile" });
    await pushBuilt(app, "team/app", "secret", { blobs: [secret.layer, secret.config], manifests: [secret.manifest] });
    const signature = notationSignature(secret.manifest);
    await pushBuilt(app, "team/app", null, signature);
    // The probe sees what it looks for: before the lock, the secret's digest and labels are listed.
    const before = (await app.request("GET", "/api/v1/repositories/team/app/tags")).body.toString();
    assert.ok(before.includes(secret.manifest.digest) && before.includes("hidden-builder") && (await app.request("GET", "/api/v1/search?label=build.user=hidden-builder")).body.toString().includes(secret.manifest.digest), before);
    const locked = await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=secret", { body: JSON.stringify({ readEnabled: false }), headers: JSON_TYPE });
    assert.equal(locked.status, 200, String(locked.body));
    const secrets = {
      "secret's digest": secret.manifest.digest, "secret's config": secret.config.digest, "secret's layer": secret.layer.digest,
      "secret's build.user": "hidden-builder", "secret's build.sha": "2222222bbbb", "secret's dockerfile": "hidden.Dockerfile",
      "signature's digest": signature.signature.digest,
    };
    const d = secret.manifest.digest;
    const urls = [
      "/api/v1/repositories", "/api/v1/repositories?sort=pushed", "/api/v1/repositories?kind=image", "/api/v1/repositories/team/app",
      "/api/v1/repositories/team/app/tags", "/api/v1/repositories/team/app/tags?sort=time_desc", "/api/v1/repositories/team/app/tags?sort=time_asc&n=1", "/api/v1/repositories/team/app/tags?q=sec",
      "/api/v1/repositories/team/app/manifests", "/api/v1/repositories/team/app/manifests?untagged=true", "/api/v1/repositories/team/app/manifests?n=1",
      "/api/v1/repositories/team/app/manifests/secret", `/api/v1/repositories/team/app/manifests/${d}`, "/api/v1/repositories/team/app/manifests/open",
      `/api/v1/repositories/team/app/manifests/${signature.signature.digest}`,
      "/api/v1/search?label=build.user=hidden-builder", "/api/v1/search?label=build.user~hidden", "/api/v1/search?unsigned=true", "/api/v1/search?unverified=true",
      "/api/v1/search?dockerfile=https://example.com/hidden.Dockerfile", "/api/v1/search?builder=hidden-builder",
      "/api/v1/provenance/team/app/secret", `/api/v1/provenance/team/app@${d}`, `/api/v1/provenance/team/app/${d}`,
      `/api/v1/metadata/team/app@${d}/_values`, `/api/v1/metadata/team/app@${d}/_history`,
      "/v2/team/app/tags/list", `/v2/team/app/referrers/${d}`, "/v2/team/app/manifests/secret", `/v2/team/app/manifests/${d}`,
    ];
    const leaks: string[] = [];
    for (const [who, cred] of Object.entries(await pullers(app))) {
      if (!who.includes("session")) assert.equal((await app.request("GET", "/v2/team/app/manifests/open", { auth: cred.auth, headers: { ...cred.headers, accept: MEDIA.manifest } })).status, 200, `${who} may pull`);
      for (const url of urls) {
        if (who.includes("session") && url.startsWith("/v2/")) continue; // the cookie is the portal API's
        const res = await app.request("GET", url, cred);
        const text = res.body.toString() + JSON.stringify(res.headers);
        assert.ok(res.status < 500, `${who} ${url}: ${res.status} ${text.slice(0, 300)}`);
        for (const [what, value] of Object.entries(secrets)) if (text.includes(value)) leaks.push(`${who} ${url} (${res.status}) leaks the ${what}`);
      }
    }
    assert.deepEqual(leaks, []);
  });
}

// ---- Webhooks on the delivery thread ----

const FAST_HOOKS = {
  "webhooks.allowedHosts": ["127.0.0.1"],
  "webhooks.allowPrivateAddresses": true,
  "webhooks.backoffBase": 0.05,
  "webhooks.backoffCap": 0.4,
  "webhooks.timeout": 1,
};

async function hooked(t: Parameters<typeof freshApp>[0]): Promise<{ app: TestApp; receiver: WebhookReceiver }> {
  const app = await freshApp(t, FAST_HOOKS);
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const timer = setInterval(() => void app.berth.webhooks.tick().catch(() => undefined), 25);
  t.after(() => clearInterval(timer));
  return { app, receiver };
}

async function pushSome(app: TestApp, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const m = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", `v${i}`, m.body)).status, 201);
  }
}

test("attack: a webhook header value Node.js will not send (a character past Latin-1, or DEL) is refused when set, or its deliveries fail with that reason; its ping is no 500; the delivery thread is not thrown away for it", async (t) => {
  const { app, receiver } = await hooked(t);
  const failures: string[] = [];
  for (const [name, value] of [["euro", "price in \u20ac"], ["del", "a\u007fb"]] as const) {
    const res = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name, url: `${receiver.url}/${name}`, actions: ["push"], headers: { "X-Poison": value } }), headers: JSON_TYPE });
    if (res.status === 400) continue; // refused when set: held
    assert.equal(res.status, 201, String(res.body));
    const ping = await app.request("POST", `/api/v1/webhooks/${name}/ping`, { body: "{}", headers: JSON_TYPE });
    if (ping.status >= 500) failures.push(`${name}: ping is a ${ping.status}`);
  }
  const good = await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "good", url: `${receiver.url}/good`, actions: ["push"] }), headers: JSON_TYPE });
  assert.equal(good.status, 201, String(good.body));
  await pushSome(app, 3);
  // The good webhook gets all three whatever happens to the others (retries, in order).
  for (;;) {
    if (receiver.on("/good").length >= 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const name of ["euro", "del"]) {
    const res = await app.request("GET", `/api/v1/webhooks/${name}/deliveries`);
    if (res.status === 404) continue;
    for (;;) {
      const listed = (await app.request("GET", `/api/v1/webhooks/${name}/deliveries`)).json() as { deliveries: { attempts: number; error: string | null }[] };
      const tried = listed.deliveries.find((d) => d.attempts > 0);
      if (tried) {
        if (/thread/i.test(tried.error ?? "")) failures.push(`${name}: its delivery failed as "${tried.error}" (the thread died for it)`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.deepEqual(failures, []);
});

test("attack: on the delivery thread, a good webhook's batch sent beside one whose header Node.js refuses is delivered (the receiver answers it), not failed with the other's error", async (t) => {
  const receiver = new WebhookReceiver();
  const base = await receiver.start();
  t.after(() => receiver.stop());
  const failures: string[] = [];
  const thread = new SendThread({ allowedHosts: ["127.0.0.1"], allowPrivateAddresses: true } as unknown as DestinationPolicy, (err) => failures.push(err.message));
  t.after(() => thread.close());
  const timing = () => ({ timeoutMs: 5_000, windowMs: 5_000, leasedAt: Date.now() });
  const delivery = (headers: Record<string, string>) => [{ id: 1, eventId: 1, requestHeaders: headers, body: "{}" }];
  const [good, poison] = await Promise.all([
    thread.batch("good", { url: `${base}/good`, secret: "s" }, delivery({ "content-type": "application/json" }), timing()),
    thread.batch("poison", { url: `${base}/poison`, secret: "s" }, delivery({ "content-type": "application/json", "x-poison": "\u20ac" }), timing()),
  ]);
  assert.equal(poison[0]?.status, null, "the poison one fails");
  assert.deepEqual(failures, [], "the thread did not die");
  assert.equal(good[0]?.status, 204, `the good one: ${JSON.stringify(good)}`);
});

// helm.md: a read-locked version "does not download", only a list-locked one leaves index.yaml,
// `_charts` and ChartMuseum's list: those name it (with the chart digest Helm's index carries) by
// design. The portal's lists follow portal.md instead: a version with what it points at only
// where Authorizer.reveals lets it through ("the portal shows a read-locked tag's content nowhere").
test("attack: a read-locked classic chart version's digests and description do not come out of the portal API's chart lists (/api/v1/charts, a chart's page, the repository's tags and manifests) for acrpull (Basic and portal session), anonymous pull or a scope-map token", async (t) => {
  const app = await freshApp(t, { "auth.anonymousPull": true });
  const tgz = await validChart({ name: "demo", version: "1.0.0", description: "SECRET-DESCRIPTION-42" });
  const pushed = await app.request("PUT", "/helm/v1/charts/_blobs/demo-1.0.0.tgz", { body: tgz, headers: { "content-type": "application/octet-stream" } });
  assert.equal(pushed.status, 201, String(pushed.body));
  const open = await app.request("PUT", "/helm/v1/charts/_blobs/demo-0.9.0.tgz", { body: await validChart({ name: "demo", version: "0.9.0" }), headers: { "content-type": "application/octet-stream" } });
  assert.equal(open.status, 201, String(open.body));
  const manifestDigest = (await app.request("HEAD", "/v2/charts/demo/manifests/1.0.0", { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).headers["docker-content-digest"] as string;
  assert.match(manifestDigest, /^sha256:/);
  const locked = await app.request("PATCH", "/api/v1/repositories/charts/demo/attributes?tag=1.0.0", { body: JSON.stringify({ readEnabled: false }), headers: JSON_TYPE });
  assert.equal(locked.status, 200, String(locked.body));
  const secrets = { "manifest digest": manifestDigest.slice(7), "chart digest": sha256hex(tgz), description: "SECRET-DESCRIPTION-42" };
  const urls = [
    "/api/v1/charts", "/api/v1/charts?q=demo&n=10", "/api/v1/charts/charts/demo", "/api/v1/repositories/charts/demo", "/api/v1/repositories/charts/demo/tags", "/api/v1/repositories/charts/demo/manifests",
    "/helm/v1/charts/_charts/demo/1.0.0", "/api/helm/v1/charts/charts/demo/1.0.0",
  ];
  const leaks: string[] = [];
  for (const [who, cred] of Object.entries(await pullers(app, "charts/*"))) {
    for (const url of urls) {
      const res = await app.request("GET", url, cred);
      const text = res.body.toString();
      for (const [what, value] of Object.entries(secrets)) if (text.includes(value)) leaks.push(`${who} ${url} (${res.status}) names the read-locked version's ${what}`);
    }
  }
  assert.deepEqual(leaks, []);
});

// ---- Walks by push time ----

async function walkTags(app: TestApp, repo: string, sort: string, n: number, during: (page: number) => Promise<void> = async () => undefined): Promise<string[]> {
  const seen: string[] = [];
  let url = `/api/v1/repositories/${repo}/tags?sort=${sort}&n=${n}`;
  for (let page = 0; page < 100; page++) {
    const res = await app.request("GET", url);
    assert.equal(res.status, 200, res.body.toString());
    const body = res.json() as { tags: { name: string }[]; next: string | null };
    seen.push(...body.tags.map((t) => t.name));
    await during(page);
    if (!body.next) return seen;
    url = `/api/v1/repositories/${repo}/tags?sort=${sort}&n=${n}&last=${encodeURIComponent(body.next)}`;
  }
  assert.fail(`the walk did not end: ${seen.join(" ")}`);
}

for (const backend of ["sqlite", "postgres"] as const) {
  test(`held (${backend}): tags set in one push share a push time; a walk by time one tag a page lists each once (the tie broken by name), both orders, also with tags of other pushes between`, async (t) => {
    const app = await freshApp(t, await onBackend(backend));
    const names = ["t-a", "t-b", "t-c", "t-d", "t-e", "t-f"];
    const first = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", `${names[0]}?${names.slice(1).map((n) => `tag=${n}`).join("&")}`, first.body)).status, 201);
    await new Promise((r) => setTimeout(r, 5));
    const second = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", "u-a?tag=u-b&tag=u-c", second.body)).status, 201);
    for (const sort of ["time_desc", "time_asc"]) {
      for (const n of [1, 2, 4]) {
        const seen = await walkTags(app, "team/app", sort, n);
        assert.deepEqual([...seen].sort(), [...names, "u-a", "u-b", "u-c"].sort(), `${sort} n=${n}: ${seen.join(" ")}`);
      }
    }
  });

  test(`held (${backend}): a walk by time while the tags of one multi-tag push are deleted and set again by another multi-tag push lists no tag twice before the walk's end leg and misses none that stays`, async (t) => {
    const app = await freshApp(t, await onBackend(backend));
    for (let i = 0; i < 4; i++) {
      const m = await imageManifest(app, "team/app");
      assert.equal((await putManifest(app, "team/app", `p${i}-a?tag=p${i}-b`, m.body)).status, 201);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seen = await walkTags(app, "team/app", "time_desc", 1, async (page) => {
      if (page !== 1) return;
      assert.equal((await app.request("DELETE", "/api/v1/repositories/team/app/tags/p0-a")).status, 200); // not yet listed: gone
      const m = await imageManifest(app, "team/app");
      assert.equal((await putManifest(app, "team/app", "p3-a?tag=p1-b&tag=new", m.body)).status, 201); // one listed, one not, one new
    });
    const before = seen.slice(0, seen.length - 3);
    assert.equal(new Set(before).size, before.length, `listed twice before the end leg: ${seen.join(" ")}`);
    assert.ok(!seen.includes("p0-a"), seen.join(" "));
    for (const tag of ["p0-b", "p1-a", "p1-b", "p2-a", "p2-b", "p3-a", "p3-b", "new"]) assert.ok(seen.includes(tag), `${tag} missed: ${seen.join(" ")}`);
    assert.deepEqual(seen.slice(-3).sort(), ["new", "p1-b", "p3-a"], `the end leg: ${seen.join(" ")}`);
  });
}

for (const backend of ["sqlite", "postgres"] as const) {
  test(`held (${backend}): a cursor reused across repositories, sorts and lists: a walk's cursor on another repository, the other time order, the manifests list gives a page (never a 500); on the name sort, the repositories or deleted lists it is a 400`, async (t) => {
    const app = await seeded(t, backend);
    const other = await imageManifest(app, "team/other");
    assert.equal((await putManifest(app, "team/other", "o1", other.body)).status, 201);
    const tagWalk = (await app.request("GET", "/api/v1/repositories/team/app/tags?sort=time_desc&n=1")).json().next as string;
    const manifestWalk = (await app.request("GET", "/api/v1/repositories/team/app/manifests?n=1")).json().next as string;
    const byName = (await app.request("GET", "/api/v1/repositories/team/app/tags?n=1")).json().next as string;
    assert.ok(tagWalk && manifestWalk && byName);
    const pages = [
      `/api/v1/repositories/team/other/tags?sort=time_desc&last=${tagWalk}`, `/api/v1/repositories/team/app/tags?sort=time_asc&last=${tagWalk}`,
      `/api/v1/repositories/team/app/manifests?last=${tagWalk}`, `/api/v1/repositories/team/app/tags?sort=time_asc&last=${manifestWalk}`,
      `/api/v1/repositories/team/other/manifests?untagged=true&last=${manifestWalk}`,
    ];
    for (const url of pages) assert.equal((await app.request("GET", url)).status, 200, url);
    const refused = [
      `/api/v1/repositories/team/app/tags?last=${tagWalk}`, `/api/v1/repositories/team/app/tags?sort=time_desc&last=${byName}`, `/api/v1/repositories/team/app/manifests?last=${byName}`,
      `/api/v1/repositories?last=${tagWalk}`, `/api/v1/repositories?sort=size&last=${byName}`, `/api/v1/deleted/team/app?last=${byName}`, `/api/v1/search?label=a=b&last=${tagWalk}`,
    ];
    for (const url of refused) {
      const res = await app.request("GET", url);
      assert.equal(res.status, 400, `${url}: ${res.status} ${res.body}`);
    }
  });
}

test("attack: a repository's `pushed` (list and summary) is not the time of a push the caller's listings hide (a listEnabled: false tag set later)", async (t) => {
  const app = await freshApp(t);
  const shown = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "v1", shown.body)).status, 201);
  await new Promise((r) => setTimeout(r, 20)); // the hidden push its own millisecond
  const hidden = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "secret", hidden.body)).status, 201);
  assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=secret", { body: JSON.stringify({ listEnabled: false }), headers: JSON_TYPE })).status, 200);
  const { acrpull } = await pullers(app);
  assert.deepEqual((await app.request("GET", "/v2/team/app/tags/list", acrpull)).json().tags, ["v1"]);
  const tags = (await app.request("GET", "/api/v1/repositories/team/app/tags", acrpull)).json() as { tags: { name: string; pushed: string }[] };
  const newestShown = tags.tags.map((x) => x.pushed).sort().at(-1);
  const summary = (await app.request("GET", "/api/v1/repositories/team/app", acrpull!)).json() as { pushed: string };
  assert.equal(summary.pushed, newestShown, "the summary's last push is one the caller is shown");
});

test("held: a webhook deleted while its request is on the wire (the receiver holds it), then made again under its name: the new one gets only the pushes after it, its delivery list holds nothing of the old one's, and deliveries go on", async (t) => {
  const { app, receiver } = await hooked(t);
  await app.listen();
  receiver.answer = "hang";
  assert.equal((await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "w", url: `${receiver.url}/old`, actions: ["push"] }), headers: JSON_TYPE })).status, 201);
  await pushSome(app, 1);
  // The request received whole and held, not a fixed 200 ms after the connection: had its body
  // come in after the answer below is set to 204, the old webhook's request would be answered.
  while (receiver.held === 0) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await app.request("DELETE", "/api/v1/webhooks/w")).status, 200);
  receiver.answer = 204;
  assert.equal((await app.request("POST", "/api/v1/webhooks", { body: JSON.stringify({ name: "w", url: `${receiver.url}/new`, actions: ["push"] }), headers: JSON_TYPE })).status, 201);
  const m = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "after", m.body)).status, 201);
  await receiver.waitFor(1, 60_000);
  while (receiver.on("/new").length === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 1_500)); // a late answer of the old batch would have been recorded by now (timeout 1 s)
  const events = (await app.request("GET", "/api/v1/events?action=push")).json() as { events: { id: number }[] };
  const last = events.events.at(-1)!.id;
  assert.deepEqual(receiver.on("/new").map((r) => Number(JSON.parse(r.body).id)), [last]);
  assert.deepEqual(receiver.on("/old"), []);
  const listed = (await app.request("GET", "/api/v1/webhooks/w/deliveries")).json() as { deliveries: { eventId: number; status: string }[] };
  assert.deepEqual(listed.deliveries.map((d) => [d.eventId, d.status]), [[last, "delivered"]]);
});

// ---- NUL bytes that reach PostgreSQL's text (which refuses them) ----

for (const backend of ["sqlite", "postgres"] as const) {
  test(`${backend === "postgres" ? "attack" : "held"} (${backend}): a NUL in the Basic credentials' user name (or the portal sign-in's) is a 401, not a 500, on every route`, async (t) => {
    const app = await freshApp(t, await onBackend(backend));
    const bad: string[] = [];
    const basic = `Basic ${Buffer.from("adm\u0000in:some-password").toString("base64")}`;
    for (const url of ["/v2/", "/v2/team/app/tags/list", "/api/v1/repositories", "/oauth2/token?service=x&scope=repository:team/app:pull", "/helm/v1/charts/index.yaml"]) {
      const res = await app.request("GET", url, { auth: basic });
      if (res.status >= 500) bad.push(`GET ${url} → ${res.status}`);
    }
    const session = await app.request("POST", "/api/v1/session", { auth: null, body: JSON.stringify({ username: "admin\u0000", password: "x" }), headers: JSON_TYPE });
    if (session.status >= 500) bad.push(`POST /api/v1/session → ${session.status}`);
    assert.deepEqual(bad, []);
  });

  test(`${backend === "postgres" ? "attack" : "held"} (${backend}): a NUL in a manager's input (scope-map description, metadata value, a webhook or quota name in the path) is a 400 or 404, not a 500`, async (t) => {
    const app = await seeded(t, backend);
    const digest = (await app.request("HEAD", "/v2/team/app/manifests/v1", { headers: { accept: MEDIA.manifest } })).headers["docker-content-digest"] as string;
    const bad: string[] = [];
    for (const [method, url, body] of [
      ["PUT", "/api/v1/scope-maps/sm", { description: "d\u0000", rules: [{ repository: "team/*", actions: ["content/read"] }] }],
      ["PUT", "/api/v1/metadata/team/app/key1", { value: "v\u0000" }],
      ["PUT", `/api/v1/metadata/team/app@${digest}/key2`, { value: "v\u0000" }],
      ["GET", "/api/v1/webhooks/%00/deliveries", undefined],
      ["DELETE", "/api/v1/quotas/team/%00", undefined],
    ] as const) {
      const res = await app.request(method, url, body === undefined ? {} : { body: JSON.stringify(body), headers: JSON_TYPE });
      if (res.status >= 500) bad.push(`${method} ${url} → ${res.status}`);
    }
    assert.deepEqual(bad, []);
  });
}

for (const backend of ["sqlite", "postgres"] as const) {
  test(`held (${backend}): a read-locked repository leaks no digest or label of any of its tags through /api/v1 (repositories, summary, tags, manifests, search, provenance) for anonymous pull, acrpull (Basic and portal session) and a scope-map token`, async (t) => {
    const app = await freshApp(t, { "auth.anonymousPull": true, ...(await onBackend(backend)) });
    const images = [0, 1].map((i) => platformImage({ os: "linux", architecture: "amd64" }, { "build.user": `locked-builder-${i}`, "build.sha": `${i}${i}${i}9999abcd` }));
    for (const [i, image] of images.entries()) await pushBuilt(app, "team/app", `t${i}`, { blobs: [image.layer, image.config], manifests: [image.manifest] });
    const untagged = platformImage({ os: "linux", architecture: "arm64" }, { "build.user": "locked-builder-untagged" });
    await pushBuilt(app, "team/app", null, { blobs: [untagged.layer, untagged.config], manifests: [untagged.manifest] });
    assert.equal((await app.request("PATCH", "/api/v1/repositories/team/app/attributes", { body: JSON.stringify({ readEnabled: false }), headers: JSON_TYPE })).status, 200);
    const secrets: Record<string, string> = { "untagged digest": untagged.manifest.digest, "untagged label": "locked-builder-untagged" };
    for (const [i, image] of images.entries()) Object.assign(secrets, { [`t${i} digest`]: image.manifest.digest, [`t${i} label`]: `locked-builder-${i}` });
    const urls = [
      "/api/v1/repositories", "/api/v1/repositories?sort=pushed", "/api/v1/repositories/team/app", "/api/v1/repositories/team/app/tags", "/api/v1/repositories/team/app/tags?sort=time_asc",
      "/api/v1/repositories/team/app/manifests", "/api/v1/repositories/team/app/manifests?untagged=true", "/api/v1/repositories/team/app/manifests/t0", `/api/v1/repositories/team/app/manifests/${untagged.manifest.digest}`,
      "/api/v1/search?label=build.user~locked", "/api/v1/search?unsigned=true", "/api/v1/provenance/team/app/t0", `/api/v1/provenance/team/app@${untagged.manifest.digest}`,
    ];
    const leaks: string[] = [];
    for (const [who, cred] of Object.entries(await pullers(app))) {
      for (const url of urls) {
        const res = await app.request("GET", url, cred);
        const text = res.body.toString();
        assert.ok(res.status < 500, `${who} ${url}: ${res.status}`);
        for (const [what, value] of Object.entries(secrets)) if (text.includes(value)) leaks.push(`${who} ${url} (${res.status}) leaks the ${what}`);
      }
    }
    assert.deepEqual(leaks, []);
  });
}

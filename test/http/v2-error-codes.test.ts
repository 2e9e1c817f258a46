// Every refusal Berth can be driven to under /v2/ carries only the error codes of the OCI
// distribution spec's table (issue 13, point 6): clients map those codes to messages and show
// any other as a bare failure. Berth's own codes stay under /api/ and /helm/.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
import assert from "node:assert/strict";
import { test } from "node:test";
import { freshApp, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256, type TestApp, type TestResponse } from "../support/app.ts";

/** Copied from the spec, not imported from src/: the test must not trust what it checks. */
const SPEC_CODES = new Set([
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
]);

const octets = { "content-type": "application/octet-stream" };

interface Refusal {
  what: string;
  send: (app: TestApp, ctx: Fixture) => Promise<TestResponse>;
  status?: number;
  code?: string;
}

interface Fixture {
  blob: string;
  /** Basic credentials of a user who may only pull. */
  puller: string;
  image: Awaited<ReturnType<typeof imageManifest>>;
}

function manifestWith(ctx: Fixture, change: (json: Record<string, any>) => void): Buffer {
  const json = JSON.parse(ctx.image.body.toString());
  change(json);
  return Buffer.from(JSON.stringify(json));
}

async function startUpload(app: TestApp): Promise<string> {
  return String((await app.request("POST", "/v2/team/app/blobs/uploads/")).headers.location);
}

const BAD_TAGS = [
  "x".repeat(129),
  ".lead",
  "-lead",
  "a@b",
  "a+b",
  "a~b",
  "a*b",
  "a%20b",
  "a%00b",
  "a%0D%0Ab",
  "caf%C3%A9",
  "..",
  "%2e%2e",
  "..%2Fother",
];

const REFUSALS: Refusal[] = [
  // auth
  { what: "no credentials", send: (app) => app.request("GET", "/v2/", { auth: null }), status: 401, code: "UNAUTHORIZED" },
  { what: "a wrong password", send: (app) => app.request("GET", "/v2/team/app/tags/list", { auth: `Basic ${Buffer.from("admin:wrong").toString("base64")}` }), status: 401, code: "UNAUTHORIZED" },
  { what: "a garbage bearer token", send: (app) => app.request("GET", "/v2/team/app/tags/list", { auth: "Bearer not.a.token" }), status: 401, code: "UNAUTHORIZED" },
  { what: "an anonymous push", send: (app) => app.request("POST", "/v2/team/app/blobs/uploads/", { auth: null }), status: 401, code: "UNAUTHORIZED" },
  {
    what: "sign-ins failing too often",
    send: async (app) => {
      const wrong = { auth: `Basic ${Buffer.from("admin:wrong").toString("base64")}`, remoteAddress: "10.0.0.9" };
      for (let i = 0; i < 10; i++) await app.request("GET", "/v2/", wrong);
      return app.request("GET", "/v2/", wrong);
    },
    status: 429,
    code: "TOOMANYREQUESTS",
  },
  { what: "a push by a puller", send: (app, ctx) => app.request("POST", "/v2/team/app/blobs/uploads/", { auth: ctx.puller }), status: 403, code: "DENIED" },
  { what: "a push to a write-locked tag", send: (app, ctx) => putManifest(app, "team/app", "seed", ctx.image.body), status: 403, code: "DENIED" },
  // names
  { what: "an uppercase name", send: (app) => app.request("GET", "/v2/Team/App/tags/list"), status: 400, code: "NAME_INVALID" },
  { what: "a name too long", send: (app) => app.request("GET", `/v2/a/${"x".repeat(300)}/tags/list`), status: 400, code: "NAME_INVALID" },
  { what: "an unknown repository", send: (app) => app.request("GET", "/v2/team/none/tags/list"), status: 404, code: "NAME_UNKNOWN" },
  // paging
  ...["abc", "-1", "1.5", "1e3"].map((n): Refusal => ({ what: `tags n=${n}`, send: (app) => app.request("GET", `/v2/team/app/tags/list?n=${n}`), status: 400 })),
  { what: "catalog n=x", send: (app) => app.request("GET", "/v2/_catalog?n=x"), status: 400 },
  // tags, in the URL and in ?tag=
  ...BAD_TAGS.map((tag): Refusal => ({ what: `PUT manifest tag ${tag.slice(0, 16)}`, send: (app, ctx) => app.rawRequest("PUT", `/v2/team/app/manifests/${tag}`, { body: ctx.image.body, headers: { "content-type": OCI_MANIFEST } }), status: 400 })),
  ...BAD_TAGS.slice(0, 4).map((tag): Refusal => ({ what: `GET manifest tag ${tag.slice(0, 16)}`, send: (app) => app.request("GET", `/v2/team/app/manifests/${tag}`) })),
  { what: "PUT manifest ?tag=-bad", send: (app, ctx) => app.request("PUT", `/v2/team/app/manifests/${ctx.image.digest}?tag=-bad`, { body: ctx.image.body, headers: { "content-type": OCI_MANIFEST } }), status: 400 },
  // digests
  { what: "a malformed blob digest", send: (app) => app.request("GET", "/v2/team/app/blobs/sha256:nope"), status: 400, code: "DIGEST_INVALID" },
  { what: "a malformed manifest digest", send: (app) => app.request("GET", "/v2/team/app/manifests/sha256:zz"), status: 400, code: "DIGEST_INVALID" },
  { what: "a malformed referrers digest", send: (app) => app.request("GET", "/v2/team/app/referrers/md5:abc"), status: 400, code: "DIGEST_INVALID" },
  { what: "an unknown blob", send: (app) => app.request("GET", `/v2/team/app/blobs/${sha256("none")}`), status: 404, code: "BLOB_UNKNOWN" },
  { what: "DELETE an unknown blob", send: (app) => app.request("DELETE", `/v2/team/app/blobs/${sha256("none")}`), status: 404, code: "BLOB_UNKNOWN" },
  { what: "an unknown manifest", send: (app) => app.request("GET", "/v2/team/app/manifests/nope"), status: 404, code: "MANIFEST_UNKNOWN" },
  { what: "DELETE an unknown tag", send: (app) => app.request("DELETE", "/v2/team/app/manifests/nope"), status: 404, code: "MANIFEST_UNKNOWN" },
  // ranges
  { what: "an unsatisfiable blob range", send: (app, ctx) => app.request("GET", `/v2/team/app/blobs/${ctx.blob}`, { headers: { range: "bytes=1000-2000" } }), status: 416 },
  // uploads
  { what: "an unknown upload", send: (app) => app.request("GET", "/v2/team/app/blobs/uploads/00000000-0000-0000-0000-000000000000"), status: 404, code: "BLOB_UPLOAD_UNKNOWN" },
  { what: "a malformed upload id", send: (app) => app.request("PATCH", "/v2/team/app/blobs/uploads/not_an_id!", { body: "x", headers: octets }), status: 404, code: "BLOB_UPLOAD_UNKNOWN" },
  { what: "a bad digest-algorithm", send: (app) => app.request("POST", "/v2/team/app/blobs/uploads/?digest-algorithm=md5"), status: 400, code: "DIGEST_INVALID" },
  { what: "a monolithic push with the wrong digest", send: (app) => app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256("other")}`, { body: "bytes", headers: octets }), status: 400, code: "DIGEST_INVALID" },
  { what: "a mount of a malformed digest", send: (app) => app.request("POST", "/v2/team/app/blobs/uploads/?mount=sha256:x&from=team/other"), status: 400, code: "DIGEST_INVALID" },
  { what: "a mount from a malformed name", send: (app, ctx) => app.request("POST", `/v2/team/app/blobs/uploads/?mount=${ctx.blob}&from=Bad/Name`), status: 400, code: "NAME_INVALID" },
  { what: "a PATCH as text/plain", send: async (app) => app.request("PATCH", await startUpload(app), { body: "x", headers: { "content-type": "text/plain" } }), status: 400, code: "BLOB_UPLOAD_INVALID" },
  { what: "a PATCH with a malformed Content-Range", send: async (app) => app.request("PATCH", await startUpload(app), { body: "abc", headers: { ...octets, "content-range": "bytes=x-y" } }) },
  { what: "a PATCH out of order", send: async (app) => app.request("PATCH", await startUpload(app), { body: "abc", headers: { ...octets, "content-range": "10-12" } }), status: 416 },
  { what: "a PATCH whose length contradicts its range", send: async (app) => app.request("PATCH", await startUpload(app), { body: "abc", headers: { ...octets, "content-range": "0-9" } }), status: 400, code: "SIZE_INVALID" },
  { what: "a closing PUT without a digest", send: async (app) => app.request("PUT", await startUpload(app)), status: 400, code: "DIGEST_INVALID" },
  { what: "a closing PUT with the wrong digest", send: async (app) => app.request("PUT", `${await startUpload(app)}?digest=${sha256("x")}`, { body: "y", headers: octets }), status: 400, code: "DIGEST_INVALID" },
  // manifests
  { what: "a manifest that is not JSON", send: (app) => putManifest(app, "team/app", "v1", Buffer.from("{oops")), status: 400, code: "MANIFEST_INVALID" },
  { what: "a manifest with an unknown layer", send: (app, ctx) => putManifest(app, "team/app", "v1", manifestWith(ctx, (j) => j.layers.push({ mediaType: "x", digest: sha256("never"), size: 5 }))), status: 400, code: "MANIFEST_BLOB_UNKNOWN" },
  { what: "a manifest not matching its URL digest", send: (app, ctx) => putManifest(app, "team/app", sha256("else"), ctx.image.body), status: 400, code: "DIGEST_INVALID" },
  { what: "a manifest over 4 MiB", send: (app, ctx) => putManifest(app, "team/app", "big", manifestWith(ctx, (j) => (j.annotations = { pad: "x".repeat(4 * 1024 * 1024) }))), status: 413 },
  { what: "a manifest whose layer size lies", send: (app, ctx) => putManifest(app, "team/app", "v1", manifestWith(ctx, (j) => (j.layers[0].size += 1))), status: 400, code: "MANIFEST_INVALID" },
  { what: "an index carrying layers", send: (app, ctx) => putManifest(app, "team/app", "v1", manifestWith(ctx, (j) => ((j.mediaType = OCI_INDEX), (j.manifests = []))), OCI_INDEX), status: 400, code: "MANIFEST_INVALID" },
  { what: "a manifest nested 65 deep", send: (app, ctx) => putManifest(app, "team/app", "v1", manifestWith(ctx, (j) => (j.extra = JSON.parse("[".repeat(64) + "]".repeat(64))))), status: 400, code: "MANIFEST_INVALID" },
  // methods and endpoints
  { what: "POST to a manifest", send: (app) => app.request("POST", "/v2/team/app/manifests/v1"), status: 405, code: "UNSUPPORTED" },
  { what: "PATCH /v2/", send: (app) => app.request("PATCH", "/v2/"), status: 405, code: "UNSUPPORTED" },
  { what: "DELETE the catalog", send: (app) => app.request("DELETE", "/v2/_catalog") },
  { what: "an unknown endpoint", send: (app) => app.request("GET", "/v2/team/app/nothing/here") },
  { what: "an OPTIONS request", send: (app) => app.request("OPTIONS", "/v2/team/app/tags/list") },
];

test("every refusal under /v2/ carries only the spec's error codes, with a message saying what was wrong", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", "seed", image.body)).status, 201);
  const json = { "content-type": "application/json" };
  const user = await app.request("POST", "/api/v1/users", { body: JSON.stringify({ name: "puller", roles: ["acrpull"] }), headers: json });
  const puller = `Basic ${Buffer.from(`puller:${user.json().password}`).toString("base64")}`;
  const locked = await app.request("PATCH", "/api/v1/repositories/team/app/attributes?tag=seed", { body: JSON.stringify({ writeEnabled: false }), headers: json });
  assert.equal(locked.status, 200, locked.body.toString());
  const ctx: Fixture = { blob: await pushBlob(app, "team/app", "a small blob"), puller, image };
  // Every finding is collected, so one run lists all that is wrong.
  const wrong: string[] = [];
  for (const refusal of REFUSALS) {
    const res = await refusal.send(app, ctx);
    const label = `${refusal.what}: ${res.status} ${res.body.toString().slice(0, 160)}`;
    if (res.status < 400 || res.status >= 500) wrong.push(`not a 4xx: ${label}`);
    if (refusal.status !== undefined && res.status !== refusal.status) wrong.push(`not ${refusal.status}: ${label}`);
    let errors: { code: string; message: string }[] = [];
    try {
      errors = JSON.parse(res.body.toString()).errors;
    } catch {
      // reported below
    }
    if (!Array.isArray(errors) || errors.length === 0) wrong.push(`no error body: ${label}`);
    for (const e of errors ?? []) {
      if (!SPEC_CODES.has(e.code)) wrong.push(`${e.code} is not the spec's: ${label}`);
      else if (refusal.code !== undefined && e.code !== refusal.code) wrong.push(`not ${refusal.code}: ${label}`);
      if (typeof e.message !== "string" || e.message.length === 0) wrong.push(`no message: ${label}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("an invalid tag is MANIFEST_INVALID saying which rule it breaks; an oversize manifest is 413 MANIFEST_INVALID with the limit", async (t) => {
  const app = await freshApp(t);
  const image = await imageManifest(app, "team/app");
  const long = await putManifest(app, "team/app", "x".repeat(129), image.body);
  assert.equal(long.status, 400);
  assert.equal(long.errorCode(), "MANIFEST_INVALID");
  assert.match(long.json().errors[0].message, /tag/);
  assert.equal(long.json().errors[0].detail.tag, "x".repeat(129));
  const json = JSON.parse(image.body.toString());
  json.annotations = { pad: "x".repeat(4 * 1024 * 1024) };
  const big = await putManifest(app, "team/app", "big", Buffer.from(JSON.stringify(json)));
  assert.equal(big.status, 413);
  assert.equal(big.errorCode(), "MANIFEST_INVALID");
  assert.equal(big.json().errors[0].detail.limit, 4 * 1024 * 1024);
});

// Walking a repository's tags page by page (GET /api/v1/repositories/<r>/tags?sort=…, `berth
// repository show-tags`) while tags are pushed again: by time the order is the last push, which
// moves, so a walk has legs as the manifest list's (attack-s7: "walking a repository's manifests").
// Each walk drives the real HTTP API; the CLI's walk goes through a proxy that answers in pages of
// two (as a server with a smaller page limit would) and pushes again after the first page.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { test } from "node:test";
import { berthBin } from "../support/berth.ts";
import { freshApp, imageManifest, PASSWORD, putManifest, type TestApp } from "../support/app.ts";
import { usePostgres } from "../support/postgres.ts";

const postgres = usePostgres();
const pause = () => new Promise((r) => setTimeout(r, 5)); // each push its own millisecond

interface TagPage { tags: { name: string; digest: string }[]; next: string | null }

/** Pushes `names` oldest first onto fresh manifests; returns each tag's digest. */
async function pushTags(app: TestApp, names: string[]): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const name of names) {
    const m = await imageManifest(app, "team/app");
    assert.equal((await putManifest(app, "team/app", name, m.body)).status, 201);
    digests[name] = m.digest;
    await pause();
  }
  return digests;
}

/** Walks the tag list one tag a page; `during(page)` runs after each page is read. */
async function walk(app: TestApp, sort: string, during: (page: number) => Promise<void>): Promise<{ name: string; digest: string }[]> {
  const seen: { name: string; digest: string }[] = [];
  let url = `/api/v1/repositories/team/app/tags?sort=${sort}&n=1`;
  for (let page = 0; page < 20; page++) {
    const res = await app.request("GET", url);
    assert.equal(res.status, 200, res.body.toString());
    const body = res.json() as TagPage;
    seen.push(...body.tags.map((t) => ({ name: t.name, digest: t.digest })));
    await during(page);
    if (!body.next) return seen;
    url = `/api/v1/repositories/team/app/tags?sort=${sort}&n=1&last=${encodeURIComponent(body.next)}`;
  }
  assert.fail(`the walk did not end: ${JSON.stringify(seen)}`);
}

async function pushAgain(app: TestApp, tag: string, digest: string): Promise<void> {
  const again = await app.request("GET", `/v2/team/app/manifests/${digest}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
  assert.equal((await putManifest(app, "team/app", tag, again.body)).status, 201);
  await pause();
}
async function moveTo(app: TestApp, tag: string): Promise<string> {
  const m = await imageManifest(app, "team/app");
  assert.equal((await putManifest(app, "team/app", tag, m.body)).status, 201);
  await pause();
  return m.digest;
}

const onBackend = async (backend: "sqlite" | "postgres") => (backend === "postgres" ? { "metadata.driver": "postgres", "metadata.postgres.url": await postgres().database() } : {});

for (const backend of ["sqlite", "postgres"] as const) test(`attack (${backend}): walking a repository's tags newest push first (time_desc) while tags not yet listed are pushed again lists every tag once, those pushed during the walk at the end`, async (t) => {
  const app = await freshApp(t, await onBackend(backend));
  const digests = await pushTags(app, ["t0", "t1", "t2", "t3", "t4"]);
  let moved = "";
  const seen = await walk(app, "time_desc", async (page) => {
    if (page !== 0) return;
    moved = await moveTo(app, "t1"); // a tag moved to a new manifest
    await pushAgain(app, "t0", digests.t0!); // the same bytes pushed again (a rebuild)
    await moveTo(app, "t5"); // a tag new during the walk
  });
  assert.deepEqual(seen.map((s) => s.name), ["t4", "t3", "t2", "t1", "t0", "t5"], `walked ${JSON.stringify(seen)}`);
  assert.equal(seen.find((s) => s.name === "t1")!.digest, moved, "the moved tag is listed where it points now");
});

test("attack: walking a repository's tags oldest push first (time_asc) while tags are pushed again never misses one: a tag not yet listed is listed once at the end; one already listed is listed again there with its new push", async (t) => {
  const app = await freshApp(t);
  const digests = await pushTags(app, ["t0", "t1", "t2", "t3"]);
  let moved = "";
  const seen = await walk(app, "time_asc", async (page) => {
    if (page !== 1) return;
    moved = await moveTo(app, "t2"); // not yet listed
    await pushAgain(app, "t0", digests.t0!); // listed on the first page
  });
  assert.deepEqual(seen.map((s) => s.name), ["t0", "t1", "t3", "t2", "t0"], `walked ${JSON.stringify(seen)}`);
  assert.equal(seen[3]!.digest, moved);
});

test("held: walking a repository's tags newest push first while a tag already listed is pushed again misses none (it comes again at the end, where it points now)", async (t) => {
  const app = await freshApp(t);
  await pushTags(app, ["t0", "t1", "t2"]);
  let moved = "";
  const seen = await walk(app, "time_desc", async (page) => {
    if (page === 0) moved = await moveTo(app, "t2");
  });
  assert.deepEqual(seen.map((s) => s.name), ["t2", "t1", "t0", "t2"], `walked ${JSON.stringify(seen)}`);
  assert.equal(seen[3]!.digest, moved);
});

test("held: walking a repository's tags by name while tags are deleted and created again lists each tag once", async (t) => {
  const app = await freshApp(t);
  await pushTags(app, ["a", "b", "c", "d"]);
  const seen = await walk(app, "name", async (page) => {
    if (page !== 0) return;
    for (const tag of ["a", "c"]) { // one already listed, one not yet
      assert.equal((await app.request("DELETE", `/api/v1/repositories/team/app/tags/${tag}`)).status, 200);
      await moveTo(app, tag);
    }
  });
  assert.deepEqual(seen.map((s) => s.name), ["a", "b", "c", "d"]);
});

for (const backend of ["sqlite", "postgres"] as const) {
  test(`attack (${backend}): a forged or garbled tag or manifest cursor is a 400 naming \`last\`, never a 500`, async (t) => {
    const app = await freshApp(t, await onBackend(backend));
    await pushTags(app, ["v1", "v2"]);
    const forged = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
    const cursors = [
      "not a cursor!", "%%%", forged("{"), forged({ a: 1 }), forged([]), forged(["v1"]), forged([null, "v1"]),
      forged("[1e400, \"v1\"]"), forged([1.5, "v1"]), forged([-1e300, "v1"]), forged(["v1", "v1\u0000"]), forged([1, "v1\u0000"]),
      forged([1, "v1", 1e400, "before"]), forged([1, "v1", "now", "before"]), forged([1, "v1", 1, "sideways"]), forged([1, "v1", 1.5, "since"]),
      forged(["v1", "v1", 1, "before"]), forged([1, { v: 1 }]), forged([1, "x".repeat(1500)]),
    ];
    for (const last of cursors) {
      const lists = [
        ...["tags?sort=time_desc", "tags?sort=time_asc", "tags?sort=name", "tags?", "manifests?", "manifests?untagged=true"].map((p) => `/api/v1/repositories/team/app/${p}`),
        // The other lists that take the same cursors.
        "/api/v1/repositories?sort=pushed", "/api/v1/repositories?sort=size", "/api/v1/repositories?sort=name", "/api/v1/deleted/team/app?", "/api/v1/search?unsigned=true",
      ];
      for (const path of lists) {
        const res = await app.request("GET", `${path}&n=1&last=${encodeURIComponent(last)}`);
        if (res.status === 200) continue; // a cursor this API could have given out: it walks on
        assert.equal(res.status, 400, `${path} with last=${last}: ${res.status} ${res.body.toString()}`);
        assert.equal(res.errorCode(), "INVALID_REQUEST");
        assert.match(res.json().errors[0].message, /last/);
      }
    }
    // A cursor of one order is not one of another: a name sort's cursor under a time sort and back.
    const byName = (await app.request("GET", "/api/v1/repositories/team/app/tags?sort=name&n=1")).json() as TagPage;
    assert.equal((await app.request("GET", `/api/v1/repositories/team/app/tags?sort=time_desc&n=1&last=${encodeURIComponent(byName.next!)}`)).status, 400);
    const byTime = (await app.request("GET", "/api/v1/repositories/team/app/tags?sort=time_desc&n=1")).json() as TagPage;
    assert.equal((await app.request("GET", `/api/v1/repositories/team/app/tags?sort=name&n=1&last=${encodeURIComponent(byTime.next!)}`)).status, 400);
  });
}

test("attack: `berth repository show-tags --orderby time_desc` walking page by page while a tag not yet listed is moved and one listed is pushed again prints every tag once, as last pushed", async (t) => {
  const app = await freshApp(t);
  const digests = await pushTags(app, ["t0", "t1", "t2", "t3"]);
  const upstream = await app.listen();
  let tagPages = 0;
  let moving: Promise<unknown> = Promise.resolve();
  // Pages of two, as a server with a smaller page limit; after the first tags page is answered (t3,
  // t2), t0 moves and t3 is pushed again.
  const proxy = createServer((req, res) => {
    const url = new URL(req.url!, upstream);
    const tags = url.pathname.endsWith("/tags");
    if (tags) url.searchParams.set("n", "2");
    const forward = httpRequest(new URL(url.pathname + url.search, upstream), { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", async () => {
        if (tags && tagPages++ === 0) await (moving = moveTo(app, "t0").then(() => pushAgain(app, "t3", digests.t3!)));
        res.writeHead(answer.statusCode!, answer.headers).end(Buffer.concat(chunks));
      });
    });
    req.pipe(forward);
  });
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => proxy.close(() => ok())));
  const port = (proxy.address() as { port: number }).port;
  const env = { ...process.env, BERTH_SERVER: `http://127.0.0.1:${port}`, BERTH_USERNAME: "admin", BERTH_PASSWORD: PASSWORD, HOME: app.dataDir };
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok, fail) => {
    const child = spawn(process.execPath, [berthBin, "repository", "show-tags", "team/app", "--orderby", "time_desc", "-o", "json"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", fail);
    child.once("close", (code) => ok({ code, stdout, stderr }));
  });
  await moving;
  assert.equal(out.code, 0, out.stderr);
  assert.ok(tagPages >= 2, `the CLI read ${tagPages} page(s)`);
  assert.deepEqual(JSON.parse(out.stdout), ["t3", "t0", "t2", "t1"], "each once, newest push first as the walk last saw them");
});

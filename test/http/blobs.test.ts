import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { AUTH, freshApp, pushBlob, sha256, sha512, type TestApp } from "../support/app.ts";

async function storedFiles(app: TestApp): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string) {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else found.push(path);
    }
  }
  await walk(join(app.dataDir, "blobs"));
  await walk(join(app.dataDir, "uploads"));
  return found;
}

test("POST ?digest= with a body: 201, Location and Docker-Content-Digest; GET returns the bytes", async (t) => {
  const app = await freshApp(t);
  const data = Buffer.from("hello, registry");
  const digest = sha256(data);
  const res = await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${digest}`, { body: data, headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.location, `/v2/team/app/blobs/${digest}`);
  assert.equal(res.headers["docker-content-digest"], digest);
  const get = await app.request("GET", `/v2/team/app/blobs/${digest}`);
  assert.equal(get.status, 200);
  assert.deepEqual(get.body, data);
  assert.equal(get.headers["docker-content-digest"], digest);
  assert.equal(get.headers["content-length"], String(data.length));
});

test("HEAD blob: size and digest headers, no body", async (t) => {
  const app = await freshApp(t);
  const digest = await pushBlob(app, "team/app", "twelve bytes");
  const res = await app.request("HEAD", `/v2/team/app/blobs/${digest}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-length"], "12");
  assert.equal(res.headers["docker-content-digest"], digest);
  assert.equal(res.body.length, 0);
});

test("GET blob with Range: 206 and Content-Range; unsatisfiable: 416", async (t) => {
  const app = await freshApp(t);
  const digest = await pushBlob(app, "team/app", "0123456789");
  const part = await app.request("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=2-5" } });
  assert.equal(part.status, 206);
  assert.equal(part.body.toString(), "2345");
  assert.equal(part.headers["content-range"], "bytes 2-5/10");
  const tail = await app.request("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=-3" } });
  assert.equal(tail.body.toString(), "789");
  const bad = await app.request("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=20-30" } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers["content-range"], "bytes */10");
});

test("a blob pushed to one repository is BLOB_UNKNOWN from another until mounted", async (t) => {
  const app = await freshApp(t);
  const digest = await pushBlob(app, "team/a", "shared bytes");
  const other = await app.request("GET", `/v2/team/b/blobs/${digest}`);
  assert.equal(other.status, 404);
  assert.equal(other.errorCode(), "BLOB_UNKNOWN");
  assert.equal((await app.request("HEAD", `/v2/team/b/blobs/${digest}`)).status, 404);
  const mount = await app.request("POST", `/v2/team/b/blobs/uploads/?mount=${digest}&from=team/a`);
  assert.equal(mount.status, 201);
  assert.equal(mount.headers["docker-content-digest"], digest);
  assert.equal((await app.request("GET", `/v2/team/b/blobs/${digest}`)).body.toString(), "shared bytes");
});

test("mount from a repository without the blob falls back to a new upload (202), never 404", async (t) => {
  const app = await freshApp(t);
  const digest = sha256("never pushed");
  const res = await app.request("POST", `/v2/team/b/blobs/uploads/?mount=${digest}&from=team/a`);
  assert.equal(res.status, 202);
  assert.match(String(res.headers.location), /^\/v2\/team\/b\/blobs\/uploads\/[0-9a-f-]+$/);
});

test("POST ?digest= with wrong content: DIGEST_INVALID and no file stays behind", async (t) => {
  const app = await freshApp(t);
  const res = await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${sha256("other")}`, { body: "this", headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 400);
  assert.equal(res.errorCode(), "DIGEST_INVALID");
  assert.deepEqual(await storedFiles(app), []);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${sha256("this")}`)).status, 404);
});

test("sha512 blobs and the empty blob round-trip", async (t) => {
  const app = await freshApp(t);
  const data = Buffer.from("sha512 content");
  const digest = sha512(data);
  assert.equal((await app.request("POST", `/v2/team/app/blobs/uploads/?digest=${digest}`, { body: data, headers: { "content-type": "application/octet-stream" } })).status, 201);
  assert.deepEqual((await app.request("GET", `/v2/team/app/blobs/${digest}`)).body, data);

  const start = await app.request("POST", "/v2/team/app/blobs/uploads/");
  const empty = sha256("");
  const put = await app.request("PUT", `${start.headers.location}?digest=${empty}`);
  assert.equal(put.status, 201);
  const get = await app.request("GET", `/v2/team/app/blobs/${empty}`);
  assert.equal(get.status, 200);
  assert.equal(get.body.length, 0);
  assert.equal(get.headers["content-length"], "0");
});

test("DELETE blob: 202, then 404; unknown: 404 BLOB_UNKNOWN", async (t) => {
  const app = await freshApp(t);
  const digest = await pushBlob(app, "team/app", "to delete");
  assert.equal((await app.request("DELETE", `/v2/team/app/blobs/${digest}`)).status, 202);
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${digest}`)).status, 404);
  const again = await app.request("DELETE", `/v2/team/app/blobs/${digest}`);
  assert.equal(again.status, 404);
  assert.equal(again.errorCode(), "BLOB_UNKNOWN");
});

/** A request over a real socket (node:http on both ends), the body written in `pieces`-byte writes. */
async function overSocket(app: TestApp, method: string, path: string, body: Buffer, pieces: number, headers: Record<string, string> = {}) {
  const url = new URL(path, await app.listen());
  return new Promise<{ status: number; headers: import("node:http").IncomingHttpHeaders; body: Buffer }>((ok, fail) => {
    const req = request(url, { method, headers: { authorization: AUTH, "content-type": "application/octet-stream", "content-length": String(body.length), ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on("error", fail);
    void (async () => {
      for (let at = 0; at < body.length; at += pieces) {
        if (!req.write(body.subarray(at, at + pieces))) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })();
  });
}

test("over a real socket, bodies of odd-sized writes arrive byte for byte (monolithic and chunked), and pull back whole", async (t) => {
  const app = await freshApp(t);
  // node:http's own body buffers are released as the blob store copies them (http/body.ts): the
  // digest check and the pulls prove no byte was lost or reused.
  const data = randomBytes(5 * 1024 * 1024 + 4099);
  const monolithic = await overSocket(app, "POST", `/v2/team/app/blobs/uploads/?digest=${sha256(data)}`, data, 70_001);
  assert.equal(monolithic.status, 201, monolithic.body.toString());
  const other = Buffer.concat([data.subarray(1), Buffer.from("z")]);
  const started = await app.request("POST", "/v2/team/app/blobs/uploads/");
  let location = String(started.headers.location);
  for (const [start, end] of [[0, 1_000_000], [1_000_000, 3_333_333], [3_333_333, other.length]] as const) {
    const patched = await overSocket(app, "PATCH", location, other.subarray(start, end), 4097, { "content-range": `${start}-${end - 1}` });
    assert.equal(patched.status, 202, patched.body.toString());
    location = String(patched.headers.location);
  }
  const finished = await overSocket(app, "PUT", `${location}?digest=${sha256(other)}`, Buffer.alloc(0), 1);
  assert.equal(finished.status, 201, finished.body.toString());
  for (const blob of [data, other]) {
    const pulled = await overSocket(app, "GET", `/v2/team/app/blobs/${sha256(blob)}`, Buffer.alloc(0), 1, { "content-length": "0" });
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(blob), "pulled bytes differ");
  }
});

test("GET blob on a driver that offers a redirect URL: 307 to it after the access check; HEAD and the filesystem's null serve locally", async (t) => {
  const app = await freshApp(t);
  const digest = await pushBlob(app, "team/app", "redirected bytes");
  const driver = app.berth.stores.blobs.driver;
  const asked: [string, number][] = [];
  const original = driver.redirectUrl.bind(driver);
  assert.equal(await original("blobs/any", 60), null, "the filesystem serves reads itself");
  driver.redirectUrl = async (key, seconds) => {
    asked.push([key, seconds]);
    return `https://bucket.example/${key}?signature=x`;
  };
  t.after(() => void (driver.redirectUrl = original));
  const get = await app.request("GET", `/v2/team/app/blobs/${digest}`, { headers: { range: "bytes=0-3" } });
  assert.equal(get.status, 307);
  assert.equal(get.headers.location, `https://bucket.example/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}?signature=x`);
  assert.equal(get.headers["docker-content-digest"], digest);
  assert.deepEqual(asked, [[`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`, 1200]]);
  assert.equal((await app.request("HEAD", `/v2/team/app/blobs/${digest}`)).status, 200);
  assert.equal((await app.request("GET", `/v2/team/other/blobs/${digest}`)).status, 404, "not linked there: no URL handed out");
  assert.equal((await app.request("GET", `/v2/team/app/blobs/${digest}`, { auth: null })).status, 401);
  assert.equal(asked.length, 1);
});

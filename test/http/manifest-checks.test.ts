// Manifests that would break clients or hide content are refused (issue 13, points 7, 9-11):
// descriptor sizes that differ from what is stored, the manifest/index ambiguity of
// CVE-2021-41190, JSON nested past 64 levels, and an oversize body sent chunked.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { AUTH, freshApp, OCI_MANIFEST } from "../support/app.ts";

test("a 64 MiB manifest sent chunked over a real socket gets its 413 answer, not a reset", { timeout: 60_000 }, async (t) => {
  const app = await freshApp(t);
  const url = await app.listen();
  const chunk = Buffer.alloc(1024 * 1024, "x");
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: "PUT", path: "/v2/team/app/manifests/huge", headers: { authorization: AUTH, "content-type": OCI_MANIFEST, "transfer-encoding": "chunked" } });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() });
        req.destroy();
      });
      res.on("error", reject);
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      req.write('{"schemaVersion":2,"annotations":{"pad":"');
      for (let i = 0; i < 64 && !answered && !req.destroyed; i++) {
        if (!req.write(chunk)) await new Promise((ok) => (req.once("drain", ok), req.once("close", ok)));
      }
      if (!req.destroyed) req.end('"}}');
    })().catch(() => {});
  });
  assert.equal(answer.status, 413);
  assert.equal(JSON.parse(answer.body).errors[0].code, "MANIFEST_INVALID");
  assert.equal((await app.request("GET", "/v2/team/app/manifests/huge")).status, 404);
});

// versitygw answers a PutObject whose directory a concurrent delete removed with 409
// ExistingObjectIsDirectory (backend/posix: the link into a directory just removed fails, and every
// failure there is reported so). Found beside gc-object-store-postgres: a PATCH's tail segment
// answered 500. The S3 driver sends such a PutObject again, at most three times in all, and
// nothing else. A local endpoint answers as versitygw does (its error body, byte for byte in shape).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3Driver } from "../../src/blobs/drivers/s3.ts";

const DIRECTORY = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExistingObjectIsDirectory</Code><Message>Existing Object is a directory.</Message><Resource></Resource><RequestId></RequestId><HostId></HostId></Error>`;

/** An endpoint failing the first `failures` requests of `method` with 409 `code`; the requests it saw. */
async function endpoint(t: TestContext, method: string, failures: number, code = "ExistingObjectIsDirectory"): Promise<{ driver: S3Driver; seen: string[] }> {
  const seen: string[] = [];
  let failed = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push(`${req.method} ${req.url}`);
      if (req.method === method && failed < failures) {
        failed++;
        res.writeHead(409, { "content-type": "application/xml" }).end(DIRECTORY.replaceAll("ExistingObjectIsDirectory", code));
        return;
      }
      // A copy's answer is its result document; a put's, the ETag header.
      if ("x-amz-copy-source" in req.headers) res.writeHead(200, { "content-type": "application/xml" }).end('<CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>');
      else res.writeHead(req.method === "DELETE" ? 204 : 200, { etag: '"e"' }).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const driver = new S3Driver({ endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", bucket: "b", forcePathStyle: true, credentials: { accessKeyId: "a", secretAccessKey: "s" } });
  return { driver, seen };
}

const put = (driver: S3Driver) => driver.client.send(new PutObjectCommand({ Bucket: "b", Key: "_tails/uploads/u/1", Body: Buffer.from("bytes"), ContentLength: 5 }));

test("S3: a PutObject answered ExistingObjectIsDirectory (versitygw's directory race) is sent again, and succeeds", async (t) => {
  const { driver, seen } = await endpoint(t, "PUT", 2);
  assert.equal((await put(driver)).ETag, '"e"');
  assert.equal(seen.length, 3);
});

test("S3: a CopyObject (versitygw copies through its PutObject) answered ExistingObjectIsDirectory is sent again too", async (t) => {
  const { driver, seen } = await endpoint(t, "PUT", 1);
  const copied = await driver.client.send(new CopyObjectCommand({ Bucket: "b", Key: "blobs/x", CopySource: "b/_tails/uploads/u/1" }));
  assert.equal(copied.CopyObjectResult?.ETag, '"e"');
  assert.equal(seen.length, 2);
});

test("S3: sent three times in all, then the store's answer stands", async (t) => {
  const { driver, seen } = await endpoint(t, "PUT", 5);
  await assert.rejects(put(driver), { name: "ExistingObjectIsDirectory" });
  assert.equal(seen.length, 3);
});

test("S3: another 409, or another command, is not sent again", async (t) => {
  const other = await endpoint(t, "PUT", 1, "OperationAborted");
  await assert.rejects(put(other.driver), { name: "OperationAborted" });
  assert.equal(other.seen.length, 1);
  const del = await endpoint(t, "DELETE", 1);
  await assert.rejects(del.driver.client.send(new DeleteObjectCommand({ Bucket: "b", Key: "k" })), { name: "ExistingObjectIsDirectory" });
  assert.equal(del.seen.length, 1);
});

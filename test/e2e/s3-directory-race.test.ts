// versitygw (the S3 gateway the tests run) removes directories a delete leaves empty and makes a
// key's directories before it links the object in: a PutObject racing the delete of a sibling
// key's last object is answered 409 ExistingObjectIsDirectory (about 3 % of such pairs here). Seen
// as a 500 to a PATCH in gc-object-store-postgres (a tail segment written while a commit or gc
// deleted another upload's). The driver sends such a PutObject again (s3.ts): with its client,
// none of the pairs fails; the SDK's own client is shown beside it for the race's rate.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3Driver } from "../../src/blobs/drivers/s3.ts";
import { missingStore, startVersitygw } from "../support/object-stores.ts";

const missing = missingStore("s3");
if (missing && process.env.CI === "true") throw new Error(missing);

test("versitygw: PutObjects racing deletes that empty their directory's parent all succeed through the S3 driver (the plain SDK client is refused some)", { timeout: 180_000, skip: missing ?? false }, async (t) => {
  const s3 = await startVersitygw();
  t.after(() => s3.stop());
  const bucket = await s3.bucket();
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const plain = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials });
  t.after(() => plain.destroy());
  const driver = new S3Driver({ endpoint: s3.endpoint, region: s3.region, bucket, forcePathStyle: true, credentials });
  const failed: Record<string, Record<string, number>> = {};
  for (const [name, client] of [["plain SDK", plain], ["driver", driver.client]] as const) {
    const errors: Record<string, number> = (failed[name] = {});
    // One key at a time under the prefix: each round puts a new one and deletes the last.
    const put = (id: string) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `${name}/_tails/uploads/${id}/s`, Body: Buffer.from("x") }));
    let last = randomUUID();
    await put(last);
    for (let round = 0; round < 800; round++) {
      const next = randomUUID();
      const [written] = await Promise.allSettled([put(next), client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${name}/_tails/uploads/${last}/s` }))]);
      if (written.status === "rejected") {
        const code = (written.reason as Error).name;
        errors[code] = (errors[code] ?? 0) + 1;
        await put(next);
      }
      last = next;
    }
  }
  t.diagnostic(`PutObjects refused of 800, by error: ${JSON.stringify(failed)}`);
  assert.deepEqual(failed.driver, {});
});

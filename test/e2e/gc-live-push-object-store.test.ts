// gc tells a stray upload key from one a live request is still writing by watching its size:
// "a key still growing is seen with a new size and starts again" (src/services/gc.ts, step 4).
// On S3 and Azure a monolithic push above one part is a multipart upload (staged blocks) under
// uploads/put-<id> with no upload row, and the driver lists it with size 0 however many parts
// it holds: so two gc runs further apart than uploads.expireAfter delete (abort) a push that is
// still streaming, and the client's PUT fails. Found by attack; the sizes come from the drivers'
// list() (src/blobs/drivers/s3.ts, azure-blob.ts), so the test is marked todo until they report
// the bytes stored so far (ListParts, the uncommitted block list).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBerth } from "../support/berth.ts";
import { runGc } from "../support/berth-cli.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, sha256 } from "../support/oci-client.ts";
import { startStoreBackend } from "../support/store-cluster.ts";

const MiB = 1024 * 1024;

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(
    `berth on ${kind}: a monolithic push still streaming survives two gc runs further apart than the upload expiry, and reads back`,
    { timeout: 120_000, skip: missing ?? false, todo: "finding: the object-store drivers list an unfinished upload with size 0, so gc deletes a live monolithic push as a stray (src/blobs/drivers)" },
    async (t) => {
      const backend = await startStoreBackend(kind, { redirect: false });
      const berth = await startBerth({ env: { ...backend.env, BERTH_UPLOADS_EXPIRE_AFTER: "1" } }).catch(async (err: unknown) => {
        await backend.stop();
        throw err;
      });
      t.after(async () => {
        await berth.dispose();
        await backend.stop();
      });
      const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
      const data = randomBytes(20 * MiB);
      let release!: () => void;
      const held = new Promise<void>((ok) => (release = ok));
      // Everything but the last MiB at once (a 16 MiB part reaches the store), the rest once gc ran twice.
      async function* body() {
        for (let at = 0; at < data.length - MiB; at += MiB) yield data.subarray(at, at + MiB);
        await held;
        yield data.subarray(data.length - MiB);
      }
      const upload = await client.startUpload("team/live");
      const put = client.raw("PUT", `${upload.location}?digest=${sha256(data)}`, { headers: { "content-type": "application/octet-stream", "content-length": String(data.length) }, body: body() });
      while ((await backend.keys("uploads")).length === 0) await sleep(50); // the push's parts are in the store
      await runGc(berth);
      await sleep(1500); // past uploads.expireAfter
      await runGc(berth);
      release();
      const res = await put;
      assert.equal(res.status, 201, await res.text());
      assert.ok((await client.getBlob("team/live", sha256(data))).equals(data));
    },
  );
}

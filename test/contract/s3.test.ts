// The blob driver contract (blob-driver-contract.ts) on S3Driver against a real S3 gateway:
// versitygw over a throwaway directory, started for this file. versitygw is strict where AWS is
// (parts under 5 MiB but the last are refused), so the tails that carry short PATCHes are tested
// for real. Each test gets its own key prefix in one bucket, or a bucket of its own without a prefix.
// Then what only S3 shows: moves above the CopyObject limit (lowered here) go part by part, and
// hidden writers (a monolithic push written straight to its digest's key, fast-paths.ts) show
// nothing before commit and leave other writers of the key alone.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test, type TestContext } from "node:test";
import { BlobStore, blobKey } from "../../src/blobs/blob-store.ts";
import { S3Driver, type S3DriverOptions } from "../../src/blobs/drivers/s3.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { missingStore, startVersitygw, type RunningS3 } from "../support/object-stores.ts";
import { startStallingProxy, type StallingProxy } from "../support/stalling-proxy.ts";
import { blobDriverContract } from "./blob-driver-contract.ts";

const missing = missingStore("s3");
if (missing && process.env.CI === "true") throw new Error(missing);

describe("S3Driver on versitygw", { skip: missing ?? false }, () => {
  let s3: RunningS3;
  let bucket: string;
  let serial = 0;
  before(async () => {
    s3 = await startVersitygw();
    bucket = await s3.bucket();
  });
  after(() => s3?.stop());

  const options = (extra: Partial<S3DriverOptions> = {}): S3DriverOptions => ({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...extra,
  });

  function s3Factory(extra: () => Partial<S3DriverOptions> | Promise<Partial<S3DriverOptions>>) {
    return async () => {
      const opts = options(await extra());
      const drivers = [new S3Driver(opts)];
      return {
        driver: drivers[0]!,
        reopen: async () => {
          const other = new S3Driver(opts);
          drivers.push(other);
          return other;
        },
        close: async () => {
          for (const d of drivers) d.client.destroy();
        },
        redirects: opts.redirect === true,
      };
    };
  }

  blobDriverContract("s3, key prefix, redirects", s3Factory(() => ({ prefix: `t${++serial}/registry`, redirect: true })), { createOnly: true });
  blobDriverContract("s3, a bucket of its own, no prefix, streamed reads", s3Factory(async () => ({ bucket: await s3.bucket() })), { createOnly: true });

  test("a move above the CopyObject limit copies part by part, byte-identical, and the source is gone", async (t) => {
    const driver = new S3Driver(options({ prefix: "big", copyObjectLimit: 8 * 1024 * 1024, copyPartSize: 5 * 1024 * 1024 }));
    t.after(() => driver.client.destroy());
    const bytes = randomBytes(12 * 1024 * 1024 + 3);
    const writer = await driver.writer("uploads/big");
    await writer.write((async function* () { for (let at = 0; at < bytes.length; at += 1024 * 1024) yield bytes.subarray(at, at + 1024 * 1024); })(), { last: true });
    await writer.commit();
    await driver.move("uploads/big", "blobs/big");
    assert.equal(await driver.stat("uploads/big"), null);
    const back: Buffer[] = [];
    for await (const chunk of await driver.read("blobs/big")) back.push(chunk as Buffer);
    assert.equal(createHash("sha256").update(Buffer.concat(back)).digest("hex"), createHash("sha256").update(bytes).digest("hex"));
  });

  /**
   * A driver reaching the store through a proxy that forwards an answer only as it came: versitygw
   * answers a part for a gone upload before reading its body and closes the connection, and where
   * Node's client reads that early answer, a proxy (as stalling-proxy.ts, or a load balancer)
   * fails the body's upload and resets the client's connection.
   */
  async function proxied(t: TestContext, prefix: string): Promise<{ driver: S3Driver; proxy: StallingProxy }> {
    const proxy = await startStallingProxy(s3.endpoint);
    const driver = new S3Driver(options({ prefix, endpoint: proxy.url }));
    t.after(async () => {
      driver.client.destroy();
      await proxy.close();
    });
    return { driver, proxy };
  }

  test("a commit repeated from the same handle after the first was done (its answer lost) counts as done, though the store refuses the tail's part to the completed upload with a reset, not NoSuchUpload (F4)", async (t) => {
    const { driver, proxy } = await proxied(t, `again${++serial}`);
    const part = randomBytes(6 * 1024 * 1024);
    const tail = randomBytes(5 * 1024 * 1024 - 1); // a tail segment, sent at commit as the last part
    const writer = await driver.writer("uploads/again");
    await writer.write((async function* () { yield part; })());
    await writer.write((async function* () { yield tail; })());
    const handle = writer.handle;
    // The first commit's CompleteMultipartUpload is done by the store, its answer never comes back
    // (as when its process is killed): the upload's tail segments stay, and the retry sends the
    // tail's part again, to the completed upload.
    const completed = proxy.holdNext((request) => request.method === "POST" && new URL(request.url ?? "/", "http://s").searchParams.has("uploadId"), { done: true });
    void (await driver.writer("uploads/again", handle)).commit().catch(() => undefined);
    await completed;
    await (await driver.writer("uploads/again", handle)).commit();
    const back: Buffer[] = [];
    for await (const chunk of await driver.read("uploads/again")) back.push(chunk as Buffer);
    assert.ok(Buffer.concat(back).equals(Buffer.concat([part, tail])));
  });

  test("a part sent to an upload that is gone is ENOENT, whether the store says NoSuchUpload or closes the connection on it (F4)", async (t) => {
    const { driver } = await proxied(t, `gone${++serial}`);
    const writer = await driver.writer("uploads/gone");
    await writer.write((async function* () { yield randomBytes(6 * 1024 * 1024); })());
    const handle = writer.handle;
    await driver.delete("uploads/gone"); // purged: its multipart upload aborted
    for (let retry = 0; retry < 3; retry++) {
      const stale = await driver.writer("uploads/gone", handle);
      await assert.rejects(stale.write((async function* () { yield randomBytes(8 * 1024 * 1024); })()), { code: "ENOENT" });
    }
  });

  test("a hidden writer shows nothing under its key before commit, and one cancelled leaves another writer of the same key alone", async (t) => {
    const driver = new S3Driver(options({ prefix: `hidden${++serial}` }));
    t.after(() => driver.client.destroy());
    const bytes = randomBytes(300_001);
    const one = async function* () { yield bytes; };
    const [a, b] = [await driver.hiddenWriter("blobs/k"), await driver.hiddenWriter("blobs/k")];
    await a.write(one(), { last: true });
    await b.write(one(), { last: true });
    assert.equal(await driver.stat("blobs/k"), null, "nothing shows before commit");
    await b.cancel();
    await a.commit();
    assert.equal((await driver.stat("blobs/k"))?.size, bytes.length);
    const keys = [];
    for await (const entry of driver.list("blobs")) keys.push(entry.key);
    assert.deepEqual(keys, ["blobs/k"], "no upload left over");
  });

  test("a hidden writer's commit replaces what its key holds (a re-push of a digest whose object is there), whether one short write or one segment", async (t) => {
    const driver = new S3Driver(options({ prefix: `rehidden${++serial}` }));
    t.after(() => driver.client.destroy());
    for (const last of [true, false]) {
      for (const size of [1000, 2000]) {
        const bytes = randomBytes(size);
        const writer = await driver.hiddenWriter("blobs/again");
        await writer.write((async function* () { yield bytes; })(), { last });
        await writer.commit();
        const back: Buffer[] = [];
        for await (const chunk of await driver.read("blobs/again")) back.push(chunk as Buffer);
        assert.ok(Buffer.concat(back).equals(bytes), `last: ${last}, ${size} bytes`);
      }
    }
  });

  test("a monolithic push through the blob store lands at its digest's key without a copy; a wrong digest or an empty blob leave the right things", async (t) => {
    const driver = new S3Driver(options({ prefix: `mono${++serial}` }));
    const store = new BlobStore(driver);
    t.after(async () => {
      await store.close();
      driver.client.destroy();
    });
    const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest;
    for (const bytes of [randomBytes(6 * 1024 * 1024 + 1), Buffer.alloc(0)]) {
      const staged = await store.receive((async function* () { yield bytes; })(), sha(bytes));
      assert.deepEqual({ key: staged.key, published: staged.published }, { key: blobKey(sha(bytes)), published: true });
      await store.publish(staged);
      const back: Buffer[] = [];
      for await (const chunk of await store.open(sha(bytes))) back.push(chunk as Buffer);
      assert.ok(Buffer.concat(back).equals(bytes));
    }
    const wrong = randomBytes(1000);
    await assert.rejects(store.receive((async function* () { yield wrong; })(), sha(randomBytes(1000))), { code: "DIGEST_INVALID" });
    const keys = [];
    for await (const entry of driver.list("")) keys.push(entry.key);
    assert.equal(keys.length, 2, `only the two blobs: ${keys.join(", ")}`);
  });
});

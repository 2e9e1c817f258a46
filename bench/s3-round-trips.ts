// Counts what the S3 driver asks of the store for the common operations, through the blob store
// as Berth uses it: requests by command and the bytes copied inside the store (CopyObject,
// UploadPartCopy). Unlike throughput, these do not depend on the machine's load
// (docs/performance.md, "S3 round trips"). Run: node bench/s3-round-trips.ts (needs versitygw).
import { createHash, randomBytes } from "node:crypto";
import { BlobStore } from "../src/blobs/blob-store.ts";
import { S3Driver } from "../src/blobs/drivers/s3.ts";
import type { Digest } from "../src/domain/digest.ts";
import { startVersitygw } from "../test/support/object-stores.ts";

const MiB = 1024 * 1024;
const s3 = await startVersitygw();
try {
  const bucket = await s3.bucket();
  const driver = new S3Driver({ bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  const counts = new Map<string, number>();
  let copied = 0;
  driver.client.middlewareStack.add(
    (next, context) => async (args) => {
      counts.set(context.commandName!, (counts.get(context.commandName!) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: "countRoundTrips" },
  );
  const store = new BlobStore(driver);
  const sizes = async (key: string) => (await driver.stat(key))?.size ?? 0;
  const measure = async (name: string, work: () => Promise<void>) => {
    counts.clear();
    copied = 0;
    await work();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`${name}: ${total} requests (${[...counts].map(([c, n]) => `${c.replace(/Command$/, "")} ${n}`).join(", ")}), ${(copied / MiB).toFixed(0)} MiB copied in the store`);
  };
  const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest;
  async function* chunksOf(b: Buffer) {
    for (let at = 0; at < b.length; at += 256 * 1024) yield b.subarray(at, at + 256 * 1024);
  }
  // Bytes copied: a move's source size (CopyObject copies all of it).
  const move = driver.move.bind(driver);
  driver.move = async (from, to) => {
    copied += await sizes(from);
    counts.set("HeadObjectCommand", (counts.get("HeadObjectCommand") ?? 0) - 1); // the probe above is the bench's, not the driver's
    return move(from, to);
  };

  const mono = randomBytes(64 * MiB);
  await measure("monolithic push, 64 MiB (POST ?digest= / PUT with the body)", async () => {
    const staged = await store.receive(chunksOf(mono), digestOf(mono));
    await store.publish(staged);
  });
  const layer = randomBytes(3 * MiB);
  await measure("monolithic push, 3 MiB (under one part)", async () => {
    const staged = await store.receive(chunksOf(layer), digestOf(layer));
    await store.publish(staged);
  });
  const chunked = randomBytes(64 * MiB);
  await measure("chunked push, 64 MiB in 16 MiB PATCHes", async () => {
    let session = store.startUpload();
    for (let at = 0; at < chunked.length; at += 16 * MiB) session = await store.appendUpload(session, chunksOf(chunked.subarray(at, at + 16 * MiB)));
    const staged = await store.finishUpload(session, digestOf(chunked));
    await store.publish(staged);
  });
  const small = randomBytes(12 * MiB);
  await measure("chunked push, 12 MiB in 1 MiB PATCHes", async () => {
    let session = store.startUpload();
    for (let at = 0; at < small.length; at += MiB) session = await store.appendUpload(session, chunksOf(small.subarray(at, at + MiB)));
    const staged = await store.finishUpload(session, digestOf(small));
    await store.publish(staged);
  });
  await measure("pull, 64 MiB", async () => {
    for await (const _ of await store.open(digestOf(mono), { start: 0, end: mono.length - 1 }));
  });
  await store.close();
  driver.client.destroy();
} finally {
  await s3.stop();
}

// Publishing a chunked upload in place on S3 (versitygw) and Azure (Azurite), two instances over one
// PostgreSQL: the layouts the blob rows and the store can be in and what gc makes of each. A
// chunked push leaves the blob under uploads/<id>, named by its row; a monolithic push of the same
// digest keeps the row's object (a redirect URL handed out for it stays good) and deletes its own;
// a chunked push of a digest already at its digest's key (every blob before migration 032)
// keeps that object and drops its own; an object under the digest's key beside a row naming an
// object in place (an older Berth's publish copy left by a crash) is a stray gc deletes. After each:
// the blob reads back from both instances, `berth fsck` is clean, nothing is left no row names.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { blobKey as digestKey } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, sha256, type Upload } from "../support/oci-client.ts";
import { chunkedUpload, gcOnce, keep, MiB, readsBack } from "../support/publish-attack.ts";
import { query } from "../support/postgres.ts";
import { startStoreCluster, type StoreCluster } from "../support/store-cluster.ts";

/** The digest's own key (blobs/<alg>/<xx>/<hex>). */
const blobKey = (digest: string) => digestKey(digest as Digest);

async function objectKeyOf(cluster: StoreCluster, digest: string): Promise<string | null | undefined> {
  const rows = await query<{ object_key: string | null }>(cluster.env.BERTH_METADATA_POSTGRES_URL!, "select object_key from blobs where digest = $1", [digest]);
  return rows.length === 0 ? undefined : rows[0]!.object_key;
}

async function twoGcRuns(cluster: StoreCluster): Promise<void> {
  await gcOnce(cluster);
  await sleep(2500); // past uploads.expireAfter (2 s): a stray seen by the first run goes in the second
  await gcOnce(cluster);
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`in place on ${kind} + PostgreSQL: chunked in place, then monolithic (the row keeps its object, a redirect handed out before still reads, the push's own object deleted), a chunked push of a blob at its digest's key keeps that one, a copy beside an object in place is a stray; reads back, fsck clean, nothing left`, { timeout: 300_000, skip: missing ?? false }, async (t) => {
    const cluster = await startStoreCluster(kind, 2, { env: { BERTH_UPLOADS_EXPIRE_AFTER: "2" } });
    t.after(() => cluster.stop());
    const [a, b] = cluster.instances.map((berth) => new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 120_000 })) as [OciClient, OciClient];
    const on = (client: OciClient, upload: Upload): Upload => ({ ...upload, location: client.url(new URL(upload.location).pathname) });
    const driver = cluster.backend.driver;

    // 1. Chunked: the upload's object is the blob.
    const x = randomBytes(3 * MiB + 11);
    await a.finishUpload(on(a, await chunkedUpload(a, "ip/x", x)), sha256(x));
    const inPlace = await objectKeyOf(cluster, sha256(x));
    assert.match(inPlace ?? "", /^uploads\//);
    assert.equal(await driver.stat(blobKey(sha256(x))), null, "no copy");
    await readsBack([a, b], "ip/x", x);

    // 2. The same bytes pushed in one request to another repository: the row keeps its object in
    // place (a redirect URL handed out for it stays good), the push's own object is deleted.
    const redirect = await fetch(`${cluster.instances[0]!.url}/v2/ip/x/blobs/${sha256(x)}`, { headers: { authorization: cluster.instances[0]!.basicAuth }, redirect: "manual" });
    assert.equal(redirect.status, 307);
    await b.pushBlob("ip/x-mono", x, { mode: "monolithic" });
    assert.equal(await objectKeyOf(cluster, sha256(x)), inPlace);
    assert.equal(await driver.stat(blobKey(sha256(x))), null, "the whole push's surplus object is deleted");
    await keep(a, "ip/x", x);
    await keep(b, "ip/x-mono", x);
    await twoGcRuns(cluster);
    assert.equal((await driver.stat(inPlace!))?.size, x.length, "gc keeps the object the row names");
    const early = await fetch(redirect.headers.get("location")!);
    assert.equal(early.status, 200, "the redirect handed out before the second push still reads");
    assert.equal(sha256(Buffer.from(await early.arrayBuffer())), sha256(x));
    await readsBack([a, b], "ip/x", x);
    await readsBack([a, b], "ip/x-mono", x);

    // 3. A blob at its digest's key (pushed in one request: as every blob before migration 032)
    // pushed again in chunks: the row keeps its object, the upload's goes.
    const y = randomBytes(2 * MiB + 3);
    await a.pushBlob("ip/y", y, { mode: "monolithic" });
    await b.finishUpload(await chunkedUpload(b, "ip/y-chunked", y), sha256(y));
    assert.equal(await objectKeyOf(cluster, sha256(y)), null);
    assert.deepEqual(await cluster.leftover(), [], "the second upload's object was deleted");
    await readsBack([a, b], "ip/y-chunked", y);
    await keep(b, "ip/y-chunked", y);

    // 4. A row naming an object in place and a copy under the digest's key beside it (what an
    // older Berth's publish copy left when it died before its commit): the copy is a stray.
    const z = randomBytes(MiB + 5);
    await a.finishUpload(await chunkedUpload(a, "ip/z", z), sha256(z));
    await keep(a, "ip/z", z);
    const writer = await driver.writer(blobKey(sha256(z)));
    await writer.write((async function* () { yield z; })(), { last: true });
    await writer.commit();
    await twoGcRuns(cluster);
    assert.equal(await driver.stat(blobKey(sha256(z))), null, "gc deleted the copy beside the object in place");
    assert.match((await objectKeyOf(cluster, sha256(z))) ?? "", /^uploads\//);
    await readsBack([a, b], "ip/z", z);

    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    assert.deepEqual(await cluster.leftover(), [], "nothing under uploads/ no row names");
    const blobs = (await cluster.backend.keys("blobs")).sort();
    assert.deepEqual(blobs.filter((key) => [x, y, z].some((data) => key === blobKey(sha256(data)))), [blobKey(sha256(y))], "under blobs/: only the blob pushed whole first");
  });
}

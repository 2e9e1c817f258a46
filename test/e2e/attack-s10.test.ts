// Outside attack on session 10's in-place publish on S3 (versitygw) and Azure (Azurite): a chunked
// upload's committed object `uploads/<id>` becomes the blob where it is (the blob row names it,
// migration 032), a second upload of the digest (chunked or whole) is surplus, deleted after its
// commit (a row whose object is lost is re-pointed to the new one), gc's stray rule looks at
// upload rows and blob rows. Two instances over one PostgreSQL, Berth → stalling proxy → store
// (publish-attack.ts crashCluster), OciClient for exact request sequences and regctl (forced
// chunked) where a real client fits. After each scenario every 201 reads back from both instances,
// `berth fsck` is clean and two gc runs leave no object under uploads/ or blobs/ that no row names.
// Findings 1 and 2 (a digest's key beside a row naming an object in place never collected; a
// redirect for an object in place broken by a re-point) failed on the code they were found on and
// are fixed (gc.ts stray rule, blob-commit.ts recordBlob).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { blobKey } from "../../src/blobs/blob-store.ts";
import type { Digest } from "../../src/domain/digest.ts";
import { runBerthCli, type RunningBerth } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciError, sha256, type OciClient } from "../support/oci-client.ts";
import { query } from "../support/postgres.ts";
import { assertClean, attackCluster, chunkedUpload, crashCluster, gcOnce, keep, leftAfterTwoGcRuns, MiB, readsBack, said, settled } from "../support/publish-attack.ts";
import { startStorePair, type StoreCluster } from "../support/store-cluster.ts";
import { startStallingProxy } from "../support/stalling-proxy.ts";
import { hiddenPublish, publishCopy, storeUrl, uploadDelete } from "../support/store-requests.ts";
import { requireTool, run, runOk } from "../support/tools.ts";
import { until } from "../support/until.ts";

const pgUrl = (cluster: StoreCluster) => cluster.env.BERTH_METADATA_POSTGRES_URL!;

/** The key the digest's blob row names (null: the digest's own key), undefined without a row. */
async function rowKey(cluster: StoreCluster, digest: string): Promise<string | null | undefined> {
  const rows = await query<{ object_key: string | null }>(pgUrl(cluster), "select object_key from blobs where digest = $1", [digest]);
  return rows.length === 0 ? undefined : rows[0]!.object_key;
}

/**
 * Objects under blobs/ that no row names: a digest's key is the blob's bytes only when the
 * digest's row has object_key null (a row naming uploads/<id> names that object, not this one).
 */
async function unnamedBlobKeys(cluster: StoreCluster): Promise<string[]> {
  const rows = await query<{ digest: string; object_key: string | null }>(pgUrl(cluster), "select digest, object_key from blobs");
  const named = new Set(rows.filter((r) => r.object_key === null).map((r) => blobKey(r.digest as Digest)));
  return (await cluster.backend.keys("blobs")).filter((key) => !named.has(key));
}

/** Every blob row's object is in the store with the row's size (never a row naming a missing object). */
async function rowsHaveObjects(cluster: StoreCluster): Promise<void> {
  const rows = await query<{ digest: string; size: string; object_key: string | null }>(pgUrl(cluster), "select digest, size, object_key from blobs");
  for (const row of rows) {
    const info = await cluster.backend.driver.stat(row.object_key ?? blobKey(row.digest as Digest));
    assert.equal(info?.size, Number(row.size), `the row of ${row.digest} names ${row.object_key ?? "its digest's key"}, which holds ${info ? `${info.size} bytes` : "nothing"}`);
  }
}

/** assertClean, and nothing under blobs/ without a row naming it either. */
async function allClean(cluster: StoreCluster): Promise<void> {
  await assertClean(cluster);
  assert.deepEqual(await unnamedBlobKeys(cluster), [], "left under blobs/ after gc runs (no blob row names it)");
  await rowsHaveObjects(cluster);
}

function isHeadOf(path: string) {
  return (request: IncomingMessage) => request.method === "HEAD" && storeUrl(request).pathname.endsWith(`/registry/${path}`);
}

function isHeadUnder(prefix: string) {
  return (request: IncomingMessage) => request.method === "HEAD" && storeUrl(request).pathname.includes(`/registry/${prefix}/`);
}

/** Waits until some PostgreSQL session waits for a lock (a transaction blocked on a digest's lock). */
async function someoneWaitsForALock(cluster: StoreCluster): Promise<void> {
  await until("a transaction waiting for a lock", async () => (await query<{ n: string }>(pgUrl(cluster), "select count(*) as n from pg_locks where not granted"))[0]!.n !== "0", 60_000, 100);
}

async function manifestDigest(client: OciClient, repo: string, reference: string): Promise<string> {
  const head = await client.headManifest(repo, reference);
  assert.ok(head, `${repo}:${reference} is there`);
  return head.digest;
}

/** GET of the blob, the redirect not followed: the store URL Berth hands out. */
async function redirectOf(berth: RunningBerth, repo: string, digest: string): Promise<string> {
  const res = await fetch(`${berth.url}/v2/${repo}/blobs/${digest}`, { headers: { authorization: berth.basicAuth }, redirect: "manual" });
  await res.arrayBuffer();
  assert.equal(res.status, 307, `GET ${repo}@${digest}`);
  return res.headers.get("location")!;
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  const skip = missing ?? false;

  // Finding 1. The stray rule for blobs/ keys asks only whether the digest has a row
  // (gc.ts strays[0].named: `tx.blobs.size(digest) !== null`), not whether that row names this
  // key. Since migration 032 a row may name uploads/<id>; then an object under the digest's key is
  // no blob's, yet gc keeps it for as long as the row lives. A monolithic push of the digest
  // writes that object before its transaction (S3: itself, hidden until verified; Azure: the
  // publish copy); the transaction failing (kill -9 here; a quota refusal at the commit, a
  // database error) leaves it.
  test(`attack-s10 ${kind}: a monolithic push of a digest whose row names its object in place, killed inside its transaction, leaves an object under the digest's key no row names; two gc runs must delete it`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, victim, a, b } = await crashCluster(t, kind);
    const data = randomBytes(3 * MiB + 11);
    const digest = sha256(data);
    await b.finishUpload(await chunkedUpload(b, "atk/one", data), digest);
    await keep(b, "atk/one", data);
    const inPlace = await rowKey(cluster, digest);
    assert.match(inPlace ?? "", /^uploads\//, "the chunked upload is published in place");

    const paused = proxy.pauseNext(isHeadOf(blobKey(digest as Digest)));
    const push = settled(a.pushBlob("atk/two", data, { mode: "monolithic" }));
    const held = await paused;
    t.diagnostic(`held: ${held.what}; kill -9 of the instance pushing`);
    await victim.kill();
    t.diagnostic(`the monolithic push: ${said(await push)}`);

    assert.equal(await rowKey(cluster, digest), inPlace, "the transaction did not commit: the row still names the object in place");
    assert.equal((await cluster.backend.driver.stat(blobKey(digest as Digest)))?.size, data.length, "the push's object under the digest's key");
    await leftAfterTwoGcRuns(cluster);
    const unnamed = await unnamedBlobKeys(cluster);
    t.diagnostic(`under blobs/ with no row naming it after two gc runs: ${JSON.stringify(unnamed)}`);
    await readsBack([b], "atk/one", data);
    assert.deepEqual(unnamed, [], "an object under the digest's key that no row names outlives gc (a stray never collected while the blob lives)");
  });

  // Finding 1 without a crash: two instances, a quota. Each instance admits a body on its own
  // reservations (quotas.ts StagingBound), the commit decides. The monolithic push of D (whose
  // row names its object in place, in another repository) is held at its write to the digest's
  // key (S3: the PutObject of the verified bytes; Azure: the publish copy) while the other
  // instance pushes E into the same quota; D's commit is then refused (403 DENIED, right), and
  // the object it wrote under D's key stays for as long as D's row lives: gc never takes it.
  test(`attack-s10 ${kind}: a monolithic push of a digest in place elsewhere, refused by a quota at its commit on one instance while the other filled the quota: the object it wrote under the digest's key must be collected by gc`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, victim: first, a, b } = await crashCluster(t, kind);
    const d = randomBytes(2 * MiB + 1);
    const e = randomBytes(2 * MiB + 2);
    await b.finishUpload(await chunkedUpload(b, "atk/one", d), sha256(d));
    await keep(b, "atk/one", d);
    const inPlace = await rowKey(cluster, sha256(d));
    assert.match(inPlace ?? "", /^uploads\//);
    const quota = await runBerthCli(["quota", "set", "atk/q", "3MiB", "--server", first.url, "--username", first.username, "--password", first.password]);
    assert.equal(quota.code, 0, quota.stderr);
    const hex = sha256(d).slice("sha256:".length);
    const writesD = (request: IncomingMessage) => (kind === "s3" ? hiddenPublish(request) : publishCopy(request)) && storeUrl(request).pathname.endsWith(hex);
    const paused = proxy.pauseNext(writesD);
    const pushD = settled(a.pushBlob("atk/q", d, { mode: "monolithic" }));
    const held = await paused;
    t.diagnostic(`held: ${held.what}`);
    await b.pushBlob("atk/q", e, { mode: "monolithic" });
    held.go();
    const answer = await pushD;
    t.diagnostic(`the push of D: ${said(answer)}`);
    assert.ok(answer instanceof OciError && answer.status === 403, `the push of D over the quota: ${said(answer)}`);
    assert.equal(await rowKey(cluster, sha256(d)), inPlace, "D's row unchanged");
    assert.equal((await cluster.backend.driver.stat(blobKey(sha256(d) as Digest)))?.size, d.length, "the refused push's object under D's key");
    await leftAfterTwoGcRuns(cluster);
    const unnamed = await unnamedBlobKeys(cluster);
    t.diagnostic(`under blobs/ with no row naming it after two gc runs: ${JSON.stringify(unnamed)}`);
    await readsBack([a, b], "atk/one", d);
    assert.deepEqual(unnamed, [], "the refused push's object under D's key outlives gc");
  });

  // Finding 2 (fixed). A monolithic push re-pointed the row of a blob published in place to the
  // digest's key; the object in place became a stray that gc deleted uploads.expireAfter after
  // first seeing it (2 s here, a day by default), and a redirect URL Berth handed out for that
  // object before (valid storage.redirectSeconds: 1200 s by default, up to 7 days on S3) answered
  // 404 while the blob was alive. Now the row keeps its object and the push's own is surplus.
  test(`attack-s10 ${kind}: a redirect URL handed out for a blob in place, then a monolithic push of the same bytes and gc: the URL, still within redirectSeconds, keeps working`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, victim: first, a, b } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 5);
    const digest = sha256(data);
    await a.finishUpload(await chunkedUpload(a, "atk/live", data), digest);
    await keep(a, "atk/live", data);
    const url = await redirectOf(first, "atk/live", digest);
    await b.pushBlob("atk/mono", data, { mode: "monolithic" });
    t.diagnostic(`the row now names ${await rowKey(cluster, digest)}`);
    await leftAfterTwoGcRuns(cluster);
    await readsBack([a, b], "atk/live", data);
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    t.diagnostic(`the redirect handed out before the whole push, fetched after gc: ${res.status}`);
    assert.equal(res.status, 200, "a redirect URL within its validity, for a blob that is still there");
    assert.equal(sha256(body), digest);
  });

  // Soft delete and restore around a blob in place: the manifest deleted (kept restorable: gc
  // keeps its blob), the same bytes pushed whole elsewhere (the row keeps its object in place) and
  // gc, then the manifest restored: it pulls right from both instances.
  test(`attack-s10 ${kind}: a manifest whose blob is in place deleted (restorable), the same bytes pushed whole elsewhere and gc, then restored: it pulls right`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, first, a, b } = await startStorePair(t, kind, async (url) => [await startStallingProxy(url)] as const, { env: { BERTH_UPLOADS_EXPIRE_AFTER: "2", BERTH_DELETION_RESTORABLE_FOR: "86400" } });
    const data = randomBytes(2 * MiB + 21);
    const digest = sha256(data);
    await a.finishUpload(await chunkedUpload(a, "atk/soft", data), digest);
    await keep(a, "atk/soft", data);
    const inPlace = (await rowKey(cluster, digest))!;
    const manifest = await manifestDigest(a, "atk/soft", "kept");
    assert.equal(await a.deleteManifest("atk/soft", manifest), 202);
    await leftAfterTwoGcRuns(cluster);
    assert.equal(await rowKey(cluster, digest), inPlace, "kept for the restore");
    await b.pushBlob("atk/mono", data, { mode: "monolithic" });
    await keep(b, "atk/mono", data);
    await leftAfterTwoGcRuns(cluster);
    assert.equal(await rowKey(cluster, digest), inPlace, "the row keeps its object in place (the whole push's own object is surplus)");
    assert.equal((await cluster.backend.driver.stat(inPlace))?.size, data.length);
    const restored = await runBerthCli(["repository", "restore", "atk/soft", manifest, "--server", first.url, "--username", first.username, "--password", first.password]);
    t.diagnostic(`restore: ${restored.stdout.trim()} ${restored.stderr.trim()}`);
    assert.equal(restored.code, 0, restored.stderr);
    await readsBack([a, b], "atk/soft", data);
    assert.equal((await a.getManifest("atk/soft", manifest)).digest, manifest);
    await allClean(cluster);
    await readsBack([a, b], "atk/soft", data);
  });

  // The same digest chunked on both instances at once, closing PUTs sent together, round after
  // round (same repository and two): both 201, exactly one upload's object left and named by the
  // row, the other deleted before the answer; reads right; nothing left after gc.
  test(`attack-s10 ${kind}: the same digest pushed chunked on both instances at once, 5 rounds: exactly one object named, the other deleted, reads right, clean after gc`, { timeout: 400_000, skip }, async (t) => {
    const { cluster, a, b } = await crashCluster(t, kind);
    const pushed: { repo: string; data: Buffer }[] = [];
    for (let round = 0; round < 5; round++) {
      const data = randomBytes(2 * MiB + 3 + round);
      const digest = sha256(data);
      const repos = ["atk/same", round % 2 === 0 ? "atk/same" : "atk/other"] as const;
      const [ua, ub] = await Promise.all([chunkedUpload(a, repos[0], data), chunkedUpload(b, repos[1], data)]);
      const answers = await Promise.all([settled(a.finishUpload(ua, digest)), settled(b.finishUpload(ub, digest))]);
      t.diagnostic(`round ${round}: ${answers.map(said).join(" · ")}`);
      for (const answer of answers) assert.ok(!(answer instanceof Error), `round ${round}: ${said(answer)}`);
      const key = await rowKey(cluster, digest);
      const ids = [ua.uuid, ub.uuid].map((id) => `uploads/${id}`);
      assert.ok(ids.includes(key ?? ""), `round ${round}: the row names ${key}, not one of the two uploads ${ids.join(", ")}`);
      const under = await cluster.backend.keys("uploads");
      assert.deepEqual(ids.filter((id) => under.includes(id)), [key], `round ${round}: exactly the named upload's object is left`);
      for (const repo of new Set(repos)) pushed.push({ repo, data });
    }
    for (const { repo, data } of pushed) {
      await readsBack([a, b], repo, data);
      await keep(a, repo, data);
    }
    await allClean(cluster);
    for (const { repo, data } of pushed) await readsBack([a, b], repo, data);
  });

  // A monolithic push of a digest (its object surplus, or the row pointed at it) while a chunked upload of the same digest commits on
  // the other instance, both orders: the chunked commit held at its in-transaction HEAD (it holds
  // the digest's lock) while the monolithic push waits for the lock; then the monolithic one held
  // while the chunked one waits. Both 201 each time; the bytes read right; clean after gc.
  test(`attack-s10 ${kind}: a monolithic push of the digest while a chunked upload of it commits on the other instance (both orders): both 201, bytes right, clean after gc`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, a, b } = await crashCluster(t, kind);
    const pushed: { repo: string; data: Buffer }[] = [];
    for (const first of ["chunked", "monolithic"] as const) {
      const data = randomBytes(3 * MiB + 5);
      const digest = sha256(data);
      const upload = await chunkedUpload(a, `atk/${first}-c`, data);
      const paused = proxy.pauseNext(first === "chunked" ? isHeadUnder("uploads") : isHeadOf(blobKey(digest as Digest)));
      const chunked = first === "chunked" ? settled(a.finishUpload(upload, digest)) : null;
      const mono = first === "monolithic" ? settled(b.pushBlob(`atk/${first}-m`, data, { mode: "monolithic" })) : null;
      const held = await paused;
      t.diagnostic(`${first} first, held: ${held.what}`);
      const second = first === "chunked" ? settled(b.pushBlob(`atk/${first}-m`, data, { mode: "monolithic" })) : settled(a.finishUpload(upload, digest));
      // The other push waits for the digest's lock the held one holds (Azure's copy poll may be held
      // instead, before any transaction: then the other push just goes first).
      await Promise.race([someoneWaitsForALock(cluster), second]);
      held.go();
      const answers = [await (chunked ?? second), await (mono ?? second)];
      t.diagnostic(`chunked: ${said(answers[0])} · monolithic: ${said(answers[1])} · row: ${await rowKey(cluster, digest)}`);
      for (const answer of answers) assert.ok(!(answer instanceof Error), `${first} first: ${said(answer)}`);
      pushed.push({ repo: `atk/${first}-c`, data }, { repo: `atk/${first}-m`, data });
      await rowsHaveObjects(cluster);
    }
    for (const { repo, data } of pushed) {
      await readsBack([a, b], repo, data);
      await keep(b, repo, data);
    }
    await allClean(cluster);
    for (const { repo, data } of pushed) await readsBack([a, b], repo, data);
  });

  // Mount (POST ?mount=&from=) of a blob published in place into another repository, on the other
  // instance; the source's manifest and blob deleted; gc: the mounted blob still reads, the row
  // still names the object in place, fsck clean.
  test(`attack-s10 ${kind}: an in-place blob mounted into another repository, the source deleted, gc: the mounted blob reads`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, a, b } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 77);
    const digest = sha256(data);
    await a.finishUpload(await chunkedUpload(a, "atk/src", data), digest);
    await keep(a, "atk/src", data);
    const inPlace = await rowKey(cluster, digest);
    assert.match(inPlace ?? "", /^uploads\//);
    const mounted = await b.mountBlob("atk/dst", digest, "atk/src");
    assert.equal(mounted.mounted, true, "mounted");
    await keep(b, "atk/dst", data);
    assert.equal(await a.deleteManifest("atk/src", await manifestDigest(a, "atk/src", "kept")), 202);
    assert.equal(await a.deleteBlob("atk/src", digest), 202);
    t.diagnostic(`gc: ${await gcOnce(cluster)}`);
    assert.equal(await a.headBlob("atk/src", digest), null, "gone from the source");
    await readsBack([a, b], "atk/dst", data);
    assert.equal(await rowKey(cluster, digest), inPlace, "the row still names the object in place");
    await allClean(cluster);
    await readsBack([a, b], "atk/dst", data);
  });

  // The manifest and blob deleted; gc sweeps the row and deletes uploads/<id> while a presigned
  // redirect Berth handed out is unused: it then answers 404 (the blob is gone, as it would be
  // under its digest's key). Then the same digest pushed again chunked on one instance and
  // monolithically on the other, into the old repository and a new one: bytes right everywhere,
  // the redirects work, clean after gc.
  test(`attack-s10 ${kind}: an in-place blob deleted and swept by gc while a redirect is out, then pushed again chunked and monolithically: bytes right everywhere`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, victim: first, second, a, b } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 99);
    const digest = sha256(data);
    await a.finishUpload(await chunkedUpload(a, "atk/gone", data), digest);
    await keep(a, "atk/gone", data);
    const inPlace = (await rowKey(cluster, digest))!;
    const url = await redirectOf(second, "atk/gone", digest);
    assert.ok(url.includes(inPlace), `the redirect names the object in place (${inPlace})`);
    assert.equal(await a.deleteManifest("atk/gone", await manifestDigest(a, "atk/gone", "kept")), 202);
    assert.equal(await b.deleteBlob("atk/gone", digest), 202);
    t.diagnostic(`gc: ${await gcOnce(cluster)}`);
    assert.equal(await rowKey(cluster, digest), undefined, "the row swept");
    assert.equal(await cluster.backend.driver.stat(inPlace), null, "its object deleted");
    const stale = await fetch(url);
    await stale.arrayBuffer();
    t.diagnostic(`the redirect handed out before: ${stale.status}`);
    assert.equal(await a.headBlob("atk/gone", digest), null);

    const answers = await Promise.all([settled(b.finishUpload(await chunkedUpload(b, "atk/gone", data), digest)), settled(a.pushBlob("atk/back", data, { mode: "monolithic" }))]);
    t.diagnostic(`again: chunked ${said(answers[0])} · monolithic ${said(answers[1])} · row: ${await rowKey(cluster, digest)}`);
    for (const answer of answers) assert.ok(!(answer instanceof Error), said(answer));
    for (const repo of ["atk/gone", "atk/back"]) {
      await readsBack([a, b], repo, data);
      for (const berth of [first, second]) {
        const fresh = await fetch(await redirectOf(berth, repo, digest));
        assert.equal(sha256(Buffer.from(await fresh.arrayBuffer())), digest, `${repo} through the store's URL`);
      }
      await keep(b, repo, data);
    }
    await allClean(cluster);
    for (const repo of ["atk/gone", "atk/back"]) await readsBack([a, b], repo, data);
  });

  // kill -9 of the instance closing a chunked upload while its transaction is held at the
  // in-transaction HEAD of the upload's object (row recorded, upload row deleted, not committed);
  // its lease lapses; gc's purge (BERTH_UPLOADS_EXPIRE_AFTER 2 s) takes the idle upload and its
  // object; the client's retry on the other instance must be a clean 404 (never a 201 with the
  // object gone, never a row naming a missing object), and starting over gets 201.
  test(`attack-s10 ${kind}: kill -9 inside the closing PUT's transaction, the upload purged by gc, the retry on the other instance: 404, the start-over 201, no row without its object`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, victim, a, b, on } = await crashCluster(t, kind);
    const data = randomBytes(3 * MiB + 1);
    const digest = sha256(data);
    const upload = await chunkedUpload(a, "atk/purged", data);
    const paused = proxy.pauseNext(isHeadUnder("uploads"));
    const put = settled(a.finishUpload(upload, digest));
    t.diagnostic(`held: ${(await paused).what}; kill -9`);
    await victim.kill();
    await put;
    assert.equal(await rowKey(cluster, digest), undefined, "nothing committed");
    let purged = "";
    await until("gc purging the upload", async () => {
      purged = await gcOnce(cluster);
      return !/ 0 expired uploads/.test(purged);
    }, 60_000, 500);
    t.diagnostic(`gc: ${purged}`);
    await rowsHaveObjects(cluster);
    const retry = await settled(b.finishUpload(on(b, upload), digest));
    t.diagnostic(`the retry on the other instance: ${said(retry)}`);
    assert.ok(retry instanceof OciError && retry.status === 404, `the retry of a purged upload: ${said(retry)}`);
    assert.equal(await b.headBlob("atk/purged", digest), null);
    await b.finishUpload(await chunkedUpload(b, "atk/purged", data), digest);
    await readsBack([b], "atk/purged", data);
    await keep(b, "atk/purged", data);
    await rowsHaveObjects(cluster);
    await allClean(cluster);
    await readsBack([b], "atk/purged", data);
  });

  // The other order: kill -9 inside the transaction, the retry on the other instance once the
  // lease lapsed (before any purge): 201, the row names the object in place, and a gc run right
  // after (grace 0, purge after 2 s) keeps it.
  test(`attack-s10 ${kind}: kill -9 inside the closing PUT's transaction, the retry on the other instance gets 201; gc after it keeps the object`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, victim, a, b, on } = await crashCluster(t, kind);
    const data = randomBytes(3 * MiB + 2);
    const digest = sha256(data);
    const upload = await chunkedUpload(a, "atk/retried", data);
    const paused = proxy.pauseNext(isHeadUnder("uploads"));
    const put = settled(a.finishUpload(upload, digest));
    t.diagnostic(`held: ${(await paused).what}; kill -9`);
    await victim.kill();
    await put;
    const retry = await settled(b.finishUpload(on(b, upload), digest));
    t.diagnostic(`the retry: ${said(retry)} · row: ${await rowKey(cluster, digest)}`);
    assert.ok(!(retry instanceof Error), `the retry: ${said(retry)}`);
    await keep(b, "atk/retried", data);
    t.diagnostic(`gc: ${await gcOnce(cluster)}`);
    await sleep(2500);
    t.diagnostic(`gc: ${await gcOnce(cluster)}`);
    await readsBack([b], "atk/retried", data);
    await allClean(cluster);
  });

  // kill -9 after the transaction of a surplus upload (the digest's row names another upload's
  // object) committed, held at the delete of its own object: the client's retry of the PUT on the
  // other instance is 404 (the upload is gone with its commit), HEAD of the blob 200, the blob
  // reads right; the surplus object, named by no row, is collected by gc after the upload expiry.
  test(`attack-s10 ${kind}: kill -9 after a surplus upload's commit, before its object's delete: the retry 404, the blob there, the surplus object collected`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, victim, a, b, on } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 31);
    const digest = sha256(data);
    await b.finishUpload(await chunkedUpload(b, "atk/first", data), digest);
    await keep(b, "atk/first", data);
    const named = await rowKey(cluster, digest);
    const upload = await chunkedUpload(a, "atk/surplus", data);
    const paused = proxy.pauseNext(uploadDelete);
    const put = settled(a.finishUpload(upload, digest));
    t.diagnostic(`held: ${(await paused).what}; kill -9`);
    await victim.kill();
    t.diagnostic(`the PUT: ${said(await put)}`);
    assert.equal(await rowKey(cluster, digest), named, "the row kept its object");
    assert.ok((await cluster.leftover()).includes(`uploads/${upload.uuid}`), "the surplus object is left, named by no row");
    const retry = await settled(b.finishUpload(on(b, upload), digest));
    t.diagnostic(`the retry: ${said(retry)}`);
    assert.ok(retry instanceof OciError && retry.status === 404, said(retry));
    await readsBack([b], "atk/surplus", data);
    await keep(b, "atk/surplus", data);
    await allClean(cluster);
    await readsBack([b], "atk/surplus", data);
    assert.equal(await rowKey(cluster, digest), named);
  });

  // The store's connection cut at every HEAD under uploads/ while a closing PUT commits: the
  // surplus check of the existing row's object (BlobStore.holds) and the in-transaction look at
  // the upload's own object (stillThere) fail; the transaction rolls back. The client sees a 5xx
  // (never a 404 that ends its push, never a 201), its retry of the same PUT on the other
  // instance gets 201; the row keeps one object that is there, nothing is left after gc.
  test(`attack-s10 ${kind}: the store's connection cut at the closing PUT's HEADs (surplus check, in-transaction look): a 5xx, the retry on the other instance 201, clean after gc`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, cutter, a, b, on } = await attackCluster(t, kind);
    const d = randomBytes(2 * MiB + 41);
    await b.finishUpload(await chunkedUpload(b, "atk/c1", d), sha256(d));
    await keep(b, "atk/c1", d);
    const named = await rowKey(cluster, sha256(d));
    const f = randomBytes(2 * MiB + 43);
    for (const [repo, data] of [["atk/c2", d], ["atk/c3", f]] as const) {
      const upload = await chunkedUpload(a, repo, data);
      cutter.cutting = isHeadUnder("uploads");
      const first = await settled(a.finishUpload(upload, sha256(data)));
      cutter.cutting = null;
      t.diagnostic(`${repo}: cut ${cutter.cut.length} HEADs; the PUT: ${said(first)}`);
      assert.ok(first instanceof OciError && first.status >= 500, `${repo}: the PUT whose store connection was cut: ${said(first)}`);
      const retry = await settled(b.finishUpload(on(b, upload), sha256(data)));
      t.diagnostic(`${repo}: the retry: ${said(retry)} · row ${await rowKey(cluster, sha256(data))}`);
      assert.ok(!(retry instanceof Error), `${repo}: the retry: ${said(retry)}`);
      await rowsHaveObjects(cluster);
      await readsBack([a, b], repo, data);
      await keep(a, repo, data);
    }
    assert.equal(await rowKey(cluster, sha256(d)), named, "the first object stays the blob");
    await allClean(cluster);
    await readsBack([a, b], "atk/c2", d);
    await readsBack([a, b], "atk/c3", f);
  });

  // The client cancels (DELETE <location>) on the other instance while the closing PUT's
  // transaction is held at its in-transaction HEAD (the upload row deleted there, not committed;
  // the PUT's lease renewal waits for its own transaction's row lock, so the lease runs out).
  // The cancel waits; the PUT, released, commits: 201, the blob reads, its object is there; the
  // cancel must not delete the object the row now names.
  test(`attack-s10 ${kind}: a cancel (DELETE) on the other instance while the closing PUT's transaction is held: the PUT 201, the object the row names stays`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, proxy, a, b, on } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 51);
    const digest = sha256(data);
    const upload = await chunkedUpload(a, "atk/cancel", data);
    const paused = proxy.pauseNext(isHeadUnder("uploads"));
    const put = settled(a.finishUpload(upload, digest));
    const held = await paused;
    t.diagnostic(`held: ${held.what}`);
    const cancel = b.raw("DELETE", on(b, upload).location).then(async (res) => `${res.status} ${await res.text()}`);
    await someoneWaitsForALock(cluster);
    held.go();
    const [putAnswer, cancelAnswer] = await Promise.all([put, cancel]);
    t.diagnostic(`the PUT: ${said(putAnswer)} · the cancel: ${cancelAnswer} · row ${await rowKey(cluster, digest)}`);
    await rowsHaveObjects(cluster);
    if (!(putAnswer instanceof Error)) {
      await readsBack([a, b], "atk/cancel", data);
      await keep(a, "atk/cancel", data);
    }
    assert.ok(!(putAnswer instanceof Error), `the PUT: ${said(putAnswer)}`);
    await allClean(cluster);
  });

  // Upgrade: rows from before migration 032 have object_key null (the digest's key). A digest
  // pushed monolithically (row null) then chunked into other repositories on both instances: the
  // chunked uploads are surplus (deleted), the row stays null; a null row whose object went
  // missing is re-pointed by the next chunked push (the blob comes back).
  test(`attack-s10 ${kind}: rows naming the digest's key (as before the upgrade) keep working: chunked pushes after are surplus; a lost object is replaced by the next chunked push`, { timeout: 300_000, skip }, async (t) => {
    const { cluster, a, b } = await crashCluster(t, kind);
    const data = randomBytes(2 * MiB + 13);
    const digest = sha256(data);
    await a.pushBlob("atk/old", data, { mode: "monolithic" });
    await keep(a, "atk/old", data);
    assert.equal(await rowKey(cluster, digest), null);
    await Promise.all([a.finishUpload(await chunkedUpload(a, "atk/new1", data), digest), b.finishUpload(await chunkedUpload(b, "atk/new2", data), digest)]);
    assert.equal(await rowKey(cluster, digest), null, "the row keeps the digest's key");
    assert.deepEqual(await cluster.leftover(), [], "the surplus uploads deleted");
    // The object lost (fsck's blob-missing): the next chunked push brings it back in place.
    await cluster.backend.driver.delete(blobKey(digest as Digest));
    await b.finishUpload(await chunkedUpload(b, "atk/new3", data), digest);
    const key = await rowKey(cluster, digest);
    t.diagnostic(`after the loss, the row names ${key}`);
    assert.match(key ?? "", /^uploads\//);
    for (const repo of ["atk/old", "atk/new1", "atk/new2", "atk/new3"]) {
      await readsBack([a, b], repo, data);
      await keep(b, repo, data);
    }
    await allClean(cluster);
  });

  // Real clients around one shared layer: regctl pushes it in 1 MiB PATCHes to the first
  // instance (in place), crane copies the artifact to the second instance (pulled through the
  // redirect, pushed again: surplus) and within it (a mount of the blob), oras pushes
  // the same file monolithically (its object surplus: the row keeps the one in place); the regctl artifact is
  // deleted and gc runs past the upload expiry. oras pulls every artifact left from both
  // instances byte for byte; fsck clean; nothing left over.
  test(`attack-s10 ${kind}: regctl chunked, crane copies across instances and within one (mount), oras monolithic, the first deleted, gc: oras pulls everything left byte for byte from both`, { timeout: 600_000, skip }, async (t: TestContext) => {
    const regctl = requireTool(t, "regctl");
    const crane = requireTool(t, "crane");
    const oras = requireTool(t, "oras");
    if (!regctl || !crane || !oras) return;
    const { cluster, victim: first, second } = await crashCluster(t, kind);
    const dir = await mkdtemp(join(tmpdir(), "berth-s10-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, "home/.docker"), { recursive: true });
    const env = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker"), REGCTL_CONFIG: join(dir, "home/regctl.json") };
    const orasRemote = ["--plain-http", "--registry-config", join(dir, "home/oras-auth.json")];
    const shared = randomBytes(3 * MiB + 9);
    await writeFile(join(dir, "shared.bin"), shared);
    for (const berth of [first, second]) {
      await runOk(regctl, ["registry", "set", "--tls", "disabled", "--skip-check", "--blob-chunk", String(MiB), "--blob-max", "1", berth.host], { env, cwd: dir });
      await runOk(regctl, ["registry", "login", berth.host, "-u", berth.username, "--pass-stdin"], { env, cwd: dir, input: berth.password });
      await runOk(crane, ["auth", "login", berth.host, "-u", berth.username, "--password-stdin", "--insecure"], { env, cwd: dir, input: berth.password });
      await runOk(oras, ["login", ...orasRemote, "-u", berth.username, "--password-stdin", berth.host], { env, cwd: dir, input: berth.password });
    }
    const digest = sha256(shared);
    await runOk(regctl, ["artifact", "put", "--artifact-type", "application/vnd.berth.test", "--file-title", "-f", "shared.bin", "-m", "application/octet-stream", `${first.host}/atk/r:v1`], { env, cwd: dir });
    t.diagnostic(`after regctl: ${await rowKey(cluster, digest)}`);
    await runOk(crane, ["copy", `${first.host}/atk/r:v1`, `${second.host}/atk/c:v1`, "--insecure"], { env, cwd: dir });
    t.diagnostic(`after crane copy across: ${await rowKey(cluster, digest)}`);
    await runOk(crane, ["copy", `${second.host}/atk/c:v1`, `${second.host}/atk/m:v1`, "--insecure"], { env, cwd: dir });
    await runOk(oras, ["push", ...orasRemote, `${second.host}/atk/o:v1`, "--artifact-type", "application/vnd.berth.test", "shared.bin:application/octet-stream"], { env, cwd: dir });
    t.diagnostic(`after oras: ${await rowKey(cluster, digest)}`);
    const r = (await runOk(crane, ["digest", `${first.host}/atk/r:v1`, "--insecure"], { env, cwd: dir })).stdout.trim();
    await runOk(crane, ["delete", `${first.host}/atk/r@${r}`, "--insecure"], { env, cwd: dir });
    await leftAfterTwoGcRuns(cluster);
    for (const repo of ["atk/c", "atk/m", "atk/o"]) {
      for (const berth of [first, second]) {
        const out = join(dir, `pulled-${repo.replace("/", "-")}-${berth.port}`);
        await runOk(oras, ["pull", ...orasRemote, `${berth.host}/${repo}:v1`, "-o", out], { env, cwd: dir });
        assert.equal(sha256(await readFile(join(out, "shared.bin"))), digest, `${repo} from ${berth.host}`);
      }
    }
    await allClean(cluster);
  });

  // gc (grace 0) in a loop while regctl (every blob in 1 MiB PATCHes) pushes artifacts sharing a
  // layer on both instances at once, round after round. A push may fail (grace 0 lets gc take a
  // blob before its manifest); every push that succeeded pulls back right from both instances,
  // and fsck is clean during and after.
  test(`attack-s10 ${kind}: gc in a loop while regctl pushes chunked artifacts sharing a layer on both instances: what was pushed pulls right, fsck clean`, { timeout: 600_000, skip }, async (t: TestContext) => {
    const regctl = requireTool(t, "regctl");
    if (!regctl) return;
    const { cluster, victim: first, second, a, b } = await crashCluster(t, kind);
    const dir = await mkdtemp(join(tmpdir(), "berth-s10-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, "home"), { recursive: true });
    const env = { ...process.env, HOME: join(dir, "home"), REGCTL_CONFIG: join(dir, "home/regctl.json") };
    const shared = randomBytes(3 * MiB + 7);
    await writeFile(join(dir, "shared.bin"), shared);
    for (const berth of [first, second]) {
      await runOk(regctl, ["registry", "set", "--tls", "disabled", "--skip-check", "--blob-chunk", String(MiB), "--blob-max", "1", berth.host], { env, cwd: dir });
      await runOk(regctl, ["registry", "login", berth.host, "-u", berth.username, "--pass-stdin"], { env, cwd: dir, input: berth.password });
    }
    let pushing = true;
    const gcRuns: string[] = [];
    const gcLoop = (async () => {
      while (pushing) {
        const gc = await cluster.cli(["gc", "--grace-period", "0"]);
        gcRuns.push(gc.code === 0 ? gc.stdout.trim() : `exit ${gc.code}: ${gc.stderr.trim()}`);
      }
    })();
    const ok: string[] = [];
    const failed: string[] = [];
    try {
      // At least 3 rounds, and on until gc ran 4 times beside the pushes (8 rounds at most).
      for (let round = 0; round < 8 && (round < 3 || gcRuns.length < 4); round++) {
        await writeFile(join(dir, `own-${round}.bin`), randomBytes(MiB + round));
        await Promise.all(
          [first, second].map(async (berth, i) => {
            const ref = `${berth.host}/atk/art${i}:r${round}`;
            const pushed = await run(regctl, ["artifact", "put", "--artifact-type", "application/vnd.berth.test", "--file-title", "-f", "shared.bin", "-m", "application/octet-stream", "-f", `own-${round}.bin`, "-m", "application/octet-stream", ref], { env, cwd: dir });
            if (pushed.code === 0) ok.push(`atk/art${i}:r${round}`);
            else failed.push(`${ref}: ${pushed.stderr.trim().split("\n").at(-1)}`);
          }),
        );
      }
    } finally {
      pushing = false;
      await gcLoop;
    }
    t.diagnostic(`pushed: ${ok.join(", ")}; failed: ${failed.join(" | ") || "none"}; gc runs: ${gcRuns.length}`);
    for (const line of gcRuns) assert.doesNotMatch(line, /^exit/, `a gc run failed: ${line}`);
    assert.ok(ok.length > 0, "some push succeeded");
    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    for (const ref of ok) {
      const [repo, tag] = ref.split(":") as [string, string];
      for (const client of [a, b]) {
        const manifest = JSON.parse((await client.getManifest(repo, tag)).bytes.toString()) as { layers: { digest: string; size: number }[] };
        for (const layer of manifest.layers) assert.equal(sha256(await client.getBlob(repo, layer.digest)), layer.digest, `${ref}: ${layer.digest}`);
        assert.ok(manifest.layers.some((l) => l.digest === sha256(shared)), `${ref} has the shared layer`);
      }
    }
    await rowsHaveObjects(cluster);
    await allClean(cluster);
  });
}

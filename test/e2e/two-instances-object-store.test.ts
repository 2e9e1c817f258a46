// Two instances on PostgreSQL and S3 (or Azure) with blob GETs redirected to the store: the
// signed URL is handed out only after the access check, by whichever instance, and never for a
// blob the caller may not read (another repository, anonymous while anonymous pull is off, a
// scope-map token for another repository, a link deleted on the other instance); HEAD never
// redirects; no instance logs a signature. An upload begun on one instance and continued on the
// other either goes on (once uploads move between instances) or is refused cleanly with 404
// BLOB_UPLOAD_UNKNOWN on both, leaving nothing in the store; it never publishes other bytes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { basic, createToken, createUser, patchAttributes, putScopeMap } from "../support/identity-api.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, OciError, sha256 } from "../support/oci-client.ts";
import { startStoreCluster } from "../support/store-cluster.ts";

const MiB = 1024 * 1024;

/** A GET not followed: the status and the Location (null: no URL handed out). */
async function getBlob(url: string, authorization: string | null): Promise<{ status: number; location: string | null }> {
  const res = await fetch(url, { redirect: "manual", headers: authorization ? { authorization } : {} });
  await res.body?.cancel();
  return { status: res.status, location: res.headers.get("location") };
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`two instances on ${kind} + PostgreSQL: a redirect URL only after the access check, on either instance; HEAD never redirects; no signature logged; an upload moved between instances never corrupts`, { timeout: 120_000, skip: missing ?? false }, async (t) => {
    const cluster = await startStoreCluster(kind, 2, { env: { BERTH_LOG_LEVEL: "info" } });
    t.after(() => cluster.stop());
    const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];
    const [ca, cb] = [a, b].map((x) => new OciClient({ baseUrl: x.url, authorization: x.basicAuth }));
    const data = randomBytes(300_000);
    const digest = sha256(data);
    await ca!.pushBlob("team/a", data);
    const at = (berth: typeof a, repo: string) => `${berth.url}/v2/${repo}/blobs/${digest}`;

    const granted = await getBlob(at(b, "team/a"), b.basicAuth);
    assert.equal(granted.status, 307);
    const direct = await fetch(granted.location!);
    assert.equal(sha256(Buffer.from(await direct.arrayBuffer())), digest, "the store's URL serves the blob");
    const head = await fetch(at(b, "team/a"), { method: "HEAD", redirect: "manual", headers: { authorization: b.basicAuth } });
    assert.deepEqual([head.status, head.headers.get("location")], [200, null], "HEAD answers itself");

    await putScopeMap(a, "only-b", [{ repository: "team/b", actions: ["content/read"] }]);
    const scoped = basic("tok-b", await createToken(a, "tok-b", "only-b"));
    const puller = basic("puller", await createUser(a, "puller", ["acrpull"]));
    const refusals: [string, { status: number; location: string | null }, number][] = [
      ["another repository", await getBlob(at(b, "team/other"), b.basicAuth), 404],
      ["anonymous", await getBlob(at(b, "team/a"), null), 401],
      ["a token for another repository", await getBlob(at(a, "team/a"), scoped), 403],
    ];
    const mount = await fetch(`${b.url}/v2/team/z/blobs/uploads/?mount=${digest}&from=team/a`, { method: "POST", redirect: "manual", headers: { authorization: puller } });
    await mount.body?.cancel();
    refusals.push(["a mount by a pull-only user", { status: mount.status, location: mount.headers.get("location") }, 403]);
    for (const [who, answer, status] of refusals) assert.deepEqual(answer, { status, location: null }, who);

    await patchAttributes(a, "team/a", { anonymousPull: true });
    for (;;) {
      const anonymous = await getBlob(at(b, "team/a"), null); // the attribute reaches b through the change log
      if (anonymous.status === 307) break;
      assert.equal(anonymous.status, 401);
    }
    assert.deepEqual(await getBlob(at(b, "team/other"), null), { status: 401, location: null }, "anonymous pull of a repository without it");

    assert.equal(await ca!.deleteBlob("team/a", digest), 202);
    assert.deepEqual(await getBlob(at(b, "team/a"), b.basicAuth), { status: 404, location: null }, "a link deleted on the other instance");

    // An upload begun on a, continued on b.
    const moved = randomBytes(6 * MiB + 5);
    let upload = await ca!.startUpload("team/moved");
    upload = await ca!.patchChunk(upload, moved.subarray(0, 3 * MiB));
    const path = new URL(upload.location).pathname;
    try {
      const there = await cb!.patchChunk({ ...upload, location: cb!.url(path) }, moved.subarray(3 * MiB));
      await cb!.finishUpload(there, sha256(moved));
      assert.ok((await ca!.getBlob("team/moved", sha256(moved))).equals(moved));
    } catch (err) {
      assert.ok(err instanceof OciError && err.status === 404 && err.codes.includes("BLOB_UPLOAD_UNKNOWN"), String(err));
      for (const client of [ca!, cb!]) await assert.rejects(client.uploadStatus(path), (e: unknown) => e instanceof OciError && e.status === 404);
      assert.equal(await cb!.headBlob("team/moved", sha256(moved)), null);
      assert.deepEqual(await cluster.leftover(), [], "the refused upload's parts are dropped");
    }
    const fsck = await cluster.cli(["fsck"]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);

    const logs = a.output() + b.output();
    assert.doesNotMatch(logs, /X-Amz-Signature|[?&]sig=|SharedKey|AccountKey|testtest/, "a signature, key or secret in the logs");
  });
}

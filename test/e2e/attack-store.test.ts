// Attacks on the upload lease across processes, with real `berth serve` processes on one data
// directory. Each test is a finding: it fails on the code it was written against.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { startTwoBerths, type RunningBerth } from "../support/berth.ts";
import { settle, trickle } from "../support/crash-points.ts";
import { OciClient, OciError, sha256, type Upload } from "../support/oci-client.ts";

const MiB = 1024 * 1024;

/**
 * Two containers with host networking share the host's name but each has its own PID namespace,
 * where Berth is pid 1. `unshare --pid --fork` gives each server exactly that.
 */
const ownContainer = ["unshare", "--pid", "--fork", "--kill-child=SIGTERM"];

test("attack-store: two servers in containers of their own (same host name, each pid 1): a PATCH through one while the other streams still gets 416, and no blob serves bytes other than its digest's", { timeout: 120_000 }, async (t) => {
  // unshare's parent ignores SIGTERM; its SIGKILL hands the server a SIGTERM (--kill-child).
  const [one, two] = await startTwoBerths(t, { launcher: ownContainer, kill: true });
  const clients = [one, two].map((berth) => new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth }));
  const at = (upload: Upload, berth: RunningBerth): Upload => ({ ...upload, location: new URL(new URL(upload.location).pathname, berth.url).href });

  const data = randomBytes(4 * MiB);
  let upload = await clients[0]!.startUpload("team/contained");
  upload = await clients[0]!.patchChunk(upload, data.subarray(0, MiB));
  // A slow chunk streams through the first server (it holds the row's lease) ...
  const rest = data.subarray(MiB, 3 * MiB);
  const body = trickle(rest, 64 * 1024, 40);
  const streaming = settle(clients[0]!.patchStream(upload, body.body, { length: rest.length }));
  await body.reached(256 * 1024);
  // ... while another client sends other bytes for the same range to the second (two clients
  // sharing an upload URL, or a client retrying with a changed chunk through a load balancer).
  const junk = randomBytes(MiB);
  const rival = await settle(clients[1]!.patchChunk(at(upload, two), junk));
  const streamed = await streaming;
  const problems: string[] = [];
  if (rival.ok) problems.push("the second server accepted a PATCH while the first held the lease (it took the live lease for a dead process's)");
  else if (!(rival.error instanceof OciError && rival.error.status === 416)) problems.push(`the rival PATCH: ${String(rival.error)}`);
  if (!streamed.ok) problems.push(`the streaming PATCH, which held the lease, failed: ${String(streamed.error).slice(0, 200)}`);

  // Whoever won, the upload's bytes must be the winner's: finishing with the winner's digest gives exactly those bytes.
  const winner = rival.ok ? Buffer.concat([data.subarray(0, MiB), junk]) : data.subarray(0, 3 * MiB);
  const current = await clients[1]!.uploadStatus(at(upload, two));
  if (current.offset === winner.length) {
    const closed = await settle(clients[1]!.finishUpload(current, sha256(winner)));
    if (closed.ok) {
      const stored = await fetch(`${two.url}/v2/team/contained/blobs/${sha256(winner)}`, { headers: { authorization: two.basicAuth } });
      const bytes = Buffer.from(await stored.arrayBuffer());
      if (sha256(bytes) !== sha256(winner)) problems.push(`the blob ${sha256(winner)} got 201 but serves other bytes (${sha256(bytes)}): both servers wrote the upload file at once`);
    } else problems.push(`closing the upload with the winner's digest: ${String(closed.error).slice(0, 200)}`);
  } else problems.push(`the upload holds ${current.offset} bytes, the winner sent ${winner.length}`);
  const fsck = await one.cli(["fsck"]);
  if (fsck.code !== 0) problems.push(`berth fsck: ${fsck.stdout}${fsck.stderr}`.slice(0, 400));
  assert.deepEqual(problems, []);
});

test("attack-store: classic pushes of one version through two servers at once (one 201, the rest 409), then forced overwrites through one racing OCI deletes through the other: both servers' index.yaml, the tag, the package and helm agree", { timeout: 180_000 }, async (t) => {
  const { validChart } = await import("../support/chart-fixtures.ts");
  const { berthFetch, helmClient, putBlob, repoAdd } = await import("../support/helm.ts");
  const { parse } = await import("yaml");
  const helm = await helmClient(t, "v3");
  if (!helm) return;
  const servers = await startTwoBerths(t);
  const [one, two] = servers;

  const packages = await Promise.all(Array.from({ length: 10 }, (_, i) => validChart({ name: "race", version: "1.0.0", description: `push ${i}` })));
  const statuses = (await Promise.all(packages.map((tgz, i) => putBlob(servers[i % 2]!, "race-1.0.0.tgz", tgz)))).map((r) => r.status);
  assert.deepEqual([statuses.filter((s) => s === 201).length, statuses.filter((s) => s === 409).length], [1, 9], statuses.join(" "));

  type Index = { entries?: Record<string, { version: string; digest: string }[]> };
  const listedBy = async (berth: RunningBerth) => {
    const res = await berthFetch(berth, "/helm/v1/repo/index.yaml");
    return { etag: res.headers.get("etag"), entry: (parse(await res.text()) as Index).entries?.demo?.find((v) => v.version === "0.1.0") };
  };
  const settled = async (x: RunningBerth, y: RunningBerth) => {
    for (let i = 0; i < 100 && (await listedBy(x)).etag !== (await listedBy(y)).etag; i++) await new Promise((r) => setTimeout(r, 100));
  };
  const problems: string[] = [];
  for (let round = 0; round < 6; round++) {
    const first = await validChart({ name: "demo", version: "0.1.0", description: `round ${round} first` });
    const second = await validChart({ name: "demo", version: "0.1.0", description: `round ${round} second` });
    assert.equal((await putBlob(one, "demo-0.1.0.tgz", first, { method: "PATCH" })).status, 201);
    const digest = (await berthFetch(two, "/v2/repo/demo/manifests/0.1.0", { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).headers.get("docker-content-digest");
    const [overwrite, removal] = await Promise.all([putBlob(one, "demo-0.1.0.tgz", second, { method: "PATCH" }), berthFetch(two, `/v2/repo/demo/manifests/${digest}`, { method: "DELETE" })]);
    // Both servers follow the change log (within a second, docs say); wait until their ETags meet, 10 s at most.
    await settled(one, two);
    const tag = (await berthFetch(one, "/v2/repo/demo/manifests/0.1.0", { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).status;
    const pkg = await berthFetch(two, "/helm/v1/repo/_blobs/demo-0.1.0.tgz");
    const pkgBytes = Buffer.from(await pkg.arrayBuffer());
    const [a, b] = [await listedBy(one), await listedBy(two)];
    const what = `round ${round}: overwrite ${overwrite.status}, delete ${removal.status}; tag ${tag}; package ${pkg.status}; index.yaml lists 0.1.0: one ${a.entry ? "yes" : "no"}, two ${b.entry ? "yes" : "no"}`;
    if (a.etag !== b.etag || a.entry?.digest !== b.entry?.digest) problems.push(`${what}: the servers' index.yaml differ`);
    if ((tag === 200) !== (a.entry !== undefined) || (tag === 200) !== (pkg.status === 200)) problems.push(what);
    if (a.entry && pkg.status === 200 && `sha256:${a.entry.digest}` !== sha256(pkgBytes)) problems.push(`${what}: index.yaml's digest is not the package served`);
    await berthFetch(two, "/v2/repo/demo/manifests/0.1.0", { method: "DELETE" });
  }
  // The last state, as helm sees it through the second server.
  assert.equal((await putBlob(one, "demo-0.1.0.tgz", await validChart({ name: "demo", version: "0.1.0", description: "final" }), { method: "PATCH" })).status, 201);
  await settled(one, two);
  await repoAdd(helm, two);
  const hits = await helm.json<{ name: string; version: string }[]>(["search", "repo", "berth/", "--versions", "-o", "json"]);
  const seen = hits.map((h) => `${h.name}@${h.version}`).sort();
  if (JSON.stringify(seen) !== JSON.stringify(["berth/demo@0.1.0", "berth/race@1.0.0"])) problems.push(`helm search repo: ${seen.join(" ")}`);
  const fsck = await one.cli(["fsck"]);
  if (fsck.code !== 0) problems.push(`berth fsck: ${fsck.stdout}${fsck.stderr}`.slice(0, 400));
  assert.deepEqual(problems, []);
});

test("attack-store: a chunk refused as short of its Content-Range leaves a stale running hash that, after another server appends other bytes, lets a pusher overwrite any blob (a shared base layer) with bytes of their choice", { timeout: 120_000 }, async (t) => {
  const [one, two] = await startTwoBerths(t);
  const admin = new OciClient({ baseUrl: one.url, authorization: one.basicAuth });
  // A base layer every team uses, pushed by its owner; its bytes are public (it is a base image's).
  const base = randomBytes(64 * 1024);
  const digest = await admin.pushBlob("library/base", base);
  // Someone who may push to a repository of their own, and only there.
  const created = await fetch(`${one.url}/api/v1/service-principals`, { method: "POST", headers: { authorization: one.basicAuth, "content-type": "application/json" }, body: JSON.stringify({ name: "mallory", role: "acrpush", scope: "mallory/*" }) });
  assert.equal(created.status, 201);
  const { id, secret } = (await created.json()) as { id: string; secret: string };
  const mallory = `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
  const send = (berth: RunningBerth, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array<ArrayBuffer>, chunked = false) =>
    fetch(`${berth.url}${path}`, {
      method,
      headers: { authorization: mallory, ...(body ? { "content-type": "application/octet-stream" } : {}), ...headers },
      ...(body ? (chunked ? { body: new Blob([body]).stream(), duplex: "half" } : { body }) : {}),
    } as RequestInit);

  const started = await send(one, "POST", "/v2/mallory/x/blobs/uploads/");
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get("location")!, one.url).pathname;
  // Through the first server: the base layer's bytes, sent chunked, one byte short of the Content-Range claimed: 400, nothing recorded.
  const short = await send(one, "PATCH", location, { "content-range": `0-${base.length}` }, base, true);
  assert.equal(short.status, 400);
  // Through the second server: other bytes of the same length, properly.
  const evil = Buffer.alloc(base.length, 0x66);
  assert.equal((await send(two, "PATCH", location, { "content-range": `0-${evil.length - 1}` }, evil)).status, 202);
  // Closing through the first server with the base layer's digest.
  const put = await send(one, "PUT", `${location}?digest=${digest}`);
  const served = Buffer.from(await (await fetch(`${two.url}/v2/library/base/blobs/${digest}`, { headers: { authorization: two.basicAuth } })).arrayBuffer());
  assert.equal(sha256(served), digest, `library/base's layer now serves other bytes (the closing PUT answered ${put.status})`);
  assert.equal(put.status, 400, "the upload holds other bytes than the digest's: DIGEST_INVALID");
});

test("attack-store: kill -9 of one server mid-PATCH, berth gc at once, then the client goes on through the other server from the Range it reports: the blob reads back, fsck clean", { timeout: 120_000 }, async (t) => {
  const { resumeOrRestart } = await import("../support/crash-points.ts");
  const { assertFsckClean } = await import("../support/berth-cli.ts");
  const [one, two] = await startTwoBerths(t);
  const first = new OciClient({ baseUrl: one.url, authorization: one.basicAuth });
  const second = new OciClient({ baseUrl: two.url, authorization: two.basicAuth });
  const data = randomBytes(3 * MiB + 77);
  let upload = await first.startUpload("team/crashed");
  upload = await first.patchChunk(upload, data.subarray(0, MiB));
  const body = trickle(data.subarray(MiB), 64 * 1024, 30);
  const streaming = settle(first.patchStream(upload, body.body, { length: data.length - MiB }));
  await body.reached(MiB);
  await one.kill();
  await streaming;
  // gc right after the crash, with no grace: the dead server's lease and the upload's bytes must survive it.
  const gc = await two.cli(["gc", "--grace-period", "0"]);
  assert.equal(gc.code, 0, gc.stderr);
  const location = new URL(new URL(upload.location).pathname, two.url).href;
  await resumeOrRestart(second, { repo: "team/crashed", location, data, acknowledged: MiB, sent: body.sent() + MiB }, MiB);
  assert.ok((await second.getBlob("team/crashed", sha256(data))).equals(data));
  await assertFsckClean(two, "after the crash, gc and the resumed upload");
});

// Attacks on the upload lease across processes, with real `berth serve` processes on one data
// directory. Each test is a finding: it fails on the code it was written against.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { settle, trickle } from "../support/crash-points.ts";
import { OciClient, OciError, sha256, type Upload } from "../support/oci-client.ts";

const MiB = 1024 * 1024;

/**
 * Two containers with host networking share the host's name but each has its own PID namespace,
 * where Berth is pid 1. `unshare --pid --fork` gives each server exactly that.
 */
const ownContainer = ["unshare", "--pid", "--fork", "--kill-child=SIGTERM"];

test("attack-store: two servers in containers of their own (same host name, each pid 1): a PATCH through one while the other streams still gets 416, and no blob serves bytes other than its digest's", { timeout: 120_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "berth-attack-"));
  const servers: RunningBerth[] = [];
  t.after(async () => {
    // unshare's parent ignores SIGTERM; its SIGKILL hands the server a SIGTERM (--kill-child).
    await Promise.all(servers.map((s) => s.kill()));
    await rm(dataDir, { recursive: true, force: true });
  });
  servers.push(await startBerth({ dataDir, launcher: ownContainer }));
  servers.push(await startBerth({ dataDir, launcher: ownContainer }));
  const [one, two] = servers as [RunningBerth, RunningBerth];
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

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

test("attack-store: two servers in containers of their own (same host name, each pid 1): a PATCH through one while the other streams still gets 416, and the blob reads back whole", { timeout: 120_000 }, async (t) => {
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
  // ... while another client (or a retry through a load balancer) sends other bytes for the same range to the second.
  const rival = await settle(clients[1]!.patchChunk(at(upload, two), randomBytes(MiB)));
  const streamed = await streaming;
  assert.ok(!rival.ok && rival.error instanceof OciError && rival.error.status === 416, `PATCH through the second server while the first streams: ${rival.ok ? "accepted (the live lease was taken as a dead process's)" : String(rival.error)}`);
  assert.ok(streamed.ok, `the streaming PATCH: ${streamed.ok ? "" : String(streamed.error)}`);

  // Whatever happened, a client finishing from the Range it is told must get its bytes back.
  let current = await clients[1]!.uploadStatus(at(upload, two));
  const held = current.offset;
  if (held < data.length) current = await clients[1]!.patchChunk(current, data.subarray(held));
  await clients[1]!.finishUpload(current, sha256(data));
  assert.ok((await clients[0]!.getBlob("team/contained", sha256(data))).equals(data));
});

// How long a small write of another repository waits while a large chunked upload is published on
// S3 with SQLite metadata (issue 16): the publish copy of the upload to its digest's key is O(size)
// in the store; made inside the metadata transaction it held SQLite's one writer lock, and a
// manifest PUT anywhere in the registry waited for it. Prints the manifest PUT's time alone and
// while a 256 MiB publish copy runs (aimed by a proxy that sees the copy start); no assertion.
// Times depend on the machine's load: read them side by side, with the load average printed.
// Run: node bench/publish-copy-wait.ts [MiB] (needs versitygw; a build: node scripts/build.mjs).
import { createHash, randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { startBerth } from "../test/support/berth.ts";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, OciClient } from "../test/support/oci-client.ts";
import { s3BerthEnv, startVersitygw } from "../test/support/object-stores.ts";
import { startStallingProxy } from "../test/support/stalling-proxy.ts";

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 256) * MiB;
const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const s3 = await startVersitygw();
const proxy = await startStallingProxy(s3.endpoint);
const env = { ...s3BerthEnv(s3, await s3.bucket()), BERTH_STORAGE_S3_ENDPOINT: proxy.url };
const berth = await startBerth({ env });
try {
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth, timeoutMs: 600_000 });
  const config = Buffer.from("{}");
  const layer = randomBytes(1024);
  await client.pushBlob("other/app", config);
  await client.pushBlob("other/app", layer);
  const manifest = (tag: string) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length }, layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }], annotations: { tag } }));
  const timed = async (work: () => Promise<unknown>) => {
    const start = performance.now();
    await work();
    return performance.now() - start;
  };
  const alone: number[] = [];
  for (let i = 0; i < 5; i++) alone.push(await timed(() => client.putManifest("other/app", `alone${i}`, manifest(`alone${i}`))));
  const during: string[] = [];
  for (let run = 0; run < 2; run++) {
    const data = randomBytes(size);
    let upload = await client.startUpload("big/app");
    for (let at = 0; at < data.length; at += 16 * MiB) upload = await client.patchChunk(upload, data.subarray(at, at + 16 * MiB));
    const copying = proxy.pauseNext((req) => req.method === "PUT" && (req.url ?? "").includes("/blobs/") && "x-amz-copy-source" in req.headers);
    const closeStart = performance.now();
    const closing = client.finishUpload(upload, sha256(data));
    const copy = await copying;
    const copyAt = performance.now() - closeStart;
    copy.go();
    await new Promise((ok) => setTimeout(ok, 200)); // the copy under way
    const put = await timed(() => client.putManifest("other/app", `during${run}`, manifest(`during${run}`)));
    await closing;
    during.push(`manifest PUT ${put.toFixed(0)} ms (closing PUT ${(performance.now() - closeStart).toFixed(0)} ms, its copy began at ${copyAt.toFixed(0)} ms)`);
  }
  console.log(`${size / MiB} MiB chunked publish on versitygw, SQLite; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`manifest PUT of another repository, alone: ${alone.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  for (const line of during) console.log(`during the publish copy: ${line}`);
} finally {
  await berth.stop();
  await proxy.close();
  await s3.stop();
}

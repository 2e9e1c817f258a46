// Soft delete's list and restore over big records (attack 17, finding 2): `berth serve` with
// deletion.restorableFor on, RECORDS manifests of ~4 MiB (manifests.maxBytes) pushed by digest
// and deleted, then 4 concurrent `GET /api/v1/deleted/team/app` (following `next`) and 4
// concurrent restores of a digest never deleted (404). Prints the wall time of each round and
// the server's peak resident memory (bench/rss.ts samples /proc every 100 ms).
//
//   node_modules/.bin/node bench/deleted-records.ts [records=60]
import { createHash } from "node:crypto";
import { startBerth } from "../test/support/berth.ts";
import { readRss, RssSampler } from "./rss.ts";

const RECORDS = Number(process.argv[2] ?? 60);
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

const berth = await startBerth({ env: { BERTH_DELETION_RESTORABLE_FOR: "86400", BERTH_RETENTION_INTERVAL: "0" } });
try {
  const call = async (method: string, path: string, body?: Buffer | string, type = "application/json") => {
    const res = await fetch(`${berth.url}${path}`, { method, headers: { authorization: berth.basicAuth, ...(body !== undefined && { "content-type": type }) }, body: typeof body === "string" || body === undefined ? body : new Uint8Array(body) });
    return { status: res.status, text: await res.text() };
  };
  const config = Buffer.from("{}");
  const layer = Buffer.from("layer");
  for (const blob of [config, layer]) await call("POST", `/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`, blob, "application/octet-stream");
  for (let i = 0; i < RECORDS; i++) {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }], annotations: { pad: `${i}`.padEnd(4 * 1024 * 1024 - 1000, "x") } }));
    const put = await call("PUT", `/v2/team/app/manifests/${sha256(body)}`, body, MANIFEST);
    if (put.status !== 201) throw new Error(`push ${i}: ${put.status} ${put.text}`);
    const deleted = await call("DELETE", `/v2/team/app/manifests/${sha256(body)}`);
    if (deleted.status !== 202) throw new Error(`delete ${i}: ${deleted.status} ${deleted.text}`);
  }
  const listAll = async () => {
    let n = 0;
    for (let last: string | undefined; ;) {
      const res = await call("GET", `/api/v1/deleted/team/app${last ? `?last=${encodeURIComponent(last)}` : ""}`);
      const page = JSON.parse(res.text) as { deleted: unknown[]; next?: string | null };
      n += page.deleted.length;
      if (!page.next) return n;
      last = page.next;
    }
  };
  const pid = berth.process.pid!;
  const round = async (name: string, work: () => Promise<unknown>) => {
    const before = readRss(pid)!;
    const sampler = new RssSampler(pid, 20);
    const start = performance.now();
    const answers = await Promise.all([work(), work(), work(), work()]);
    const ms = performance.now() - start;
    const peak = Math.max(...sampler.stop().map((s) => s.bytes));
    process.stdout.write(`${name}: ${(ms / 1000).toFixed(2)} s, server RSS ${mib(before)} -> peak ${mib(peak)} (answers: ${answers.join(", ")})\n`);
  };
  process.stdout.write(`${RECORDS} records of ~4 MiB\n`);
  await round("4 concurrent lists", listAll);
  await round("4 concurrent restores of a digest never deleted", async () => (await call("POST", "/api/v1/deleted/team/app", JSON.stringify({ reference: `sha256:${"0".repeat(64)}` }))).status);
} finally {
  await berth.dispose();
}

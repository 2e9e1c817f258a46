// Measures what the quota's staging bound (services/quotas.ts StagingBound) costs a PATCH: the
// same chunked upload with no quota, then under a quota over its namespace, on a store whose
// namespace holds LINKS links (so a full usage count is costly: docs/lifecycle.md#quotas).
// In process (Fastify inject, SQLite, filesystem), so the figures are the server's own work.
//   node scripts/staging-bench.ts [links=20000] [patches=300] [chunkKiB=64]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config/load.ts";
import { digestBytes } from "../src/domain/digest.ts";
import type { RepositoryName } from "../src/domain/names.ts";
import { createLogger } from "../src/observability/logger.ts";

const LINKS = Number(process.argv[2] ?? 20_000);
const PATCHES = Number(process.argv[3] ?? 300);
const CHUNK = Number(process.argv[4] ?? 64) * 1024;
const PASSWORD = "bench-admin-password";
const AUTH = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;

const dataDir = await mkdtemp(join(tmpdir(), "berth-staging-bench-"));
const berth = await buildApp(loadConfig({ overrides: { "storage.data": dataDir, "auth.adminPassword": PASSWORD } }), createLogger("silent"));
const metadata = berth.stores.metadata;
try {
  const filled = performance.now();
  for (let i = 0; i < LINKS; i += 500) {
    await metadata.transaction(async (tx) => {
      for (let j = i; j < Math.min(i + 500, LINKS); j++) {
        const repository = `team/app-${j % 100}` as RepositoryName;
        const digest = digestBytes(Buffer.from(`layer ${j}`));
        await tx.repositories.ensure(repository);
        await tx.blobs.record(digest, 1_000_000);
        await tx.blobLinks.link(repository, digest);
      }
    });
  }
  console.log(`store: ${LINKS} links under team/* (filled in ${((performance.now() - filled) / 1000).toFixed(1)} s)`);
  const counted = performance.now();
  await metadata.quotas.usage("team/*");
  console.log(`one full count of team/*: ${(performance.now() - counted).toFixed(1)} ms`);

  const request = (method: string, url: string, body?: Buffer, headers: Record<string, string> = {}) =>
    berth.app.inject({ method: method as "GET", url, headers: { authorization: AUTH, ...headers }, ...(body && { payload: body }) });

  async function patches(label: string): Promise<void> {
    const location = String((await request("POST", "/v2/team/bench/blobs/uploads/")).headers.location);
    const chunk = Buffer.alloc(CHUNK, 7);
    const times: number[] = [];
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < PATCHES; i++) {
      const t0 = performance.now();
      const res = await request("PATCH", location, chunk, { "content-type": "application/octet-stream", "content-range": `${i * CHUNK}-${(i + 1) * CHUNK - 1}` });
      if (res.statusCode !== 202) throw new Error(`${label}: PATCH ${i} answered ${res.statusCode} ${res.body}`);
      times.push(performance.now() - t0);
    }
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    await request("DELETE", location);
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
    console.log(`${label}: ${PATCHES} PATCHes of ${CHUNK / 1024} KiB: per PATCH median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms; mean wall ${(wall / PATCHES).toFixed(2)} ms, CPU ${((used.user + used.system) / 1000 / PATCHES).toFixed(2)} ms`);
  }

  await patches("warm-up");
  await patches("no quota");
  await metadata.quotas.set({ scope: "team/*", limit: 10 ** 15, created: new Date(), createdBy: "bench" });
  await patches("quota team/*");
  await metadata.quotas.remove("team/*");
  await patches("no quota again");
} finally {
  await berth.close();
  await rm(dataDir, { recursive: true, force: true });
}

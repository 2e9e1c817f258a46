// With blobs in S3 or Azure Blob and metadata in PostgreSQL nothing lives on the local disk:
// `berth serve`, `berth gc` and `berth fsck` leave no data directory behind (they made an empty
// ./data in whatever directory they ran in), and /healthz and /metrics report no local free
// space, which would be that of an unrelated disk.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runBerthCli, startBerth } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { startPostgres } from "../support/postgres.ts";
import { startStoreBackend } from "../support/store-cluster.ts";

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`${kind} + PostgreSQL: berth serve, gc and fsck create no data directory; /healthz and /metrics report no local free space`, { timeout: 120_000, skip: missing ?? false }, async (t) => {
    const postgres = await startPostgres();
    t.after(() => postgres.stop());
    const backend = await startStoreBackend(kind);
    t.after(() => backend.stop());
    const cwd = await mkdtemp(join(tmpdir(), "berth-no-data-"));
    t.after(() => rm(cwd, { recursive: true, force: true }));
    const env = { ...backend.env, BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: await postgres.database() };

    const cliEnv = { ...process.env, BERTH_LOG_LEVEL: "warn", ...env };
    for (const args of [["gc", "--grace-period", "0"], ["fsck"]]) {
      const run = await runBerthCli(args, cliEnv, cwd);
      assert.equal(run.code, 0, run.stdout + run.stderr);
    }
    assert.deepEqual(await readdir(cwd), [], "berth gc or fsck created ./data");

    const data = join(cwd, "served-data");
    const berth = await startBerth({ dataDir: data, env });
    try {
      const health = await fetch(`${berth.url}/healthz`);
      assert.deepEqual(await health.json(), { status: "ok" });
      const metrics = await fetch(`${berth.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.doesNotMatch(await metrics.text(), /berth_storage_(free|size)_bytes/);
    } finally {
      await berth.stop();
    }
    assert.equal(existsSync(data), false, "berth serve created its --data directory");
  });
}

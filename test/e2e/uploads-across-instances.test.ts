// Issue 16 point 3: an upload is the database's and the object store's, not an instance's. Three
// `berth serve` processes, each with a data directory of its own, over one PostgreSQL database and
// one bucket (versitygw) or container (Azurite), behind a balancer:
// - 12 × 1 MiB PATCHes alternating between A and B, the closing PUT on C, pulled byte-identical
//   from A and B (the running digest crosses instances as the state saved in the upload row);
// - A killed with kill -9 while it streams a PATCH (it holds the upload's lease): meanwhile a
//   PATCH on B is refused 416 (one writer at a time), the client's retry on B waits for the dead
//   holder's lease to run out and goes on, the upload finishes on C, byte-identical, fsck clean;
// - regctl pushing a 13 MiB layer in 1 MiB chunks through the round-robin (every PATCH on the other
//   instance than the one before), pulled back byte-identical through it.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import pg from "pg";
import { accessLines, logBarrier } from "../support/access-log.ts";
import { startBerth, type RunningBerth } from "../support/berth.ts";
import { assertFsckClean } from "../support/berth-cli.ts";
import { OciClient, OciError, type Upload } from "../support/oci-client.ts";
import { missingStore, startObjectStore } from "../support/object-stores.ts";
import { startPostgres, type PostgresCluster } from "../support/postgres.ts";
import { startRoundRobin, type RoundRobin } from "../support/round-robin.ts";
import { requireTool, runOk } from "../support/tools.ts";

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

let cluster: PostgresCluster;
before(async () => {
  cluster = await startPostgres();
});
after(() => cluster?.stop());

interface Deployment {
  instances: RunningBerth[];
  balancer: RoundRobin;
  database: string;
  client: OciClient;
}

/** Three instances on one database and one store, behind a balancer; all stopped after the test. */
async function deploy(t: TestContext, kind: "s3" | "azure"): Promise<Deployment> {
  const store = await startObjectStore(kind);
  const database = await cluster.database();
  const instances: RunningBerth[] = [];
  let balancer: RoundRobin | null = null;
  t.after(async () => {
    await balancer?.close();
    await Promise.all(instances.map((b) => b.dispose())); // first: a store waits for its clients' connections to close
    await store.stop();
  });
  // Access lines (log level info) say which instance answered which PATCH.
  const env = { ...store.env, BERTH_METADATA_DRIVER: "postgres", BERTH_METADATA_POSTGRES_URL: database, BERTH_LOG_LEVEL: "info" };
  for (let i = 0; i < 3; i++) instances.push(await startBerth({ env }));
  balancer = await startRoundRobin(instances.map((b) => b.url));
  return { instances, balancer, database, client: new OciClient({ baseUrl: balancer.url, authorization: instances[0]!.basicAuth, timeoutMs: 60_000 }) };
}

/** Sends the balancer's next request to instance `i`. */
function onInstance(balancer: RoundRobin, i: number): void {
  balancer.route = () => {
    balancer.route = null;
    return i;
  };
}

async function patchOn(d: Deployment, i: number, upload: Upload, chunk: Uint8Array): Promise<Upload> {
  onInstance(d.balancer, i);
  return d.client.patchChunk(upload, chunk);
}

async function leaseOwner(database: string, location: string): Promise<string | null> {
  const id = new URL(location).pathname.split("/").pop()!;
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const rows = (await client.query<{ lease_owner: string | null }>("select lease_owner from uploads where id = $1", [id])).rows;
    return rows[0]?.lease_owner ?? null;
  } finally {
    await client.end();
  }
}

async function assertPullsOnEach(d: Deployment, repository: string, data: Buffer, on: number[]): Promise<void> {
  for (const i of on) {
    onInstance(d.balancer, i);
    assert.equal(sha256(await d.client.getBlob(repository, sha256(data))), sha256(data), `pulled from instance ${i}`);
  }
}

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  const on = kind === "s3" ? "S3 (versitygw) + PostgreSQL" : "Azure Blob (Azurite) + PostgreSQL";

  test(`${on}: 12 × 1 MiB PATCHes alternating between two instances, finished on a third, pull byte-identical from each`, { timeout: 180_000, skip: missing ?? false }, async (t) => {
    const d = await deploy(t, kind);
    const data = randomBytes(12 * MiB);
    onInstance(d.balancer, 0);
    let upload = await d.client.startUpload("team/across");
    for (let n = 0; n < 12; n++) upload = await patchOn(d, n % 2, upload, data.subarray(n * MiB, (n + 1) * MiB));
    assert.equal(upload.offset, 12 * MiB);
    onInstance(d.balancer, 2);
    await d.client.finishUpload(upload, sha256(data));
    await assertPullsOnEach(d, "team/across", data, [0, 1, 2]);
  });

  test(`${on}: an instance killed with kill -9 while it streams a PATCH: a second writer meanwhile gets 416, the client's retry on another instance goes on, finished on the third, byte-identical, fsck clean`, { timeout: 180_000, skip: missing ?? false }, async (t) => {
    const d = await deploy(t, kind);
    const data = randomBytes(12 * MiB + 333);
    onInstance(d.balancer, 0);
    let upload = await d.client.startUpload("team/killed");
    for (let n = 0; n < 6; n++) upload = await patchOn(d, n % 2, upload, data.subarray(n * MiB, (n + 1) * MiB));

    // Chunk 7 on A, streamed: half of it, then nothing until A is gone.
    const chunk = data.subarray(6 * MiB, 7 * MiB);
    let killed!: () => void;
    const dead = new Promise<void>((ok) => (killed = ok));
    const body = (async function* () {
      yield chunk.subarray(0, MiB / 2);
      await dead;
    })();
    onInstance(d.balancer, 0);
    const streaming = d.client
      .raw("PATCH", upload.location, { headers: { "content-type": "application/octet-stream", "content-range": `${6 * MiB}-${7 * MiB - 1}` }, body })
      .then((res) => res.status, () => 0);
    // A holds the upload's lease while it writes (the row says so): wait for that.
    while ((await leaseOwner(d.database, upload.location)) === null) await new Promise((r) => setTimeout(r, 20));

    // One writer at a time: B sees A renew its lease and refuses (the spec's 416 for a chunk it cannot take at this offset).
    onInstance(d.balancer, 1);
    await assert.rejects(d.client.patchChunk(upload, chunk), (err: unknown) => err instanceof OciError && err.status === 416 && err.codes.includes("BLOB_UPLOAD_INVALID") && err.body.includes("another request is writing to this upload"));

    await d.instances[0]!.kill();
    killed();
    assert.notEqual(await streaming, 202, "the PATCH to the killed instance did not succeed");

    // The client asks where to resume (on B), and sends chunk 7 again there: B waits for the dead
    // holder's lease to run out by the database's clock, then takes it.
    onInstance(d.balancer, 1);
    const status = await d.client.uploadStatus(upload.location);
    assert.equal(status.offset, 6 * MiB, "nothing of the killed PATCH counts");
    upload = { ...upload, offset: status.offset };
    upload = await patchOn(d, 1, upload, chunk);
    for (let n = 7; n * MiB < data.length; n++) upload = await patchOn(d, 1 + (n % 2), upload, data.subarray(n * MiB, Math.min((n + 1) * MiB, data.length)));
    assert.equal(upload.offset, data.length);
    onInstance(d.balancer, 2);
    await d.client.finishUpload(upload, sha256(data));
    await assertPullsOnEach(d, "team/killed", data, [1, 2]);
    await assertFsckClean(d.instances[1]!, `on ${on}, after kill -9 mid-PATCH`);
  });

  test(`${on}: regctl pushes a 13 MiB layer in 1 MiB chunks through the round-robin (each PATCH on the other instance), and pulls it back byte-identical`, { timeout: 180_000, skip: missing ?? false }, async (t) => {
    const regctl = requireTool(t, "regctl");
    if (!regctl) return;
    const d = await deploy(t, kind);
    const dir = await mkdtemp(join(tmpdir(), "berth-across-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, "home"), { recursive: true });
    const env: NodeJS.ProcessEnv = { HOME: join(dir, "home"), REGCTL_CONFIG: join(dir, "home/regctl.json") };
    const regctlOk = (args: string[], input?: string) => runOk(regctl, args, { env, cwd: dir, input });
    const layer = randomBytes(13 * MiB + 5);
    await writeFile(join(dir, "layer.bin"), layer);
    const host = d.balancer.host;
    await regctlOk(["registry", "set", "--tls", "disabled", "--skip-check", "--blob-chunk", String(MiB), "--blob-max", "1", host]);
    await regctlOk(["registry", "login", host, "-u", "admin", "--pass-stdin"], d.instances[0]!.password);
    await regctlOk(["artifact", "put", "--artifact-type", "application/vnd.berth.test", "--file-title", "-f", "layer.bin", `${host}/chunked/art:v1`]);
    const patches = [];
    for (const [i, berth] of d.instances.entries()) {
      await logBarrier(berth);
      for (const line of accessLines(berth.output())) if (line.method === "PATCH" && line.path?.startsWith("/v2/chunked/art/blobs/uploads/")) patches.push({ i, status: line.status });
    }
    assert.ok(patches.length >= 13, `regctl sent ${patches.length} PATCHes for a 13 MiB layer in 1 MiB chunks`);
    assert.ok(patches.every((p) => p.status === 202), "every PATCH answered 202");
    assert.equal(new Set(patches.map((p) => p.i)).size, 3, "the PATCHes landed on all three instances");
    await mkdir(join(dir, "out"));
    await regctlOk(["artifact", "get", `${host}/chunked/art:v1`, "--output", join(dir, "out")]);
    assert.equal(sha256(await readFile(join(dir, "out/layer.bin"))), sha256(layer));
  });
}

// Background work runs on one instance at a time: two `berth serve` over one database take turns
// through the job's lease (metadata jobs), and when the holder dies the other takes the job over
// once the lease has run out. The upload purge itself then still runs: an idle upload is purged.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { startTwoBerths } from "../support/berth.ts";

test("two instances: one holds the maintenance job, the other takes it over after a kill -9, and idle uploads are still purged", { timeout: 90_000 }, async (t) => {
  // A tick every 2 s, so a lease of 4 s: the holder keeps the job unless a tick of its comes more
  // than 2 s late, which a starved process could do to a 1 s tick (the lease then rightly moves).
  const env = { BERTH_UPLOADS_PURGE_INTERVAL: "2", BERTH_UPLOADS_EXPIRE_AFTER: "1" };
  const [one, two] = await startTwoBerths(t, { env, kill: true });
  const db = new DatabaseSync(join(one.dataDir, "berth.db"), { readOnly: true });
  t.after(() => db.close());
  const holder = () => (db.prepare("select owner from jobs where name = 'maintenance'").get() as { owner: string } | undefined)?.owner ?? "";
  const pidOf = (owner: string) => Number(owner.split(":")[1]);
  const until = async (check: () => boolean, what: string) => {
    for (const deadline = Date.now() + 30_000; !check(); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 30 s (holder ${holder()})`);
    }
  };
  const pids = [one.process.pid, two.process.pid];
  await until(() => pids.includes(pidOf(holder())), "a holder");
  const first = pidOf(holder());
  // It stays with its holder while the holder lives (renewed each tick): over more than a lease.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.equal(pidOf(holder()), first);

  const [dead, alive] = first === one.process.pid ? [one, two] : [two, one];
  await dead.kill();
  await until(() => pidOf(holder()) === alive.process.pid, "taken over by the survivor");

  // The survivor runs the purge: an upload left idle goes.
  const started = await fetch(`${alive.url}/v2/jobs/app/blobs/uploads/`, { method: "POST", headers: { authorization: alive.basicAuth } });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get("location")!, alive.url).href;
  for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 250))) {
    const status = (await fetch(location, { headers: { authorization: alive.basicAuth } })).status;
    if (status === 404) break;
    assert.ok(Date.now() < deadline, `the idle upload was not purged (status ${status})`);
  }
});

// Issue 17: "receiver down for a minute then back: every event delivered, in order, with growing
// backoff". The receiver's port is closed for a real minute (60 s) while oras pushes, then it
// listens again on the same port. Berth runs with the shipped retry settings (backoffBase 1 s,
// backoffCap 30 s, timeout 10 s: docs/lifecycle.md, "Retries"), not shortened ones, so this is the
// schedule a real outage gets: the head delivery is tried at about 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s
// and then every 30 s; the deliveries behind it wait.
//
// The attempts' times come from the deliveries API, polled while the receiver is down (each failed
// attempt n sets nextAt = its time + backoff(n), as the docs say), and from the delivery's
// finishedAt once it went through. Only lower bounds on the spacing are asserted (an attempt never
// comes before its wait is over, however loaded the machine), and those bounds grow; how much later
// they came is printed, not asserted.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runBerthCli } from "../support/berth.ts";
import { berthFor } from "../support/helm.ts";
import { requireTool, runOk } from "../support/tools.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

const OUTAGE_MS = 60_000;
const BASE_MS = 1_000;
const CAP_MS = 30_000;
/** The documented wait after n failed attempts: base·2^(n-1), at most the cap. */
const wait = (failed: number) => Math.min(CAP_MS, BASE_MS * 2 ** (failed - 1));

interface Delivery { id: number; eventId: number; status: string; attempts: number; nextAt: string; finishedAt: string | null; error: string | null }

test("a receiver down for a minute, then back: every push made meanwhile is delivered, in order, after retries whose spacing grew", { timeout: 300_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  // The shipped backoff and timeout: only the allow list is opened, for the loopback receiver.
  const berth = await berthFor(t, { env: { BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true" } });
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const dir = await mkdtemp(join(tmpdir(), "berth-webhook-outage-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const made = await runBerthCli(["webhook", "create", "down", "--uri", `${receiver.url}/down`, "--actions", "push", "--server", berth.url, "-u", berth.username, "-p", berth.password]);
  assert.equal(made.code, 0, made.stderr);

  const deliveries = async () => {
    const res = await fetch(`${berth.url}/api/v1/webhooks/down/deliveries?limit=100`, { headers: { authorization: berth.basicAuth } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { deliveries: Delivery[] }).deliveries.toSorted((a, b) => a.id - b.id);
  };
  const push = async (n: number) => {
    await writeFile(join(dir, "note.txt"), `outage push ${n}\n`);
    await runOk(oras, ["push", "--plain-http", "-u", berth.username, "-p", berth.password, `${berth.host}/down/app:v${n}`, "note.txt:text/plain"], { cwd: dir, env: { HOME: dir } });
  };

  await receiver.stop();
  const downAt = Date.now();
  // A push every 10 s while down; between them, the head delivery's failed attempts as the API shows them.
  const seen = new Map<number, number>(); // failed attempts → nextAt
  let pushes = 0;
  while (Date.now() - downAt < OUTAGE_MS) {
    if (pushes < 6 && Date.now() - downAt >= pushes * 10_000) await push(pushes++);
    const [head, ...behind] = await deliveries();
    if (head && head.attempts > 0 && !seen.has(head.attempts)) {
      assert.equal(head.status, "pending");
      assert.match(head.error ?? "", /ECONNREFUSED/);
      seen.set(head.attempts, Date.parse(head.nextAt));
    }
    for (const d of behind) assert.equal(d.attempts, 0, "the deliveries behind the head wait for it");
    await sleep(200);
  }
  await receiver.start();
  const backAt = Date.now(); // after the port listens again: every attempt before this was refused
  await receiver.waitFor(pushes, 120_000);

  // Every push, once, in the event stream's order.
  const res = await fetch(`${berth.url}/api/v1/events?action=push&limit=100`, { headers: { authorization: berth.basicAuth } });
  const stream = ((await res.json()) as { events: { id: number }[] }).events.map((e) => e.id);
  assert.equal(stream.length, pushes);
  assert.deepEqual(receiver.on("/down").map((r) => Number(r.headers["berth-event"])), stream);

  // The attempts, from `berth webhook deliveries -o json` now that all went through.
  const listed = await runBerthCli(["webhook", "deliveries", "down", "-o", "json", "--server", berth.url, "-u", berth.username, "-p", berth.password]);
  assert.equal(listed.code, 0, listed.stderr);
  const final = ((JSON.parse(listed.stdout) as { deliveries: Delivery[] }).deliveries).toSorted((a, b) => a.id - b.id);
  assert.deepEqual(final.map((d) => d.status), Array(pushes).fill("delivered"));
  assert.deepEqual(final.slice(1).map((d) => d.attempts), Array(pushes - 1).fill(1), "the ones behind the head: sent once, after it");
  const head = final[0]!;
  const failed = head.attempts - 1;
  // Attempt n's time (n failed so far): its nextAt less its wait; the last one's is finishedAt.
  const times = new Map([...seen].map(([n, nextAt]) => [n, nextAt - wait(n)]));
  times.set(head.attempts, Date.parse(head.finishedAt!));
  const observed = [...times].toSorted(([a], [b]) => a - b);
  console.log(
    `receiver down ${((backAt - downAt) / 1000).toFixed(1)} s, ${pushes} pushes; head delivery: ${failed} failed attempts, then delivered ${((Date.parse(head.finishedAt!) - backAt) / 1000).toFixed(1)} s after the receiver was back;` +
      ` attempts at ${observed.map(([n, at]) => `#${n} +${((at - downAt) / 1000).toFixed(1)} s`).join(", ")}`,
  );
  assert.ok(seen.size >= 4, `at least four failed attempts seen during the minute: ${JSON.stringify([...seen])}`);
  assert.ok(failed >= Math.max(...seen.keys()));
  // Between two known attempts a < b, at least the waits after each failed one in between: 1, 2,
  // 4, 8, 16, then 30 s. (A growing floor: spacing under the documented waits would fail here.)
  for (let i = 1; i < observed.length; i++) {
    const [a, at] = observed[i - 1]!;
    const [b, bt] = observed[i]!;
    let floor = 0;
    for (let k = a; k < b; k++) floor += wait(k);
    assert.ok(bt - at >= floor - 5, `attempts #${a} and #${b}: ${bt - at} ms apart, the waits say at least ${floor} ms`);
  }
  // And no more attempts than those waits allow in the time the receiver was down (Berth does not hammer it).
  const [n0, t0] = observed[0]!;
  let allowed = n0;
  for (let at = t0 + wait(n0); at < backAt; at += wait(allowed)) allowed++;
  assert.ok(failed <= allowed, `${failed} failed attempts; the waits allow at most ${allowed} before the receiver came back`);
});

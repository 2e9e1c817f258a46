// `berth webhook show|update|delete|ping|redeliver` through the real CLI (bin/berth.mjs, as a user
// runs it) against `berth serve`, each with -o json and with its table or text output, and the
// answer for a webhook that does not exist. A real HTTP receiver takes the deliveries, and their
// signatures are recomputed here (docs/lifecycle.md, "Signatures"), so a rotated secret is seen
// to sign what follows.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { runBerthCli } from "../support/berth.ts";
import { berthFor } from "../support/helm.ts";
import { OciClient } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer } from "../support/oci-images.ts";
import { WebhookReceiver, type Received } from "../support/webhook-receiver.ts";

const WEBHOOKS = { BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", BERTH_WEBHOOKS_INTERVAL: "0.1" };

interface Delivery { id: number; webhook: string; eventId: number; action: string; status: string; attempts: number; responseStatus: number | null; requestHeaders: Record<string, string>; body: string; recentAttempts: { at: string; responseStatus: number | null; latencyMs: number | null; error: string | null }[] }

const signedWith = (secret: string, r: Received) =>
  r.headers["berth-signature"] === `sha256=${createHmac("sha256", secret).update(`${String(r.headers["berth-timestamp"])}.`).update(r.raw).digest("hex")}`;

test("berth webhook show, update, delete, ping and redeliver through the CLI: -o json, tables, and an unknown webhook", { timeout: 300_000 }, async (t) => {
  const berth = await berthFor(t, { env: WEBHOOKS });
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const run = (args: string[]) => runBerthCli([...args, "--server", berth.url, "-u", berth.username, "-p", berth.password]);
  const ok = async (args: string[]) => {
    const r = await run(args);
    assert.equal(r.code, 0, `berth ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const json = async <T>(args: string[]) => JSON.parse((await ok([...args, "-o", "json"])).stdout) as T;

  const created = await json<{ secret: string }>(["webhook", "create", "ci", "--uri", `${receiver.url}/ci`, "--actions", "push", "--scope", "team/*", "--headers", "Authorization=Bearer one"]);
  const oldSecret = created.secret;

  // show: json (never the secret), then the table.
  const shown = await json<Record<string, unknown>>(["webhook", "show", "ci"]);
  assert.deepEqual(Object.keys(shown).sort(), ["actions", "createdAt", "enabled", "format", "headers", "name", "scope", "updatedAt", "url"]);
  assert.deepEqual({ ...shown, createdAt: undefined, updatedAt: undefined }, { name: "ci", url: `${receiver.url}/ci`, actions: ["push"], scope: "team/*", headers: { Authorization: "Bearer one" }, format: "acr", enabled: true, createdAt: undefined, updatedAt: undefined });
  const table = (await ok(["webhook", "show", "ci"])).stdout;
  for (const line of [/^name:\s+ci$/m, new RegExp(`^uri:\\s+${receiver.url}/ci$`, "m"), /^actions:\s+push$/m, /^scope:\s+team\/\*$/m, /^format:\s+acr$/m, /^status:\s+enabled$/m, /^headers:\s+Authorization$/m, /^created:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m]) assert.match(table, line);
  assert.ok(!table.includes(oldSecret) && !table.includes("Bearer one"), "show prints neither the secret nor header values");

  // A push, delivered; then ping: json, then the table.
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  await pushImage(client, "team/app", "v1", buildImage([randomLayer(300)], "cli webhook"));
  await receiver.waitFor(1);
  const [push] = (await json<{ deliveries: Delivery[] }>(["webhook", "deliveries", "ci"])).deliveries;
  assert.ok(push && push.status === "delivered" && push.action === "push");
  const pinged = await json<Delivery>(["webhook", "ping", "ci"]);
  assert.equal(pinged.webhook, "ci");
  assert.equal(pinged.action, "ping");
  assert.ok(pinged.eventId < 0, "a ping is no event");
  assert.equal(pinged.status, "delivered");
  assert.equal(pinged.attempts, 1);
  assert.equal(pinged.responseStatus, 204);
  assert.equal(receiver.received.length, 2);
  const pingTable = (await ok(["webhook", "ping", "ci"])).stdout.trimEnd().split("\n");
  assert.match(pingTable[0]!, /^ID\s+EVENT\s+ACTION\s+STATUS\s+ATTEMPTS\s+HTTP\s+LATENCY\s+CREATED\s+ERROR$/);
  assert.match(pingTable[1]!, /^\d+\s+ping\s+ping\s+delivered\s+1\s+204\s+\d+ ms\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  assert.equal(pingTable.length, 2);
  assert.equal(receiver.received.length, 3);
  for (const r of receiver.received) assert.ok(signedWith(oldSecret, r), "signed with the secret create printed");
  assert.equal(receiver.received[1]!.headers.authorization, "Bearer one");

  // update: json (no secret unless rotated), then the table with a rotated secret.
  const updated = await json<Record<string, unknown>>(["webhook", "update", "ci", "--status", "disabled", "--actions", "push", "delete", "--headers", "Authorization=Bearer two", "--format", "distribution"]);
  assert.equal(updated.enabled, false);
  assert.deepEqual(updated.actions, ["push", "delete"]);
  assert.deepEqual(updated.headers, { Authorization: "Bearer two" });
  assert.equal(updated.format, "distribution");
  assert.equal(updated.secret, undefined, "no new secret unless asked");
  assert.equal((await json<{ enabled: boolean }>(["webhook", "show", "ci"])).enabled, false, "the change is kept");
  const rotated = await ok(["webhook", "update", "ci", "--status", "enabled", "--rotate-secret"]);
  assert.match(rotated.stdout, /^Updated webhook ci$/m);
  assert.match(rotated.stdout, /^status:\s+enabled$/m);
  assert.match(rotated.stdout, /^actions:\s+push, delete$/m);
  const newSecret = /^secret:\s+(\S+)$/m.exec(rotated.stdout)?.[1];
  assert.ok(newSecret && newSecret !== oldSecret, "a new secret, printed once");
  assert.match(rotated.stderr, /Save it now: it is not shown again/);

  // redeliver the push: json, then the text; each goes again, signed with the new secret, in the new format and headers.
  const owed = await json<Delivery>(["webhook", "redeliver", "ci", String(push.id)]);
  assert.equal(owed.id, push.id);
  assert.equal(owed.status, "pending");
  await receiver.waitFor(4);
  const again = receiver.received[3]!;
  assert.equal(again.headers["berth-delivery"], String(push.id));
  assert.equal(again.headers["berth-event"], String(push.eventId));
  assert.equal(again.headers["content-type"], "application/vnd.docker.distribution.events.v1+json");
  assert.equal(again.headers.authorization, "Bearer two");
  assert.ok(signedWith(newSecret, again) && !signedWith(oldSecret, again), "the rotated secret signs, the old one no longer");
  const text = await ok(["webhook", "redeliver", "ci", String(push.id)]);
  assert.equal(text.stdout, `Delivery ${push.id} of ci is owed again; it goes at the worker's next look\n`);
  await receiver.waitFor(5);
  assert.equal(receiver.received[4]!.headers["berth-event"], String(push.eventId));
  const missingDelivery = await run(["webhook", "redeliver", "ci", "999999"]);
  assert.equal(missingDelivery.code, 1);
  assert.match(missingDelivery.stderr, /webhook ci has no delivery 999999/);

  // Each request the push went out as (first, then two redeliveries), kept across redeliveries: json, then the --attempts table.
  const pushed = async () => (await json<{ deliveries: Delivery[] }>(["webhook", "deliveries", "ci"])).deliveries.find((d) => d.id === push.id)!;
  for (let n = 0; n < 100 && (await pushed()).recentAttempts.length < 3; n++) await new Promise((r) => setTimeout(r, 100));
  const kept = await pushed();
  assert.deepEqual([kept.attempts, kept.recentAttempts.map((a) => [a.responseStatus, a.error])], [1, [[204, null], [204, null], [204, null]]], "a redelivery counts from 0 again and keeps what was sent");
  const attemptsTable = (await ok(["webhook", "deliveries", "ci", "--attempts"])).stdout.trimEnd().split("\n");
  assert.match(attemptsTable[0]!, /^DELIVERY\s+EVENT\s+SENT\s+HTTP\s+LATENCY\s+ERROR$/);
  const pushRows = attemptsTable.filter((line) => line.startsWith(`${push.id} `));
  assert.equal(pushRows.length, 3);
  for (const row of pushRows) assert.match(row, new RegExp(`^${push.id}\\s+${push.eventId}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\s+204\\s+\\d+ ms$`));
  assert.ok(attemptsTable.some((line) => /^\d+\s+ping\s+.*\s+204\s+\d+ ms$/.test(line)), "the pings' requests too");

  // delete: json, then the text; then nothing is left.
  await ok(["webhook", "create", "other", "--uri", `${receiver.url}/other`, "--actions", "push"]);
  assert.deepEqual(await json<unknown>(["webhook", "delete", "ci", "--yes"]), { deleted: true });
  assert.equal((await ok(["webhook", "delete", "other", "--yes"])).stdout, "Deleted webhook other\n");
  assert.deepEqual(await json<unknown>(["webhook", "list"]), { webhooks: [] });

  // An unknown webhook: every command says so, exits 1, prints nothing on stdout, with and without -o json.
  // (At once: none of them changes anything, and each CLI start costs a second on a loaded machine.)
  const commands = [["show", "ci"], ["update", "ci", "--status", "disabled"], ["delete", "ci", "--yes"], ["ping", "ci"], ["redeliver", "ci", String(push.id)], ["deliveries", "ci"]].flatMap((args) => [args, [...args, "-o", "json"]]);
  const answers = await Promise.all(commands.map((args) => run(["webhook", ...args])));
  for (const [i, r] of answers.entries()) {
    const what = `berth webhook ${commands[i]!.join(" ")}`;
    assert.equal(r.code, 1, what);
    assert.equal(r.stdout, "", what);
    assert.equal(r.stderr, "berth: webhook ci not found: see `berth webhook list`\n", what);
  }
  assert.equal(receiver.received.length, 5, "nothing more was sent");
});

// Webhooks on a running `berth serve` (test/e2e): the settings that let it deliver to a receiver
// on this machine (webhook-receiver.ts) soon, and the scenarios more than one file runs.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBerth } from "./berth.ts";
import { api } from "./identity-api.ts";
import { OciClient } from "./oci-client.ts";
import { buildImage, pushImage, randomLayer } from "./oci-images.ts";
import { WebhookReceiver } from "./webhook-receiver.ts";

/** Deliveries to 127.0.0.1 allowed, the worker looking every 0.1 s. */
export const WEBHOOKS_HERE = {
  BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1",
  BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true",
  BERTH_WEBHOOKS_INTERVAL: "0.1",
};

/** WEBHOOKS_HERE with backoff and timeout small, so tests of failing receivers stay short. */
export const FAST_WEBHOOKS = {
  ...WEBHOOKS_HERE,
  BERTH_WEBHOOKS_BACKOFF_BASE: "0.1",
  BERTH_WEBHOOKS_BACKOFF_CAP: "1.6",
  BERTH_WEBHOOKS_TIMEOUT: "1",
};

/** The push events' ids, in order. */
export async function pushEventIds(berth: Parameters<typeof api>[0]): Promise<number[]> {
  const page = await api<{ events: { id: number; action: string }[] }>(berth, "GET", "/api/v1/events?limit=100");
  return page.events.filter((e) => e.action === "push").map((e) => e.id).sort((x, y) => x - y);
}

/**
 * At least once: deliveries queued and waiting their batch delay (3 s) when `berth serve` is
 * killed (-9) are sent after the restart, each event once at least, in order.
 */
export async function killWhileBatchWaits(t: TestContext): Promise<void> {
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const berth = await startBerth({ env: { ...WEBHOOKS_HERE, BERTH_WEBHOOKS_BATCH_DELAY: "3" } });
  t.after(() => berth.dispose());
  await api(berth, "POST", "/api/v1/webhooks", { name: "ci", url: `${receiver.url}/ci`, actions: ["push"] });
  const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
  for (const n of [1, 2, 3, 4]) await pushImage(client, "team/app", `v${n}`, buildImage([randomLayer(200)], `kill-${n}`));
  for (;;) {
    const list = await api<{ deliveries: { status: string }[] }>(berth, "GET", "/api/v1/webhooks/ci/deliveries");
    if (list.deliveries.filter((d) => d.status === "pending").length === 4) break;
    await sleep(20);
  }
  assert.equal(receiver.received.length, 0, "nothing sent before the batch delay");
  await berth.kill();
  await berth.restart();
  await receiver.waitFor(4, 60_000);
  const events = await pushEventIds(berth);
  const got = receiver.received.map((r) => Number(r.headers["berth-event"]));
  assert.deepEqual([...new Set(got)], events, "each event delivered, in order");
}

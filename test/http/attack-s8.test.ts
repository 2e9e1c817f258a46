// Outside attack on webhooks.batchDelay (session 8): deliveries of a webhook wait batchDelay before
// its batch starts. Ordering per webhook under concurrent pushes to many repositories; a webhook
// updated, disabled or deleted while its batch waits. The worker is ticked as `berth serve` ticks
// it; a real receiver answers. Findings (fail on the code they were found on) carry
// `todo: "finding N: …"`; /work/notes/attack-s8-findings.md has them with their severity.
import { test } from "node:test";
import { concurrentPushesInOrder, deletedWhileBatchWaits, disabledWhileBatchWaits } from "../support/webhook-app.ts";

// docs/lifecycle.md: "The webhook's row is read again before each delivery, so a change, a rotated
// secret or a disable applies to the next one." A receiver whose token changed refuses the old one
// (401) until the webhook's header carries the new one.
test("held: attack-s8 webhooks: 24 pushes at once to 12 repositories, three webhooks (all, one namespace, cloudevents): each gets its events once, in event order", concurrentPushesInOrder);

test("held: attack-s8 webhooks: disabled while its batch waits, nothing is sent; enabled again, the waiting deliveries and the newer ones go in order", disabledWhileBatchWaits);

test("held: attack-s8 webhooks: deleted while its batch waits, nothing is sent; a webhook made again under the same name is not sent the old webhook's deliveries", deletedWhileBatchWaits);

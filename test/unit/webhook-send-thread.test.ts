// The delivery thread (src/services/events/send-thread.ts) against a real HTTP receiver: a batch
// goes in order, signed, and stops after the first answer that is not 2xx; a delivery that cannot be
// sent is its own failed attempt, not the thread's end; a thread that ends anyway answers its batch as
// one failed attempt of the first delivery, and the next batch runs on a new thread; after close
// nothing is sent.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import type { AttemptDelivery } from "../../src/services/events/delivery-request.ts";
import { SendThread } from "../../src/services/events/send-thread.ts";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from "../../src/services/events/signature.ts";

const SECRET = "s".repeat(32);
const delivery = (id: number): AttemptDelivery => ({ id, eventId: 100 + id, requestHeaders: { "content-type": "application/json" }, body: JSON.stringify({ n: id }) });

test("a batch on the delivery thread: in order, signed, stopping at the first failure; a failed thread is replaced", async (t) => {
  const received: { id: string; signed: boolean }[] = [];
  let failOn: string | null = null;
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const id = String(req.headers["berth-delivery"]);
      received.push({ id, signed: verifySignature(SECRET, Number(req.headers[TIMESTAMP_HEADER]), body, String(req.headers[SIGNATURE_HEADER])) });
      res.writeHead(id === failOn ? 500 : 204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  const failures: Error[] = [];
  const thread = new SendThread({ allowedHosts: ["127.0.0.1"], allowPrivateAddresses: true }, (err) => failures.push(err));
  t.after(() => thread.close());
  const timing = () => ({ timeoutMs: 2_000, windowMs: 1_000, leasedAt: Date.now() });

  const sent = await thread.batch("h", { url, secret: SECRET }, [1, 2, 3].map(delivery), timing());
  assert.deepEqual(sent.map((r) => r.status), [204, 204, 204]);
  assert.deepEqual(received.map((r) => r.id), ["1", "2", "3"], "in order");
  assert.ok(received.every((r) => r.signed), "each signed with the webhook's secret");

  failOn = "5";
  const stopped = await thread.batch("h", { url, secret: SECRET }, [4, 5, 6].map(delivery), timing());
  assert.deepEqual(stopped.map((r) => r.status), [204, 500], "nothing after the first failure is sent");
  assert.deepEqual(received.map((r) => r.id), ["1", "2", "3", "4", "5"]);

  // A delivery the thread cannot even build a request for (no body) is that delivery's failed
  // attempt: the thread lives on (its end would fail every other webhook's batch in flight).
  const broken = await thread.batch("h", { url, secret: SECRET }, [{ ...delivery(7), body: undefined as unknown as string }, delivery(8)], timing());
  assert.equal(broken.length, 1, "the batch is answered as one failed attempt of its first delivery");
  assert.equal(broken[0]!.status, null);
  assert.ok(broken[0]!.error);
  assert.equal(failures.length, 0, "the thread did not fail");

  // A thread that ends anyway (here: ended from outside) is replaced by the next batch.
  await (thread as unknown as { worker: Worker }).worker.terminate();
  const again = await thread.batch("h", { url, secret: SECRET }, [8, 9].map(delivery), timing());
  assert.deepEqual(again.map((r) => r.status), [204, 204], "the next batch runs on a new thread");
  assert.deepEqual(received.map((r) => r.id).slice(5), ["8", "9"]);

  await thread.close();
  assert.deepEqual(await thread.batch("h", { url, secret: SECRET }, [10].map(delivery), timing()), [], "after close nothing is sent");
  assert.equal(received.length, 7);
});

// Shutdown (WebhookWorker.stop, after its grace): the request still waiting for its receiver is cut
// at once, not held to its timeout; the batch answers what was sent before it, so the cut delivery
// counts as not sent (it goes again after the restart) and nothing after it starts.
test("abort cuts the delivery thread's request in flight: the batch answers only what was sent before it", async (t) => {
  const received: string[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on("end", () => {
      const id = String(req.headers["berth-delivery"]);
      received.push(id);
      if (id === "2") held.push(res); // never answered
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  t.after(() => server.closeAllConnections());
  const { port } = server.address() as { port: number };
  const thread = new SendThread({ allowedHosts: ["127.0.0.1"], allowPrivateAddresses: true }, () => undefined);
  t.after(() => thread.close());
  const answered = thread.batch("h", { url: `http://127.0.0.1:${port}/h`, secret: SECRET }, [1, 2, 3].map(delivery), { timeoutMs: 600_000, windowMs: 600_000, leasedAt: Date.now() });
  while (!received.includes("2")) await new Promise((r) => setTimeout(r, 10));
  thread.abort();
  const results = await answered;
  assert.deepEqual(results.map((r) => r.status), [204], "the cut one is left out; nothing after it was sent");
  assert.deepEqual(received, ["1", "2"]);
  assert.deepEqual(await thread.batch("h", { url: `http://127.0.0.1:${port}/h`, secret: SECRET }, [4].map(delivery), { timeoutMs: 1_000, windowMs: 1_000, leasedAt: Date.now() }), [], "after abort nothing is sent");
});

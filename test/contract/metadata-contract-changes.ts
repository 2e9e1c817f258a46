// The metadata store contract, the parts that change under concurrent writers: uploads (the
// compare-and-set offset), charts, the change log (append, since, latest, claim/ack leases),
// transactions and the commit listener, and races: one tag set twice at once, transactions
// appending at once. Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import type { Change } from "../../src/domain/changes.ts";
import { EVENT_ACTIONS, eventOf, sourcesOf, type EventAction } from "../../src/domain/events.ts";
import type { Digest } from "../../src/domain/digest.ts";
import type { ChangeFilter, MetadataStore, UploadRecord } from "../../src/metadata/types.ts";
import { chartRecord, digestOf, freshStore, manifestRecord, pause, repo, tag, type MetadataFactory } from "./metadata-fixtures.ts";

function upload(id: string, extra: Partial<UploadRecord> = {}): UploadRecord {
  return { id, repository: repo("r"), offset: 0, algorithm: "sha256", startedAt: new Date(1_700_000_000_000), updatedAt: new Date(1_700_000_000_000), handle: null, lease: null, writer: null, verified: null, ...extra };
}

const tagSet = (n: number): Change => ({ kind: "tag.set", repository: "r", tag: `t${n}`, digest: digestOf(`d${n}`), previous: null });

export function metadataChangeContract(factory: MetadataFactory): void {
  describe("uploads", () => {
    test("create, get, delete", async (t) => {
      const store = await freshStore(t, factory);
      const u = upload("u1", { offset: 5_000_000_000, algorithm: "sha512" });
      await store.uploads.create(u);
      assert.deepEqual(await store.uploads.get("u1"), u);
      assert.equal(await store.uploads.get("u2"), null);
      await assert.rejects(store.uploads.create(upload("u1")), "an upload id is unique");
      assert.equal(await store.uploads.delete("u1"), true);
      assert.equal(await store.uploads.delete("u1"), false);
      assert.equal(await store.uploads.get("u1"), null);
    });

    test("advance moves the offset only from the current one, and marks the upload used", async (t) => {
      const store = await freshStore(t, factory);
      await store.uploads.create(upload("u1"));
      assert.equal(await store.uploads.advance("u1", 10, 20), false);
      assert.equal((await store.uploads.get("u1"))?.offset, 0);
      assert.equal(await store.uploads.advance("u1", 0, 10), true);
      assert.equal(await store.uploads.advance("u1", 0, 20), false, "a stale offset");
      const after = await store.uploads.get("u1");
      assert.equal(after?.offset, 10);
      assert.ok(after!.updatedAt.getTime() > upload("u1").updatedAt.getTime());
      assert.equal(await store.uploads.advance("nope", 0, 10), false);
    });

    test("concurrent advances from one offset: exactly one wins, and its offset stays", async (t) => {
      const store = await freshStore(t, factory);
      await store.uploads.create(upload("u1", { offset: 100 }));
      const targets = [150, 200, 250, 300, 350, 400, 450, 500];
      const won = await Promise.all(targets.map((to) => store.uploads.advance("u1", 100, to)));
      assert.equal(won.filter(Boolean).length, 1);
      assert.equal((await store.uploads.get("u1"))?.offset, targets[won.indexOf(true)]);
    });

    test("idleSince: uploads not updated since `before`, at most `limit`", async (t) => {
      const store = await freshStore(t, factory);
      for (const id of ["a", "b", "c"]) await store.uploads.create(upload(id));
      await store.uploads.create(upload("fresh", { updatedAt: new Date(Date.now() + 60_000) }));
      await store.uploads.advance("c", 0, 1); // used now
      const before = new Date(Date.now() - 1000);
      assert.deepEqual((await store.uploads.idleSince(before, 10)).map((u) => u.id).sort(), ["a", "b"]);
      assert.equal((await store.uploads.idleSince(before, 1)).length, 1);
    });
  });

  describe("upload leases and parts handles", () => {
    test("advance saves the driver's handle with the offset; with release, only for the lease's owner, whose lease it frees", async (t) => {
      const store = await freshStore(t, factory);
      await store.uploads.create(upload("u1"));
      assert.equal(await store.uploads.advance("u1", 0, 5, { handle: '{"parts":[5]}' }), true);
      assert.deepEqual(await store.uploads.get("u1").then((u) => [u?.offset, u?.handle]), [5, '{"parts":[5]}']);
      const held = await store.uploads.lease("u1", "a", 30_000);
      assert.deepEqual([held?.offset, held?.handle, held?.lease?.owner], [5, '{"parts":[5]}', "a"], "the lease answers the row as held");
      const seen = (await store.uploads.get("u1"))?.lease;
      assert.deepEqual([seen?.owner, seen?.until.getTime()], ["a", held?.lease?.until.getTime()]);
      assert.ok(seen!.leftMs! > 20_000 && seen!.leftMs! <= 30_000, `30 s from now by the database's clock: ${seen?.leftMs} ms left`);
      assert.equal(await store.uploads.advance("u1", 5, 9, { handle: '{"parts":[5,4]}', release: "b" }), false, "not b's lease");
      assert.equal(await store.uploads.advance("u1", 5, 9, { handle: '{"parts":[5,4]}', release: "a" }), true);
      const after = await store.uploads.get("u1");
      assert.deepEqual([after?.offset, after?.handle, after?.lease], [9, '{"parts":[5,4]}', null]);
      assert.equal(await store.uploads.advance("u1", 9, 10), true, "without a handle, the handle stays");
      assert.equal((await store.uploads.get("u1"))?.handle, '{"parts":[5,4]}');
    });

    test("lease: one live owner at a time (by the database's clock, never by who the owner is); renewed by its owner; taken once run out; released", async (t) => {
      const store = await freshStore(t, factory);
      await store.uploads.create(upload("u1"));
      const soon = 30_000;
      assert.equal((await store.uploads.lease("u1", "a", soon)) !== null, true);
      assert.equal((await store.uploads.lease("u1", "b", soon)) !== null, false, "a holds it");
      assert.equal((await store.uploads.lease("u1", "a", soon + 1000)) !== null, true, "a renews");
      assert.equal((await store.uploads.lease("u1", "b", soon)) !== null, false, "still a's");
      assert.equal((await store.uploads.lease("u1", "a", -1)) !== null, true, "a's renewal, run out at once");
      assert.equal((await store.uploads.lease("u1", "b", soon)) !== null, true, "a's lease has run out");
      await store.uploads.release("u1", "a");
      assert.equal((await store.uploads.get("u1"))?.lease?.owner, "b", "a no longer holds it: its release does nothing");
      await store.uploads.release("u1", "b");
      assert.equal((await store.uploads.get("u1"))?.lease, null);
      assert.equal((await store.uploads.lease("u1", "c", -1)) !== null, true);
      assert.equal((await store.uploads.lease("u1", "d", soon)) !== null, true, "c's lease has run out");
      assert.equal((await store.uploads.lease("nope", "a", soon)) !== null, false, "no such upload");
      await store.uploads.release("u1", "d");
      assert.equal((await store.uploads.lease("u1", "e", soon, { repository: repo("elsewhere") })) !== null, false, "not that repository's upload");
      assert.equal((await store.uploads.get("u1"))?.lease, null, "and nothing taken");
      assert.equal((await store.uploads.lease("u1", "e", soon, { repository: repo("r") }))?.lease?.owner, "e");
    });

    test("concurrent leases on one upload: exactly one owner wins", async (t) => {
      const store = await freshStore(t, factory);
      await store.uploads.create(upload("u1"));
      const owners = ["a", "b", "c", "d", "e", "f"];
      const won = await Promise.all(owners.map(async (owner) => (await store.uploads.lease("u1", owner, 30_000)) !== null));
      assert.equal(won.filter(Boolean).length, 1);
      assert.equal((await store.uploads.get("u1"))?.lease?.owner, owners[won.indexOf(true)]);
    });

    test("idleSince and expire pass over an upload whose lease is live, however old its row", async (t) => {
      const store = await freshStore(t, factory);
      for (const id of ["idle", "leased", "ran-out"]) await store.uploads.create(upload(id));
      await store.uploads.lease("leased", "a", 30_000);
      await store.uploads.lease("ran-out", "a", -1);
      const before = new Date(Date.now() - 1000);
      assert.deepEqual((await store.uploads.idleSince(before, 10)).map((u) => u.id).sort(), ["idle", "ran-out"]);
      assert.equal(await store.uploads.expire("leased", before), false);
      assert.equal(await store.uploads.expire("idle", new Date(1_600_000_000_000)), false, "updated after that");
      assert.equal(await store.uploads.expire("idle", before), true);
      assert.equal(await store.uploads.expire("idle", before), false, "gone");
      assert.ok(await store.uploads.get("leased"));
    });
  });

  describe("storage strays", () => {
    test("sight keeps the first sighting while the size stays, starts again on a new size; seen reads without recording; prune drops what a run did not renew", async (t) => {
      const store = await freshStore(t, factory);
      const at = (s: number) => new Date(1_700_000_000_000 + s * 1000);
      assert.equal(await store.strays.seen("k", 5), null);
      assert.deepEqual(await store.strays.sight("k", 5, at(0)), at(0));
      assert.deepEqual(await store.strays.sight("k", 5, at(10)), at(0));
      assert.deepEqual(await store.strays.seen("k", 5), at(0));
      assert.equal(await store.strays.seen("k", 6), null);
      assert.deepEqual(await store.strays.sight("k", 6, at(20)), at(20), "it grew: still being written");
      assert.deepEqual(await store.strays.sight("other", 1, at(30)), at(30));
      assert.equal(await store.strays.prune(at(30)), 1, "k was last seen at 20");
      assert.equal(await store.strays.seen("k", 6), null);
      assert.deepEqual(await store.strays.seen("other", 1), at(30));
      await store.strays.forget("other");
      assert.equal(await store.strays.seen("other", 1), null);
    });
  });

  describe("charts", () => {
    test("record replaces (repository, version); get, byFile, all, inRepository, forgetManifest", async (t) => {
      const store = await freshStore(t, factory);
      const one = chartRecord("ns/demo", "0.1.0", { provDigest: digestOf("prov"), storedAs: "classic" });
      const two = chartRecord("ns/demo", "0.2.0");
      const elsewhere = chartRecord("other/demo", "0.1.0");
      for (const c of [two, one, elsewhere]) await store.charts.record(c);
      assert.deepEqual(await store.charts.get(repo("ns/demo"), "0.1.0"), one);
      assert.equal(await store.charts.get(repo("ns/demo"), "9.9.9"), null);
      const replaced = { ...one, storedAs: "both" as const, metadata: { ...one.metadata, description: "new" } };
      await store.charts.record(replaced);
      assert.deepEqual(await store.charts.get(repo("ns/demo"), "0.1.0"), replaced);
      assert.deepEqual((await store.charts.all()).map((c) => [c.repository, c.version]), [["ns/demo", "0.1.0"], ["ns/demo", "0.2.0"], ["other/demo", "0.1.0"]]);
      assert.deepEqual((await store.charts.inRepository(repo("ns/demo"))).map((c) => c.version).sort(), ["0.1.0", "0.2.0"]);
      assert.deepEqual(await store.charts.byFile("ns", "demo-0.1.0.tgz"), [replaced]);
      assert.deepEqual(await store.charts.byFile("ns", "demo-0.3.0.tgz"), []);
      assert.deepEqual(await store.charts.forgetManifest(repo("ns/demo"), one.manifestDigest), [replaced]);
      assert.deepEqual(await store.charts.forgetManifest(repo("ns/demo"), one.manifestDigest), []);
      assert.equal(await store.charts.get(repo("ns/demo"), "0.1.0"), null);
      assert.deepEqual(await store.charts.get(repo("ns/demo"), "0.2.0"), two);
    });
  });

  describe("change log", () => {
    test("append, since after a cursor with a limit, latest with and without kinds", async (t) => {
      const store = await freshStore(t, factory);
      assert.equal(await store.changes.latest(), 0);
      assert.deepEqual(await store.changes.since(0, 10), []);
      const changes: Change[] = [tagSet(1), { kind: "blob.linked", repository: "r", digest: digestOf("b") }, tagSet(2), { kind: "identity.changed", principal: "p1", scopeMap: null }];
      const startedAt = Date.now();
      for (const c of changes) await store.changes.append(c);
      const all = await store.changes.since(0, 10);
      assert.deepEqual(all.map((e) => e.change), changes);
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.id > all[i - 1]!.id, "ids increase");
      assert.ok(all.every((e) => e.at.getTime() >= startedAt - 1000 && e.at.getTime() <= Date.now() + 1000));
      assert.deepEqual(await store.changes.since(all[1]!.id, 1), [all[2]]);
      assert.deepEqual(await store.changes.since(all[3]!.id, 10), []);
      assert.equal(await store.changes.latest(), all[3]!.id);
      assert.equal(await store.changes.latest(["tag.set"]), all[2]!.id);
      assert.equal(await store.changes.latest(["blob.linked", "chart.recorded"]), all[1]!.id);
      assert.equal(await store.changes.latest(["signing-key.added"]), 0);
    });

    test("claim and ack: a new consumer starts at the end; one owner at a time; ack only by the owner", async (t) => {
      const store = await freshStore(t, factory);
      await store.changes.append(tagSet(0)); // before the consumer existed: never delivered
      assert.deepEqual(await store.changes.claim("hooks", "A", 10, 60_000), []);
      await store.changes.append(tagSet(1));
      await store.changes.append(tagSet(2));
      assert.deepEqual(await store.changes.claim("hooks", "B", 10, 60_000), [], "A holds the lease");
      const got = await store.changes.claim("hooks", "A", 10, 60_000);
      assert.deepEqual(got.map((e) => e.change), [tagSet(1), tagSet(2)]);
      assert.deepEqual((await store.changes.claim("hooks", "A", 1, 60_000)).map((e) => e.change), [tagSet(1)], "limit");
      assert.equal(await store.changes.ack("hooks", "B", got[1]!.id), false);
      assert.equal(await store.changes.ack("hooks", "A", got[0]!.id), true);
      assert.equal(await store.changes.ack("hooks", "A", got[1]!.id), false, "the ack freed the lease");
      assert.deepEqual((await store.changes.claim("hooks", "B", 10, 60_000)).map((e) => e.change), [tagSet(2)], "B goes on after A's cursor");
      assert.equal(await store.changes.ack("hooks", "B", got[1]!.id), true);
      assert.deepEqual(await store.changes.claim("hooks", "A", 10, 60_000), []);
      await store.changes.append(tagSet(3));
      assert.deepEqual((await store.changes.claim("hooks", "A", 10, 60_000)).map((e) => e.change), [tagSet(3)]);
      assert.deepEqual(await store.changes.claim("other", "A", 10, 60_000), [], "consumers are apart");
    });

    test("prune: entries older than the cutoff go, unless a consumer has not acknowledged them", async (t) => {
      const store = await freshStore(t, factory);
      await store.changes.claim("hooks", "A", 10, 60_000);
      for (let n = 1; n <= 3; n++) await store.changes.append(tagSet(n));
      const [first] = await store.changes.claim("hooks", "A", 1, 60_000);
      await store.changes.ack("hooks", "A", first!.id);
      assert.equal(await store.changes.prune(new Date(0)), 0, "nothing predates the epoch");
      assert.equal(await store.changes.prune(new Date(Date.now() + 60_000)), 1, "only the acknowledged entry goes");
      assert.deepEqual((await store.changes.since(0, 10)).map((e) => (e.change as { tag: string }).tag), ["t2", "t3"]);
    });

    test("claim: an expired lease passes to another owner", async (t) => {
      const store = await freshStore(t, factory);
      await store.changes.claim("hooks", "A", 10, 60_000);
      await store.changes.ack("hooks", "A", await store.changes.latest());
      await store.changes.append(tagSet(1));
      assert.equal((await store.changes.claim("hooks", "A", 10, 500)).length, 1);
      assert.deepEqual(await store.changes.claim("hooks", "B", 10, 60_000), [], "A's lease still runs");
      await pause(600);
      assert.deepEqual((await store.changes.claim("hooks", "B", 10, 60_000)).map((e) => e.change), [tagSet(1)]);
      assert.equal(await store.changes.ack("hooks", "A", 1), false, "A lost the lease");
    });
  });

  describe("events and webhooks (migration 017)", () => {
    test("a transaction's actor is recorded with each entry it appends; an entry appended alone has none", async (t) => {
      const store = await freshStore(t, factory);
      const actor = { name: "alice", kind: "user", address: "203.0.113.9", userAgent: "oras/1.2", requestId: "req-1" };
      await store.transaction(async (tx) => {
        await tx.changes.append(tagSet(1));
        await tx.changes.append(tagSet(2));
      }, { actor });
      await store.changes.append(tagSet(3));
      const rolledBack = store.transaction(async (tx) => {
        await tx.changes.append(tagSet(4));
        throw new Error("no");
      }, { actor });
      await assert.rejects(rolledBack);
      const all = await store.changes.since(0, 10);
      assert.deepEqual(all.map((e) => [e.change, e.actor]), [[tagSet(1), actor], [tagSet(2), actor], [tagSet(3), null]]);
    });

    test("webhooks: a delivery not yet tried is due once queued by firstBefore (the batch delay); a retry once its backoff is over", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      const later = (ms: number) => new Date(at.getTime() + ms);
      for (const name of ["new", "retry"]) await store.webhooks.create({ name, url: "https://hooks.example.com/x", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      const queued = (webhook: string, eventId: number) => ({ webhook, eventId, action: "push", requestHeaders: {}, body: `{"n":${eventId}}` });
      await store.webhooks.enqueue([queued("new", 1), queued("new", 2)], at);
      await store.webhooks.enqueue([queued("retry", 1)], at);
      const [failed] = await store.webhooks.leaseDue("retry", "A", at, later(1000), 10);
      await store.webhooks.record("retry", "A", [{ id: failed!.id, outcome: { status: "pending", attempts: 1, nextAt: later(100), responseStatus: 500, latencyMs: 1, error: "the receiver answered 500", finishedAt: null } }], [], 10);
      // Half a second of batch delay: at + 100 the retry is due, the new deliveries not yet.
      assert.deepEqual(await store.webhooks.due(later(100), later(-400)), ["retry"]);
      assert.deepEqual(await store.webhooks.due(later(499), later(-1)), ["retry"]);
      assert.deepEqual((await store.webhooks.due(later(500), later(0))).sort(), ["new", "retry"]);
      assert.deepEqual(await store.webhooks.due(later(99), later(-401)), [], "nothing before its time");
      assert.deepEqual((await store.webhooks.due(later(100))).sort(), ["new", "retry"], "no batch delay: due by now");
      // Once a drain starts, it takes every due delivery, however new: the batch.
      assert.deepEqual((await store.webhooks.leaseDue("new", "A", at, later(1000), 10)).map((d) => d.eventId), [1, 2]);
    });

    test("webhooks: create once, update, list; deliveries queue once per event, go in order, trim keeps the newest finished", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      const hook = { name: "ci", url: "https://hooks.example.com/x", actions: ["push"], scope: "team/*", headers: { "X-A": "1" }, format: "acr" as const, enabled: true, secret: "s3cret", createdAt: at, updatedAt: at };
      assert.equal(await store.webhooks.create(hook), true);
      assert.equal(await store.webhooks.create({ ...hook, url: "https://other.example.com" }), false, "a name is unique");
      assert.deepEqual(await store.webhooks.get("ci"), hook);
      assert.equal(await store.webhooks.update("ci", { enabled: false, actions: ["push", "delete"], updatedAt: at }), true);
      assert.deepEqual(await store.webhooks.list(), [{ ...hook, enabled: false, actions: ["push", "delete"] }]);
      assert.equal(await store.webhooks.update("nope", { enabled: false }), false);
      await store.webhooks.update("ci", { enabled: true });
      const queued = (eventId: number) => ({ webhook: "ci", eventId, action: "push", requestHeaders: { "content-type": "application/json" }, body: `{"n":${eventId}}` });
      await store.webhooks.enqueue([queued(1), queued(2), queued(3)], at);
      await store.webhooks.enqueue([queued(2), queued(4)], at); // a fan-out retried: 2 is not queued twice
      assert.deepEqual(await store.webhooks.due(new Date(at.getTime() - 1)), []);
      assert.deepEqual(await store.webhooks.due(at), ["ci"]);
      const head = await store.webhooks.head("ci");
      assert.equal(head?.eventId, 1);
      assert.equal(head?.body, '{"n":1}');
      assert.equal(await store.webhooks.lease(head!.id, "A", at, new Date(at.getTime() + 1000)), true);
      assert.equal(await store.webhooks.lease(head!.id, "B", new Date(at.getTime() + 999), new Date(at.getTime() + 2000)), false, "A's lease runs");
      assert.equal(await store.webhooks.lease(head!.id, "A", at, new Date(at.getTime() + 1000)), true, "renewed by its owner");
      assert.equal(await store.webhooks.lease(head!.id, "B", new Date(at.getTime() + 1001), new Date(at.getTime() + 2000)), true, "taken once run out");
      for (const eventId of [1, 2, 3]) {
        const next = (await store.webhooks.head("ci"))!;
        assert.equal(next.eventId, eventId, "oldest first");
        await store.webhooks.attempted(next.id, { status: "delivered", attempts: 1, nextAt: at, responseStatus: 204, latencyMs: 12, error: null, finishedAt: at });
        assert.equal(await store.webhooks.lease(next.id, "C", at, at), false, "a delivered one is not leased");
      }
      assert.equal((await store.webhooks.head("ci"))?.eventId, 4);
      const listed = await store.webhooks.deliveries("ci", 10);
      assert.deepEqual(listed.map((d) => [d.eventId, d.status]), [[4, "pending"], [3, "delivered"], [2, "delivered"], [1, "delivered"]]);
      assert.equal(listed[1]!.responseStatus, 204);
      assert.equal(await store.webhooks.redeliver("ci", listed[3]!.id, at), true);
      assert.equal((await store.webhooks.head("ci"))?.eventId, 1, "a redelivery goes first");
      assert.equal(await store.webhooks.redeliver("ci", listed[3]!.id, at), false, "already owed");
      assert.equal(await store.webhooks.trim("ci", 1), 1, "event 2 goes; 3 is the newest finished; pending ones stay");
      assert.deepEqual((await store.webhooks.deliveries("ci", 10)).map((d) => d.eventId), [4, 3, 1]);
      await store.webhooks.update("ci", { enabled: false });
      assert.deepEqual(await store.webhooks.due(at), [], "a disabled webhook is owed nothing now");
      assert.equal(await store.webhooks.delete("ci"), true);
      assert.deepEqual(await store.webhooks.deliveries("ci", 10), []);
      assert.equal(await store.webhooks.delete("ci"), false);
    });

    test("webhook batches: a lease takes a prefix of the queue (up to one not due or held by another), record frees what was not sent and trims", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      const later = (ms: number) => new Date(at.getTime() + ms);
      await store.webhooks.create({ name: "ci", url: "https://hooks.example.com/x", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      await store.webhooks.create({ name: "other", url: "https://hooks.example.com/y", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      const queued = (webhook: string, eventId: number) => ({ webhook, eventId, action: "push", requestHeaders: {}, body: `{"n":${eventId}}` });
      await store.webhooks.enqueue([1, 2, 3, 4, 5, 6].map((n) => queued("ci", n)), at);
      await store.webhooks.enqueue([queued("other", 1)], at);
      const ids = (await store.webhooks.deliveries("ci", 10)).map((d) => d.id).reverse();
      const events = (ds: { eventId: number }[]) => ds.map((d) => d.eventId);
      // Event 4 waits for a retry: nothing past it goes before it.
      await store.webhooks.attempted(ids[3]!, { status: "pending", attempts: 1, nextAt: later(60_000), responseStatus: 500, latencyMs: 3, error: "500", finishedAt: null });
      assert.deepEqual(events(await store.webhooks.leaseDue("ci", "A", at, later(1000), 2)), [1, 2], "at most the limit, oldest first");
      assert.deepEqual(await store.webhooks.leaseDue("ci", "B", later(500), later(2000), 10), [], "A holds the head: B takes nothing");
      assert.deepEqual(events(await store.webhooks.leaseDue("ci", "A", at, later(1000), 10)), [1, 2, 3], "A renews and extends, up to the one not due");
      assert.deepEqual(events(await store.webhooks.leaseDue("other", "B", at, later(1000), 10)), [1], "another webhook's queue is its own");
      const delivered = { status: "delivered" as const, attempts: 1, nextAt: at, responseStatus: 204, latencyMs: 2, error: null, finishedAt: at };
      // Event 1 sent, 2 and 3 not (the batch stopped): their leases freed, B's release of A's lease does nothing.
      await store.webhooks.record("ci", "B", [], [ids[1]!], 10);
      assert.deepEqual(await store.webhooks.leaseDue("ci", "C", later(500), later(2000), 10), [], "B's release did not free A's lease");
      await store.webhooks.record("ci", "A", [{ id: ids[0]!, outcome: delivered }], [ids[1]!, ids[2]!], 10);
      assert.deepEqual(events(await store.webhooks.leaseDue("ci", "C", later(500), later(2000), 10)), [2, 3], "freed at once, without waiting for A's lease to run out");
      assert.deepEqual(await store.webhooks.leaseDue("ci", "D", later(1999), later(3000), 10), [], "C's lease runs");
      assert.deepEqual(events(await store.webhooks.leaseDue("ci", "D", later(2001), later(3000), 10)), [2, 3], "taken once run out");
      // In a transaction (the 410 path), with a trim to one finished delivery.
      await store.transaction((tx) => tx.webhooks.record("ci", "D", [{ id: ids[1]!, outcome: delivered }, { id: ids[2]!, outcome: delivered }], [], 1));
      assert.deepEqual((await store.webhooks.deliveries("ci", 10)).map((d) => [d.eventId, d.status, d.responseStatus]), [[6, "pending", null], [5, "pending", null], [4, "pending", 500], [3, "delivered", 204]]);
      assert.deepEqual(await store.webhooks.leaseDue("ci", "D", later(59_999), later(70_000), 10), [], "event 4 is not due yet: it holds 5 and 6");
      assert.deepEqual(events(await store.webhooks.leaseDue("ci", "D", later(60_000), later(70_000), 10)), [4, 5, 6], "due: it and those after it");
      const [first] = await store.webhooks.leaseDue("ci", "D", later(60_000), later(70_000), 1);
      assert.deepEqual([first?.attempts, first?.body], [1, '{"n":4}'], "the rows as kept");
    });
  });

  describe("webhooks: the current row at each batch, delete against the fan-out (attack s8, findings 3-5)", () => {
    test("an attempt's record keeps what it sent: the headers, and a body rendered anew (none given: as kept); entries answers the log's entries by id, a missing one left out", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      await store.webhooks.create({ name: "ci", url: "https://hooks.example.com/x", actions: ["push"], scope: "*", headers: { "X-Token": "old" }, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      const kept = { "X-Token": "old", "content-type": "application/json" };
      await store.webhooks.enqueue([1, 2, 3].map((n) => ({ webhook: "ci", eventId: n, action: "push", requestHeaders: kept, body: `{"n":${n}}` })), at);
      const [one, two, three] = await store.webhooks.leaseDue("ci", "A", at, new Date(at.getTime() + 1000), 10);
      const outcome = { status: "pending" as const, attempts: 1, nextAt: at, responseStatus: 401, latencyMs: 1, error: "401", finishedAt: null };
      const sent = { "X-Token": "new", "content-type": "application/cloudevents+json; charset=utf-8" };
      await store.webhooks.record("ci", "A", [{ id: one!.id, outcome, sent: { requestHeaders: sent, body: '{"ce":1}' } }, { id: two!.id, outcome, sent: { requestHeaders: sent, body: null } }, { id: three!.id, outcome }], [], 10);
      const shown = new Map((await store.webhooks.deliveries("ci", 10)).map((d) => [d.eventId, [d.requestHeaders, d.body]]));
      assert.deepEqual(shown.get(1), [sent, '{"ce":1}']);
      assert.deepEqual(shown.get(2), [sent, '{"n":2}'], "no new body: the kept one");
      assert.deepEqual(shown.get(3), [kept, '{"n":3}'], "nothing sent: as kept");
      await store.changes.append(tagSet(1));
      await store.changes.append(tagSet(2));
      const ids = (await store.changes.since(0, 10)).map((e) => e.id);
      assert.deepEqual((await store.changes.entries([ids[1]!, 999_999, ids[0]!])).map((e) => e.change), [tagSet(1), tagSet(2)]);
      assert.deepEqual(await store.changes.entries([]), []);
    });

    test("a delivery keeps its recent attempts as recorded (migration 033): none given keeps them, a redelivery keeps them, a new delivery has none", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      const later = (ms: number) => new Date(at.getTime() + ms);
      await store.webhooks.create({ name: "ci", url: "https://hooks.example.com/x", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      await store.webhooks.enqueue([{ webhook: "ci", eventId: 1, action: "push", requestHeaders: {}, body: "{}" }], at);
      const [queued] = await store.webhooks.leaseDue("ci", "A", at, later(1000), 10);
      assert.deepEqual(queued?.recentAttempts, [], "queued: none yet");
      const first = { at: later(10), responseStatus: 500, latencyMs: 7, error: "the receiver answered 500" };
      const second = { at: later(2000), responseStatus: null, latencyMs: 1000, error: "timed out after 1000 ms" };
      await store.webhooks.record("ci", "A", [{ id: queued!.id, outcome: { status: "pending", attempts: 1, nextAt: later(1000), responseStatus: 500, latencyMs: 7, error: "the receiver answered 500", finishedAt: null, recentAttempts: [first] } }], [], 10);
      const [leased] = await store.webhooks.leaseDue("ci", "A", later(1000), later(3000), 10);
      assert.deepEqual(leased?.recentAttempts, [first], "leased with what it kept: the worker appends to it");
      await store.transaction((tx) => tx.webhooks.record("ci", "A", [{ id: leased!.id, outcome: { status: "failed", attempts: 2, nextAt: later(3000), responseStatus: null, latencyMs: 1000, error: "timed out", finishedAt: later(3000), recentAttempts: [first, second] } }], [], 10));
      assert.deepEqual((await store.webhooks.delivery("ci", queued!.id))?.recentAttempts, [first, second], "in a transaction too (the 410 path)");
      assert.equal(await store.webhooks.redeliver("ci", queued!.id, later(4000)), true);
      const again = await store.webhooks.delivery("ci", queued!.id);
      assert.deepEqual([again?.attempts, again?.recentAttempts], [0, [first, second]], "a redelivery starts its count again and keeps what was sent");
      await store.webhooks.record("ci", "A", [{ id: queued!.id, outcome: { status: "failed", attempts: 0, nextAt: later(5000), responseStatus: null, latencyMs: null, error: "not sent", finishedAt: later(5000) } }], [], 10);
      assert.deepEqual((await store.webhooks.delivery("ci", queued!.id))?.recentAttempts, [first, second], "no request went out: kept as they are");
    });

    test("queueable lists the enabled webhooks; a delete that meets a fan-out between its read and its insert removes what it queued: no delivery outlives its webhook", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      for (const [name, enabled] of [["ci", true], ["off", false]] as const) await store.webhooks.create({ name, url: "https://hooks.example.com/x", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled, secret: "s", createdAt: at, updatedAt: at });
      let read!: () => void;
      const hasRead = new Promise<void>((ok) => (read = ok));
      let go!: () => void;
      const held = new Promise<void>((ok) => (go = ok));
      const fanOut = store.transaction(async (tx) => {
        const hooks = await tx.webhooks.queueable();
        assert.deepEqual(hooks.map((h) => h.name), ["ci"]);
        read();
        await held;
        await tx.webhooks.enqueue(hooks.map((h) => ({ webhook: h.name, eventId: 1, action: "push", requestHeaders: {}, body: "{}" })), at);
      });
      await hasRead;
      const deleting = store.webhooks.delete("ci");
      // The delete gets its chance to run between the fan-out's read and its insert (it waits for
      // the fan-out on PostgreSQL, and for the one writer on SQLite); the outcome is the same either way.
      await pause(200);
      go();
      await fanOut;
      assert.equal(await deleting, true);
      assert.deepEqual(await store.webhooks.deliveries("ci", 10), [], "the fan-out's delivery went with its webhook");
      assert.equal(await store.webhooks.get("ci"), null);
    });
  });

  describe("webhooks: the 410 path holds the row (review s9, finding 3)", () => {
    test("hold answers the webhook as it is and keeps it so until the holder commits: a change made meanwhile waits and then applies on top; an unknown name is null", async (t) => {
      const store = await freshStore(t, factory);
      const at = new Date(1_700_000_000_000);
      await store.webhooks.create({ name: "ci", url: "https://hooks.example.com/old", actions: ["push"], scope: "*", headers: {}, format: "acr", enabled: true, secret: "s", createdAt: at, updatedAt: at });
      assert.equal(await store.transaction((tx) => tx.webhooks.hold("none")), null);
      let held!: () => void;
      const hasHeld = new Promise<void>((ok) => (held = ok));
      let go!: () => void;
      const decided = new Promise<void>((ok) => (go = ok));
      const holder = store.transaction(async (tx) => {
        const hook = await tx.webhooks.hold("ci");
        held();
        await decided;
        // What the holder decides from is still the row: the change below has not committed.
        assert.deepEqual(await tx.webhooks.get("ci"), hook);
        await tx.webhooks.update("ci", { enabled: false, updatedAt: new Date(at.getTime() + 1) });
      });
      await hasHeld;
      const changing = store.webhooks.update("ci", { url: "https://hooks.example.com/new", updatedAt: new Date(at.getTime() + 2) });
      await pause(200); // the change gets its chance to commit first (it must wait for the holder)
      go();
      await holder;
      assert.equal(await changing, true);
      const now = await store.webhooks.get("ci");
      assert.deepEqual([now?.url, now?.enabled], ["https://hooks.example.com/new", false], "the change applied on top of the holder's");
    });
  });

  describe("the event stream's filters (migration 025)", () => {
    // A log that mixes every action with bookkeeping, two repositories, referrers among pushes (one
    // written before referrers were recorded: no subject field at all) and transactions of several
    // entries. Each filter, paged in both orders at several sizes, must give back exactly what
    // eventOf says of the whole log, in order, every page but the last full.
    const log = (): Change[] => {
      const changes: Change[] = [];
      for (let n = 0; n < 60; n++) {
        const repository = n % 3 === 0 ? "b" : "a";
        const digest = digestOf(`m${n}`);
        changes.push({ kind: "blob.linked", repository, digest: digestOf(`l${n}`) });
        if (n % 4 === 1) changes.push({ kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: n, tag: null, artifactType: "application/vnd.example.sbom", subject: digestOf(`m${n - 1}`) });
        else if (n === 2) changes.push({ kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: n });
        else changes.push({ kind: "manifest.pushed", repository, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: n, tag: `t${n}`, artifactType: null, subject: null });
        if (n % 4 !== 1) changes.push({ kind: "tag.set", repository, tag: `t${n}`, digest, previous: null });
        if (n % 5 === 0) changes.push({ kind: "tag.deleted", repository, tag: `t${n}`, digest });
        if (n % 7 === 0) changes.push({ kind: "manifest.deleted", repository, digest });
        if (n % 11 === 0) changes.push({ kind: "retention.ran", trigger: "schedule", summary: { tagsDeleted: 1, manifestsDeleted: 0, skipped: 0, policies: [] } });
        if (n % 13 === 0) changes.push({ kind: "attributes.changed", repository, tag: "", audit: `a${n}` });
        if (n % 17 === 0) changes.push({ kind: "identity.changed", principal: `p${n}`, scopeMap: null });
        if (n % 9 === 0) changes.push({ kind: "chart.recorded", repository, version: `1.0.${n}`, storedAs: "classic" });
        if (n % 10 === 4) changes.push({ kind: "chart.forgotten", repository, version: `1.0.${n}`, storedAs: "oci" });
        if (n % 8 === 3) changes.push({ kind: "policy.refused", repository, reason: "quota", rule: repository, reference: `t${n}`, message: "over" });
      }
      return changes;
    };

    async function filledStore(t: TestContext) {
      const store = await freshStore(t, factory);
      const changes = log();
      for (let i = 0; i < changes.length; i += 5) {
        await store.transaction(async (tx) => {
          for (const change of changes.slice(i, i + 5)) await tx.changes.append(change);
        });
      }
      const all = (await store.changes.since(0, 10_000)).map(eventOf).filter((e) => e !== null);
      return { store, all };
    }

    async function walk(store: MetadataStore, filter: ChangeFilter, newest: boolean, limit: number): Promise<number[][]> {
      const pages: number[][] = [];
      let cursor: number | null = newest ? null : 0;
      for (;;) {
        const page = await store.changes.events(filter, newest ? { before: cursor } : { after: cursor ?? 0 }, limit);
        pages.push(page.map((e) => e.id));
        if (page.length < limit) return pages;
        cursor = page.at(-1)!.id;
        assert.ok(pages.length < 1000, "the walk ends");
      }
    }

    const asked: (readonly EventAction[] | undefined)[] = [undefined, ...EVENT_ACTIONS.map((a) => [a]), ["push", "referrer"], ["delete", "retention"], ["referrer", "identity"]];
    for (const actions of asked) {
      test(`${actions?.join(" + ") ?? "every action"}: whole pages in both orders, nothing lost or repeated, with and without a repository`, async (t) => {
        const { store, all } = await filledStore(t);
        for (const repository of [undefined, "a", "b", "none"]) {
          const expected = all.filter((e) => (!actions || actions.includes(e.action as EventAction)) && (repository === undefined || e.target.repository === repository)).map((e) => e.id);
          if (actions && repository === undefined) assert.ok(expected.length > 4, "the log has events of each action to page through");
          const filter: ChangeFilter = { sources: sourcesOf(actions), ...(repository !== undefined && { repository }) };
          for (const limit of [1, 4, 1000]) {
            for (const newest of [false, true]) {
              const pages = await walk(store, filter, newest, limit);
              const what = `${repository ?? "any repository"}, limit ${limit}, ${newest ? "newest" : "oldest"} first`;
              assert.deepEqual(pages.flat(), newest ? expected.toReversed() : expected, what);
              assert.ok(pages.slice(0, -1).every((p) => p.length === limit), `every page but the last is full: ${what}`);
              assert.ok(pages.at(-1)!.length < limit, what);
            }
          }
        }
      });
    }

    test("a cursor in the middle: after= and before= start just past it", async (t) => {
      const { store, all } = await filledStore(t);
      const deletes = all.filter((e) => e.action === "delete").map((e) => e.id);
      const middle = deletes[3]!;
      const filter = { sources: sourcesOf(["delete"]) };
      assert.deepEqual((await store.changes.events(filter, { after: middle }, 2)).map((e) => e.id), deletes.slice(4, 6));
      assert.deepEqual((await store.changes.events(filter, { before: middle }, 2)).map((e) => e.id), [deletes[2], deletes[1]]);
      assert.deepEqual(await store.changes.events(filter, { after: deletes.at(-1)! }, 5), []);
      assert.deepEqual(await store.changes.events(filter, { before: deletes[0]! }, 5), []);
    });
  });

  describe("retention (migration 019)", () => {
    test("policies round-trip with their nulls, oldest first; remove says whether one was there", async (t) => {
      const store = await freshStore(t, factory);
      const untagged = { id: "b", repository: "team/*", untaggedDays: 7, keepNewest: null, tags: null, created: new Date(1_700_000_000_000), createdBy: "admin" };
      const keep = { id: "a", repository: "team/app", untaggedDays: null, keepNewest: 10, tags: "v*", created: new Date(1_700_000_000_500), createdBy: "alice" };
      await store.retention.add(keep);
      await store.retention.add(untagged);
      assert.deepEqual(await store.retention.list(), [untagged, keep]);
      assert.equal(await store.retention.remove("a"), true);
      assert.equal(await store.retention.remove("a"), false);
      assert.deepEqual(await store.retention.list(), [untagged]);
    });

    test("inventory: a repository's manifests with push time, subject and child manifests, and its tags with their last push", async (t) => {
      const store = await freshStore(t, factory);
      const child = manifestRecord("r", "child", { pushedAt: new Date(1_700_000_000_001) });
      const index = manifestRecord("r", "index", { pushedAt: new Date(1_700_000_000_002) });
      const referrer = manifestRecord("r", "referrer", { subject: index.digest, pushedAt: new Date(1_700_000_000_003) });
      await store.manifests.put(child, { blobs: [], children: [] });
      await store.manifests.put(index, { blobs: [digestOf("layer")], children: [child.digest] });
      await store.manifests.put(referrer, { blobs: [], children: [] });
      await store.manifests.put(manifestRecord("other", "elsewhere"), { blobs: [], children: [] });
      await store.tags.set(repo("r"), tag("v1"), index.digest);
      const inventory = await store.retention.inventory(repo("r"));
      assert.equal(inventory.repository, "r");
      const byDigest = new Map(inventory.manifests.map((m) => [m.digest, m]));
      assert.equal(byDigest.size, 3);
      assert.deepEqual(byDigest.get(index.digest), { digest: index.digest, pushed: index.pushedAt, subject: null, children: [child.digest] });
      assert.deepEqual(byDigest.get(referrer.digest), { digest: referrer.digest, pushed: referrer.pushedAt, subject: index.digest, children: [] });
      assert.deepEqual(inventory.tags.map((x) => [x.tag, x.digest, x.pushed instanceof Date]), [["v1", index.digest, true]]);
    });
  });

  describe("transactions", () => {
    test("a transaction's writes are seen inside it, and commit together", async (t) => {
      const store = await freshStore(t, factory);
      const value = await store.transaction(async (tx) => {
        await tx.repositories.ensure(repo("r"));
        await tx.tags.set(repo("r"), tag("v1"), digestOf("a"));
        assert.equal(await tx.tags.resolve(repo("r"), tag("v1")), digestOf("a"));
        await tx.changes.append(tagSet(1));
        return "done";
      });
      assert.equal(value, "done");
      assert.equal(await store.repositories.exists(repo("r")), true);
      assert.equal(await store.tags.resolve(repo("r"), tag("v1")), digestOf("a"));
      assert.equal((await store.changes.since(0, 10)).length, 1);
    });

    test("a rolled-back transaction records neither its rows nor its changes, and tells no listener", async (t) => {
      const store = await freshStore(t, factory);
      let told = 0;
      store.onCommit(async () => void told++);
      await store.changes.append(tagSet(0));
      const latest = await store.changes.latest();
      told = 0;
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.tags.set(repo("r"), tag("v1"), digestOf("a"));
          await tx.changes.append(tagSet(1));
          throw new Error("refused");
        }),
        /refused/,
      );
      assert.equal(await store.tags.resolve(repo("r"), tag("v1")), null);
      assert.equal(await store.changes.latest(), latest);
      assert.deepEqual(await store.changes.since(latest, 10), []);
      assert.equal(told, 0);
    });

    test("onCommit runs after a commit that appended, before transaction() resolves; not after one that did not", async (t) => {
      const store = await freshStore(t, factory);
      const seen: number[] = [];
      // The listener reads the log: it must already see the committed entry.
      store.onCommit(async () => void seen.push(await store.changes.latest()));
      await store.transaction(async (tx) => {
        await tx.changes.append(tagSet(1));
        await tx.changes.append(tagSet(2));
        assert.deepEqual(seen, [], "not before the commit");
      });
      const afterFirst = await store.changes.latest();
      assert.deepEqual(seen, [afterFirst], "once per transaction, with its entries visible");
      await store.transaction(async (tx) => tx.tags.set(repo("r"), tag("v1"), digestOf("a")));
      assert.deepEqual(seen, [afterFirst], "no change appended, no call");
      await store.changes.append(tagSet(3)); // outside a transaction an append commits at once
      assert.deepEqual(seen, [afterFirst, await store.changes.latest()]);
    });
  });

  describe("concurrency", () => {
    test("concurrent sets of one tag: each returns the target it replaced, so the previous targets form one chain", async (t) => {
      const store = await freshStore(t, factory);
      const start = digestOf("start");
      await store.tags.set(repo("r"), tag("latest"), start);
      const targets = Array.from({ length: 6 }, (_, i) => digestOf(`target ${i}`));
      const previous = await Promise.all(targets.map((d) => store.tags.set(repo("r"), tag("latest"), d)));
      const final = (await store.tags.resolve(repo("r"), tag("latest")))!;
      assert.ok(targets.includes(final));
      // Every target but the last one set was replaced exactly once, and `start` once.
      const replaced = [...previous].sort();
      const expected = [start, ...targets.filter((d) => d !== final)].sort();
      assert.deepEqual(replaced, expected);
    });

    test("concurrent transactions appending changes: none lost, ids strictly increasing, each transaction's entries in order", async (t) => {
      const store = await freshStore(t, factory);
      const writers = 5;
      const each = 4;
      await Promise.all(
        Array.from({ length: writers }, (_, w) =>
          store.transaction(async (tx) => {
            for (let i = 0; i < each; i++) {
              await tx.changes.append({ kind: "tag.set", repository: `r${w}`, tag: `t${i}`, digest: digestOf(`${w}/${i}`) as Digest, previous: null });
              await tx.tags.set(repo(`r${w}`), tag(`t${i}`), digestOf(`${w}/${i}`));
            }
          }),
        ),
      );
      const entries = await store.changes.since(0, 1000);
      assert.equal(entries.length, writers * each);
      for (let i = 1; i < entries.length; i++) assert.ok(entries[i]!.id > entries[i - 1]!.id);
      for (let w = 0; w < writers; w++) {
        const mine = entries.filter((e) => "repository" in e.change && e.change.repository === `r${w}`).map((e) => (e.change as { tag: string }).tag);
        assert.deepEqual(mine, Array.from({ length: each }, (_, i) => `t${i}`));
      }
      // A reader that has seen id N has seen every entry up to N: no gap is filled later.
      const cursor = entries.at(-1)!.id;
      assert.deepEqual(await store.changes.since(cursor, 10), []);
    });
  });
}

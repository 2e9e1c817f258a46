// The metadata store contract, two connections writing at once, as two `berth serve` processes
// over one database do: every read-then-write must be one step (an upsert, a statement that
// returns what it changed, or a write under a lock), so the second connection never acts on a
// "before" the first has already changed. SQLite serialises write transactions (BEGIN IMMEDIATE);
// PostgreSQL runs them side by side under READ COMMITTED, where a read-then-insert both reads
// "none" and both insert. Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Principal, SigningKey } from "../../src/metadata/identity-types.ts";
import type { MetadataStore } from "../../src/metadata/types.ts";
import { chartRecord, digestOf, repo, tag, twoProcesses, type MetadataFactory } from "./metadata-fixtures.ts";

const key = (kid: string): SigningKey => ({ kid, algorithm: "ES256", privateJwk: `{"d":"${kid}"}`, publicJwk: `{"x":"${kid}"}`, createdAt: new Date(1_700_000_000_000), retiredAt: null });

const admin = (createdAt: number): Principal => ({ id: "admin", kind: "admin", name: "admin", roles: ["owner"], scope: null, scopeMap: null, enabled: true, expiresAt: null, createdAt: new Date(createdAt) });

/** Runs `count` calls, alternating between the two stores, all at once. */
function both<T>(stores: readonly [MetadataStore, MetadataStore], count: number, call: (store: MetadataStore, i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => call(stores[i % 2]!, i)));
}

export function metadataRaceContract(factory: MetadataFactory): void {
  describe("two connections at once", () => {
    test("tags.set: each set returns the target it replaced, so the previous targets form one chain", async (t) => {
      const stores = await twoProcesses(t, factory);
      const start = digestOf("start");
      await stores[0].tags.set(repo("r"), tag("latest"), start);
      const targets = Array.from({ length: 8 }, (_, i) => digestOf(`target ${i}`));
      const previous = await both(stores, targets.length, (store, i) => store.tags.set(repo("r"), tag("latest"), targets[i]!));
      const final = (await stores[1].tags.resolve(repo("r"), tag("latest")))!;
      assert.deepEqual([...previous].sort(), [start, ...targets.filter((d) => d !== final)].sort());
    });

    test("tags.set of a new tag: exactly one set finds no previous target", async (t) => {
      const stores = await twoProcesses(t, factory);
      const targets = Array.from({ length: 8 }, (_, i) => digestOf(`new ${i}`));
      const previous = await both(stores, targets.length, (store, i) => store.tags.set(repo("r"), tag("v1"), targets[i]!));
      assert.equal(previous.filter((p) => p === null).length, 1, `previous targets: ${previous.join(", ")}`);
      const final = (await stores[0].tags.resolve(repo("r"), tag("v1")))!;
      assert.deepEqual(previous.filter((p) => p !== null).sort(), targets.filter((d) => d !== final).sort());
    });

    test("metadata values: changes of one key all land, with distinct versions chained old to new", async (t) => {
      const stores = await twoProcesses(t, factory);
      const target = { repository: repo("r"), digest: null };
      const results = await both(stores, 8, (store, i) => store.metadataValues.change(target, "k", `v${i}`, "a", new Date(1_700_000_000_000 + i)));
      assert.deepEqual(results.map((c) => c?.version).sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7, 8]);
      const history = (await stores[0].metadataValues.history(target, "k")).sort((a, b) => a.version - b.version);
      history.forEach((c, i) => assert.equal(c.old, i === 0 ? null : history[i - 1]!.new));
    });

    test("signing keys: addFirst on an empty store adds one key however many ask; none while one is active", async (t) => {
      const stores = await twoProcesses(t, factory);
      const added = await both(stores, 6, (store, i) => store.signingKeys.addFirst(key(`k${i}`)));
      assert.equal(added.filter(Boolean).length, 1, `added: ${added.join(", ")}`);
      assert.equal((await stores[1].signingKeys.active()).length, 1);
      assert.equal(await stores[1].signingKeys.addFirst(key("later")), false);
      // Once every key is retired, a first key is needed again.
      await stores[0].signingKeys.retire((await stores[0].signingKeys.active())[0]!.kid);
      assert.equal(await stores[1].signingKeys.addFirst(key("again")), true);
      assert.deepEqual((await stores[0].signingKeys.active()).map((k) => k.kid), ["again"]);
    });

    test("signInFailures.update: failures counted on both at once all count (one limit across instances)", async (t) => {
      const stores = await twoProcesses(t, factory);
      await both(stores, 10, (store, i) => store.signInFailures.update("a:192.0.2.1", (s) => ({ failures: [...(s?.failures ?? []), i], blockedUntil: 0, strikes: 0 })));
      const state = (await stores[1].signInFailures.get(["a:192.0.2.1", "a:unknown"]));
      assert.deepEqual([...state.keys()], ["a:192.0.2.1"]);
      assert.deepEqual([...state.get("a:192.0.2.1")!.failures].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.equal(await stores[0].signInFailures.prune(Date.now() + 1), 1);
      assert.equal((await stores[1].signInFailures.get(["a:192.0.2.1"])).size, 0);
    });

    test("principals.ensure: one creates, the others find it; the row is the creator's", async (t) => {
      const stores = await twoProcesses(t, factory);
      const created = await both(stores, 6, (store, i) => store.principals.ensure(admin(1_700_000_000_000 + i)));
      assert.equal(created.filter(Boolean).length, 1, `created: ${created.join(", ")}`);
      const winner = created.indexOf(true);
      assert.deepEqual(await stores[0].principals.get("admin"), admin(1_700_000_000_000 + winner));
    });

    test("charts.forgetManifest: the rows are returned by the one call that removed them", async (t) => {
      const stores = await twoProcesses(t, factory);
      const chart = chartRecord("team/demo", "1.0.0");
      await stores[0].charts.record(chart);
      await stores[0].charts.record({ ...chartRecord("team/demo", "1.0.1"), manifestDigest: chart.manifestDigest });
      const forgotten = await both(stores, 6, (store) => store.charts.forgetManifest(repo("team/demo"), chart.manifestDigest));
      assert.deepEqual(forgotten.flat().map((c) => c.version).sort(), ["1.0.0", "1.0.1"]);
      assert.equal(forgotten.filter((rows) => rows.length > 0).length, 1);
    });

    test("changes.claim: of owners claiming one consumer at once, one holds the lease", async (t) => {
      const stores = await twoProcesses(t, factory);
      await stores[0].changes.claim("hooks", "setup", 10, 60_000);
      await stores[0].changes.ack("hooks", "setup", 0);
      await stores[0].changes.append({ kind: "signing-key.added", kid: "k" });
      const claims = await both(stores, 6, (store, i) => store.changes.claim("hooks", `owner ${i}`, 10, 60_000));
      assert.equal(claims.filter((entries) => entries.length > 0).length, 1);
    });
    test("jobs.claim: of instances claiming one job at once, one holds it; it renews, others wait until it runs out or is released", async (t) => {
      const stores = await twoProcesses(t, factory);
      const claims = await both(stores, 6, (store, i) => store.jobs.claim("purge", `instance ${i}`, 60_000));
      assert.equal(claims.filter(Boolean).length, 1, `claims: ${claims.join(", ")}`);
      const holder = `instance ${claims.indexOf(true)}`;
      const other = holder === "instance 0" ? "instance 1" : "instance 0";
      assert.equal(await stores[1].jobs.claim("purge", holder, 60_000), true, "the holder renews");
      assert.equal(await stores[0].jobs.claim("purge", other, 60_000), false);
      assert.equal(await stores[0].jobs.claim("retention", other, 60_000), true, "another job is another lease");
      await stores[1].jobs.release("purge", other); // not the holder: nothing changes
      assert.equal(await stores[0].jobs.claim("purge", other, 60_000), false);
      await stores[1].jobs.release("purge", holder);
      assert.equal(await stores[0].jobs.claim("purge", other, 1), true, "released: the next instance takes it");
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await stores[1].jobs.claim("purge", holder, 60_000), true, "run out by the database's clock: taken over");
    });
  });
}

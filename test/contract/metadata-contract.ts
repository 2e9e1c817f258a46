// The metadata store contract: what every MetadataStore (src/metadata/types.ts) must do, whatever
// database is under it. A backend joins by calling metadataContract() with a factory that makes an
// empty, migrated store (test/contract/sqlite.test.ts); the same assertions then hold on SQLite
// today and on PostgreSQL later. Shaped after distribution's registry/storage/driver/testsuites.
//
// This file: repositories, blobs, blob links, manifests, tags. The identity and provenance parts
// are in metadata-contract-identity.ts; uploads, charts, the change log, transactions and the
// concurrency cases in metadata-contract-changes.ts; two connections writing at once (two
// processes) in metadata-contract-races.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Digest } from "../../src/domain/digest.ts";
import { metadataCatalogContract } from "./metadata-contract-catalog.ts";
import { metadataChangeContract } from "./metadata-contract-changes.ts";
import { metadataIdentityContract } from "./metadata-contract-identity.ts";
import { metadataRaceContract } from "./metadata-contract-races.ts";
import { metadataTrashContract } from "./metadata-contract-trash.ts";
import { metadataQuotaContract } from "./metadata-contract-quotas.ts";
import { allPages, byteOrder, digestOf, freshStore, manifestRecord, pause, repo, tag, type MetadataFactory } from "./metadata-fixtures.ts";

export type { MetadataFactory, MetadataFixture } from "./metadata-fixtures.ts";

/** Names whose byte order differs from a locale's: upper case first, '-' < '.' < '_', non-ASCII last. */
const AWKWARD_NAMES = ["a", "B", "a-b", "a_b", "a.b", "ab", "Z", "z9", "_x", "ä", "é1", "v1.10", "v1.9", "1"];

export function metadataContract(backend: string, factory: MetadataFactory): void {
  describe(`metadata store contract (${backend})`, () => {
    registryContract(factory);
    metadataIdentityContract(factory);
    metadataChangeContract(factory);
    metadataRaceContract(factory);
    metadataCatalogContract(factory);
    metadataTrashContract(factory);
    metadataQuotaContract(factory);
  });
}

function registryContract(factory: MetadataFactory): void {
  describe("repositories", () => {
    test("ensure is idempotent and exists tells known from unknown", async (t) => {
      const store = await freshStore(t, factory);
      assert.equal(await store.repositories.exists(repo("team/app")), false);
      await store.repositories.ensure(repo("team/app"));
      await store.repositories.ensure(repo("team/app"));
      assert.equal(await store.repositories.exists(repo("team/app")), true);
      assert.equal(await store.repositories.exists(repo("team/ap")), false);
      assert.deepEqual(await store.repositories.list({ limit: 10 }), ["team/app"]);
    });

    test("list pages in byte order (not a locale's), each page strictly after `after`", async (t) => {
      const store = await freshStore(t, factory);
      for (const name of AWKWARD_NAMES) await store.repositories.ensure(repo(name));
      const expected = byteOrder(AWKWARD_NAMES);
      assert.deepEqual(await store.repositories.list({ limit: 100 }), expected);
      const pages = await allPages((p) => store.repositories.list(p), 4);
      assert.deepEqual(pages.flat(), expected);
      assert.deepEqual(pages[0], expected.slice(0, 4));
      // `after` need not be a stored name: "a." sits between "a-b" and "a.b" in byte order.
      assert.deepEqual(await store.repositories.list({ limit: 2, after: "a." }), ["a.b", "a_b"]);
      assert.deepEqual(await store.repositories.list({ limit: 5, after: "é1" }), []);
      assert.deepEqual(await store.repositories.list({ limit: 0 }), []);
    });
  });

  describe("blobs", () => {
    test("record, size and forget", async (t) => {
      const store = await freshStore(t, factory);
      const d = digestOf("layer");
      assert.equal(await store.blobs.size(d), null);
      await store.blobs.record(d, 5_000_000_000); // past 32 bits: PostgreSQL's bigint comes back as a string
      await store.blobs.record(d, 5_000_000_000);
      assert.equal(await store.blobs.size(d), 5_000_000_000);
      assert.equal(await store.blobs.size(digestOf("other")), null);
      await store.blobs.forget(d);
      assert.equal(await store.blobs.size(d), null);
      await store.blobs.forget(d);
    });

    test("a blob row names where its bytes are: the digest's key (null) unless recorded with an object key; relocate and names follow it; a second record keeps the first", async (t) => {
      const store = await freshStore(t, factory);
      const atDigest = digestOf("at-digest");
      const inPlace = digestOf("in-place");
      assert.equal(await store.blobs.objectKey(atDigest), undefined);
      await store.blobs.record(atDigest, 1);
      assert.equal(await store.blobs.objectKey(atDigest), null);
      await store.blobs.record(inPlace, 2, "uploads/first");
      await store.blobs.record(inPlace, 2, "uploads/second");
      assert.equal(await store.blobs.objectKey(inPlace), "uploads/first");
      assert.equal(await store.blobs.names("uploads/first"), true);
      assert.equal(await store.blobs.names("uploads/second"), false);
      await store.blobs.relocate(inPlace, "uploads/second");
      assert.equal(await store.blobs.objectKey(inPlace), "uploads/second");
      assert.equal(await store.blobs.names("uploads/first"), false);
      await store.blobs.relocate(inPlace, null);
      assert.equal(await store.blobs.objectKey(inPlace), null);
      await store.blobs.record(atDigest, 1, "uploads/late");
      assert.equal(await store.blobs.objectKey(atDigest), null, "a row already there keeps its object");
      await store.blobs.forget(inPlace);
      assert.equal(await store.blobs.objectKey(inPlace), undefined);
    });

    test("isReferenced: by a link or by a manifest, and no longer once both are gone", async (t) => {
      const store = await freshStore(t, factory);
      const linked = digestOf("linked");
      const layer = digestOf("layer");
      await store.blobs.record(linked, 1);
      await store.blobs.record(layer, 1);
      assert.equal(await store.blobs.isReferenced(linked), false);
      await store.blobLinks.link(repo("r"), linked);
      assert.equal(await store.blobs.isReferenced(linked), true);
      const m = manifestRecord("r", "m1");
      await store.manifests.put(m, { blobs: [layer], children: [] });
      assert.equal(await store.blobs.isReferenced(layer), true);
      await store.blobLinks.unlink(repo("r"), linked);
      await store.manifests.delete(repo("r"), m.digest);
      assert.equal(await store.blobs.isReferenced(linked), false);
      assert.equal(await store.blobs.isReferenced(layer), false);
    });

    test("collectable: old, unreferenced and not linked since `before`; paged by digest", async (t) => {
      const store = await freshStore(t, factory);
      const [free1, free2, used, relinked, young] = ["free1", "free2", "used", "relinked", "young"].map(digestOf) as [Digest, Digest, Digest, Digest, Digest];
      for (const d of [free1, free2, used, relinked]) await store.blobs.record(d, 1);
      await store.blobLinks.link(repo("r"), free1); // an old link does not keep a blob
      await store.manifests.put(manifestRecord("r", "m"), { blobs: [used], children: [] });
      await pause(5);
      const before = new Date();
      await pause(5);
      await store.blobLinks.link(repo("r"), relinked);
      await store.blobs.record(young, 1);
      const all = await store.blobs.collectable(before, { limit: 10 });
      assert.deepEqual(all, byteOrder([free1, free2]));
      assert.deepEqual(await store.blobs.collectable(before, { limit: 1 }), [all[0]]);
      assert.deepEqual(await store.blobs.collectable(before, { limit: 10, after: all[0] }), [all[1]]);
    });

    test("a link or a tag written again by a process whose clock is behind keeps its later time (gc's grace, keep-newest's order)", async (t) => {
      const store = await freshStore(t, factory);
      const m = manifestRecord("r", "m");
      const layer = digestOf("layer");
      const day = 86_400_000;
      const start = Date.now();
      await store.manifests.put(m, { blobs: [], children: [] });
      t.mock.timers.enable({ apis: ["Date"], now: start - 3 * day });
      await store.blobs.record(layer, 1);
      t.mock.timers.setTime(start);
      await store.blobLinks.link(repo("r"), layer);
      await store.tags.set(repo("r"), tag("v1"), m.digest);
      t.mock.timers.setTime(start - day);
      await store.blobLinks.link(repo("r"), layer);
      await store.tags.set(repo("r"), tag("v1"), m.digest);
      t.mock.timers.reset();
      assert.deepEqual(await store.blobs.collectable(new Date(start - 3_600_000), { limit: 10 }), [], "linked at start, not moved back a day");
      assert.deepEqual((await store.retention.inventory(repo("r"))).tags.map((x) => x.pushed.getTime()), [start]);
      assert.deepEqual(await store.tags.pushed(repo("r"), tag("v1")), { digest: m.digest, at: new Date(start) });
      assert.equal(await store.tags.pushed(repo("r"), tag("v2")), null);
    });

    test("seen: a link older than `staleBefore` is written again now (gc's grace counts from it); a fresher one only read; none: false", async (t) => {
      const store = await freshStore(t, factory);
      const [old, fresh] = ["old", "fresh"].map(digestOf) as [Digest, Digest];
      const minute = 60_000;
      const start = Date.now();
      t.mock.timers.enable({ apis: ["Date"], now: start - 3 * 86_400_000 });
      for (const d of [old, fresh]) await store.blobs.record(d, 1);
      await store.blobLinks.link(repo("r"), old);
      t.mock.timers.setTime(start);
      await store.blobLinks.link(repo("r"), fresh);
      t.mock.timers.setTime(start + 10 * minute);
      assert.equal(await store.blobLinks.seen(repo("r"), old, new Date(start - minute)), true);
      assert.equal(await store.blobLinks.seen(repo("r"), fresh, new Date(start - minute)), true);
      assert.equal(await store.blobLinks.seen(repo("other"), old, new Date(start - minute)), false);
      t.mock.timers.reset();
      assert.deepEqual(await store.blobs.collectable(new Date(start + 5 * minute), { limit: 10 }), [fresh], "old: linked again at start + 10 minutes; fresh: still at start");
    });

    test("seenWithKey: seen, with the row's object key read in the same query (null: the digest's key; undefined: no row); not linked: null; a stale link written again", async (t) => {
      const store = await freshStore(t, factory);
      const [inPlace, own, rowless, stale] = ["in-place", "own", "rowless", "stale"].map(digestOf) as [Digest, Digest, Digest, Digest];
      const start = Date.now();
      t.mock.timers.enable({ apis: ["Date"], now: start - 3 * 86_400_000 });
      await store.blobs.record(stale, 1);
      await store.blobLinks.link(repo("r"), stale);
      t.mock.timers.setTime(start);
      await store.blobs.record(inPlace, 1, "uploads/u1");
      await store.blobs.record(own, 1);
      for (const d of [inPlace, own, rowless]) await store.blobLinks.link(repo("r"), d);
      const staleBefore = new Date(start - 60_000);
      assert.deepEqual(await store.blobLinks.seenWithKey(repo("r"), inPlace, staleBefore), { objectKey: "uploads/u1" });
      assert.deepEqual(await store.blobLinks.seenWithKey(repo("r"), own, null), { objectKey: null });
      assert.deepEqual(await store.blobLinks.seenWithKey(repo("r"), rowless, staleBefore), { objectKey: undefined });
      assert.equal(await store.blobLinks.seenWithKey(repo("other"), inPlace, staleBefore), null);
      assert.deepEqual(await store.blobLinks.seenWithKey(repo("r"), stale, staleBefore), { objectKey: null });
      t.mock.timers.reset();
      assert.deepEqual(await store.blobs.collectable(new Date(start - 120_000), { limit: 10 }), [], "the stale link was written again");
    });

    test("all yields every blob with its size", async (t) => {
      const store = await freshStore(t, factory);
      const expected = new Map(Array.from({ length: 7 }, (_, i) => [digestOf(`b${i}`), i * 1000]));
      for (const [d, size] of expected) await store.blobs.record(d, size);
      const seen = new Map<Digest, number>();
      for await (const { digest, size } of store.blobs.all()) seen.set(digest, size);
      assert.deepEqual(seen, expected);
    });
  });

  describe("blob links", () => {
    test("link, isLinked, unlink, linking in name order with a limit", async (t) => {
      const store = await freshStore(t, factory);
      const d = digestOf("shared");
      for (const name of ["z/app", "B/app", "a/app"]) await store.blobLinks.link(repo(name), d);
      await store.blobLinks.link(repo("a/app"), d); // again: still one link
      assert.equal(await store.blobLinks.isLinked(repo("a/app"), d), true);
      assert.equal(await store.blobLinks.isLinked(repo("a/other"), d), false);
      assert.equal(await store.blobLinks.isLinked(repo("a/app"), digestOf("x")), false);
      assert.deepEqual(await store.blobLinks.linking(d, 10), ["B/app", "a/app", "z/app"]);
      assert.deepEqual(await store.blobLinks.linking(d, 2), ["B/app", "a/app"]);
      assert.equal(await store.blobLinks.unlink(repo("a/app"), d), true);
      assert.equal(await store.blobLinks.unlink(repo("a/app"), d), false);
      assert.equal(await store.blobLinks.isLinked(repo("a/app"), d), false);
      const all = [];
      for await (const link of store.blobLinks.all()) all.push(link);
      assert.deepEqual(all, [{ repository: "B/app", digest: d }, { repository: "z/app", digest: d }]);
    });

    test("pruneUnreferenced drops old links no manifest of their own repository references", async (t) => {
      const store = await freshStore(t, factory);
      const [kept, dropped, otherRepo, young] = ["kept", "dropped", "other", "young"].map(digestOf) as [Digest, Digest, Digest, Digest];
      for (const d of [kept, dropped, otherRepo]) await store.blobLinks.link(repo("r"), d);
      await store.manifests.put(manifestRecord("r", "m"), { blobs: [kept], children: [] });
      await store.manifests.put(manifestRecord("s", "m"), { blobs: [otherRepo], children: [] });
      await pause(5);
      const before = new Date();
      await pause(5);
      await store.blobLinks.link(repo("r"), young);
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 2);
      assert.equal(await store.blobLinks.isLinked(repo("r"), kept), true);
      assert.equal(await store.blobLinks.isLinked(repo("r"), dropped), false);
      assert.equal(await store.blobLinks.isLinked(repo("r"), otherRepo), false);
      assert.equal(await store.blobLinks.isLinked(repo("r"), young), true);
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 0);
    });
  });

  describe("manifests", () => {
    test("put then get by digest returns every field, the body byte for byte", async (t) => {
      const store = await freshStore(t, factory);
      const subject = digestOf("subject");
      const m = manifestRecord("team/app", '{"schemaVersion":2,"x":"\u00e4\u0000"}', {
        subject,
        artifactType: "application/vnd.example+json",
        annotations: { "org.opencontainers.image.title": "t", ä: "ö" },
      });
      await store.manifests.put(m, { blobs: [digestOf("l1")], children: [] });
      assert.deepEqual(await store.manifests.get(repo("team/app"), m.digest), m);
      const { body: _body, ...summary } = m;
      assert.deepEqual(await store.manifests.summary(repo("team/app"), m.digest), summary);
      assert.equal(await store.manifests.get(repo("team/other"), m.digest), null);
      assert.equal(await store.manifests.get(repo("team/app"), digestOf("nope")), null);
      assert.equal(await store.manifests.summary(repo("team/app"), digestOf("nope")), null);
    });

    test("get and summary by tag follow the tag, and answer null for an unknown tag or a tag without its manifest", async (t) => {
      const store = await freshStore(t, factory);
      const one = manifestRecord("r", "one");
      const two = manifestRecord("r", "two");
      await store.manifests.put(one, { blobs: [], children: [] });
      await store.manifests.put(two, { blobs: [], children: [] });
      await store.tags.set(repo("r"), tag("latest"), one.digest);
      assert.deepEqual((await store.manifests.get(repo("r"), { tag: tag("latest") }))?.body, one.body);
      await store.tags.set(repo("r"), tag("latest"), two.digest);
      assert.equal((await store.manifests.get(repo("r"), { tag: tag("latest") }))?.digest, two.digest);
      assert.equal((await store.manifests.summary(repo("r"), { tag: tag("latest") }))?.digest, two.digest);
      assert.equal(await store.manifests.get(repo("r"), { tag: tag("nope") }), null);
      assert.equal(await store.manifests.get(repo("s"), { tag: tag("latest") }), null);
      await store.tags.set(repo("r"), tag("dangling"), digestOf("never pushed"));
      assert.equal(await store.manifests.get(repo("r"), { tag: tag("dangling") }), null);
      assert.equal(await store.manifests.summary(repo("r"), { tag: tag("dangling") }), null);
    });

    test("the same manifest put again changes nothing but its push time (never back); delete removes it and its references", async (t) => {
      const store = await freshStore(t, factory);
      const m = manifestRecord("r", "m");
      const [config, layer, child] = ["config", "layer", "child"].map(digestOf) as [Digest, Digest, Digest];
      await store.manifests.put(m, { blobs: [config, layer], children: [child] });
      await store.manifests.put({ ...m, pushedAt: new Date(1) }, { blobs: [config, layer], children: [child] });
      assert.deepEqual((await store.manifests.get(repo("r"), m.digest))?.pushedAt, m.pushedAt, "an earlier clock does not move it back");
      const later = new Date(m.pushedAt.getTime() + 86_400_000);
      await store.manifests.put({ ...m, pushedAt: later }, { blobs: [config, layer], children: [child] });
      assert.deepEqual(await store.manifests.get(repo("r"), m.digest), { ...m, pushedAt: later }, "pushed again: a push");
      const all = [];
      for await (const entry of store.manifests.all()) all.push(entry);
      assert.equal(all.length, 1);
      assert.deepEqual(all[0]!.body, m.body);
      assert.deepEqual(
        [...all[0]!.references].sort((a, b) => a.target.localeCompare(b.target)),
        [{ target: config, kind: "blob" }, { target: layer, kind: "blob" }, { target: child, kind: "manifest" }].sort((a, b) => a.target.localeCompare(b.target)),
      );
      assert.equal(await store.manifests.delete(repo("r"), m.digest), true);
      assert.equal(await store.manifests.delete(repo("r"), m.digest), false);
      assert.equal(await store.manifests.get(repo("r"), m.digest), null);
      assert.equal(await store.blobs.isReferenced(layer), false);
      assert.deepEqual(await store.provenance.parents(repo("r"), child), []);
    });

    test("referrers: the repository's manifests naming the subject, in digest order", async (t) => {
      const store = await freshStore(t, factory);
      const subject = digestOf("image");
      const refs = ["sig", "sbom", "attestation"].map((x) => manifestRecord("r", x, { subject, artifactType: `application/${x}` }));
      for (const m of refs) await store.manifests.put(m, { blobs: [], children: [] });
      await store.manifests.put(manifestRecord("r", "unrelated", { subject: digestOf("other") }), { blobs: [], children: [] });
      await store.manifests.put(manifestRecord("s", "sig", { subject }), { blobs: [], children: [] });
      const found = await store.manifests.referrers(repo("r"), subject);
      assert.deepEqual(found.map((f) => f.digest), byteOrder(refs.map((m) => m.digest)));
      assert.ok(found.every((f) => !("body" in f) && f.subject === subject && f.artifactType?.startsWith("application/")));
      assert.deepEqual(await store.manifests.referrers(repo("r"), digestOf("nothing")), []);
    });
  });

  describe("tags", () => {
    test("set returns the previous target; resolve, delete", async (t) => {
      const store = await freshStore(t, factory);
      const [a, b] = [digestOf("a"), digestOf("b")];
      assert.equal(await store.tags.set(repo("r"), tag("v1"), a), null);
      assert.equal(await store.tags.set(repo("r"), tag("v1"), b), a);
      assert.equal(await store.tags.set(repo("r"), tag("v1"), b), b);
      assert.equal(await store.tags.resolve(repo("r"), tag("v1")), b);
      assert.equal(await store.tags.resolve(repo("s"), tag("v1")), null);
      assert.equal(await store.tags.delete(repo("r"), tag("v1")), true);
      assert.equal(await store.tags.delete(repo("r"), tag("v1")), false);
      assert.equal(await store.tags.resolve(repo("r"), tag("v1")), null);
      assert.equal(await store.tags.set(repo("r"), tag("v1"), a), null);
    });

    test("list pages one repository's tags in byte order, each page strictly after `after`", async (t) => {
      const store = await freshStore(t, factory);
      for (const name of AWKWARD_NAMES) await store.tags.set(repo("r"), tag(name), digestOf(name));
      await store.tags.set(repo("r2"), tag("other"), digestOf("other"));
      const expected = byteOrder(AWKWARD_NAMES);
      assert.deepEqual(await store.tags.list(repo("r"), { limit: 100 }), expected);
      const pages = await allPages((p) => store.tags.list(repo("r"), p), 3);
      assert.deepEqual(pages.flat(), expected);
      assert.deepEqual(await store.tags.list(repo("r"), { limit: 3, after: "Z" }), ["_x", "a", "a-b"]);
      assert.deepEqual(await store.tags.list(repo("r"), { limit: 2, after: "v1.10" }), ["v1.9", "z9"]);
      assert.deepEqual(await store.tags.list(repo("nothing"), { limit: 10 }), []);
    });

    test("deleteAllFor removes every tag of one digest in one repository", async (t) => {
      const store = await freshStore(t, factory);
      const [a, b] = [digestOf("a"), digestOf("b")];
      for (const name of ["x", "y", "z"]) await store.tags.set(repo("r"), tag(name), a);
      await store.tags.set(repo("r"), tag("keep"), b);
      await store.tags.set(repo("s"), tag("x"), a);
      assert.equal(await store.tags.deleteAllFor(repo("r"), a), 3);
      assert.equal(await store.tags.deleteAllFor(repo("r"), a), 0);
      assert.deepEqual(await store.tags.list(repo("r"), { limit: 10 }), ["keep"]);
      assert.equal(await store.tags.resolve(repo("s"), tag("x")), a);
    });

    test("covering: tags of the digest, of manifests and nested indexes that reference it, and of a referrer's subject", async (t) => {
      const store = await freshStore(t, factory);
      const r = repo("r");
      const [layer, config, sbomLayer, unrelated] = ["layer", "config", "sbom-layer", "unrelated"].map(digestOf) as [Digest, Digest, Digest, Digest];
      const image = manifestRecord("r", "image");
      const index = manifestRecord("r", "index");
      const outer = manifestRecord("r", "outer index");
      const sbom = manifestRecord("r", "sbom", { subject: image.digest });
      const other = manifestRecord("r", "other image");
      await store.manifests.put(image, { blobs: [config, layer], children: [] });
      await store.manifests.put(index, { blobs: [], children: [image.digest] });
      await store.manifests.put(outer, { blobs: [], children: [index.digest] });
      await store.manifests.put(sbom, { blobs: [sbomLayer], children: [] });
      await store.manifests.put(other, { blobs: [unrelated], children: [] });
      for (const [name, m] of [["img", image], ["idx", index], ["Outer", outer], ["sbom", sbom], ["other", other]] as const) await store.tags.set(r, tag(name), m.digest);
      await store.tags.set(repo("s"), tag("elsewhere"), image.digest);
      assert.deepEqual(await store.tags.covering(r, layer), ["Outer", "idx", "img"]);
      assert.deepEqual(await store.tags.covering(r, image.digest), ["Outer", "idx", "img"]);
      assert.deepEqual(await store.tags.covering(r, index.digest), ["Outer", "idx"]);
      // The SBOM belongs to the image it describes, and so to whatever holds that image.
      assert.deepEqual(await store.tags.covering(r, sbomLayer), ["Outer", "idx", "img", "sbom"]);
      assert.deepEqual(await store.tags.covering(r, unrelated), ["other"]);
      assert.deepEqual(await store.tags.covering(r, digestOf("nothing")), []);
      assert.deepEqual(await store.tags.covering(repo("s"), layer), []);
    });
  });
}

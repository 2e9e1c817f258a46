// The metadata store contract for soft delete's records (trash-store.ts, migrations 021 and 022):
// kept with the exact bytes and tags, listed newest first while restorable (paged, by digest or
// by tag, never with the bytes), updated or forgotten after a restore or a purge, their window
// shortened, purged once expired; and what gc reads: a record's blobs count as referenced (their
// files stay) until it is purged, but their links go like any link no live manifest needs, and
// `unlinked` says what a restore must link again. Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Digest } from "../../src/domain/digest.ts";
import type { TrashEntry, TrashRecord } from "../../src/metadata/types.ts";
import { digestOf, freshStore, manifestRecord, pause, repo, tag, type MetadataFactory } from "./metadata-fixtures.ts";

const T0 = 1_700_000_000_000;

function record(id: string, extra: Partial<TrashRecord> = {}): TrashRecord {
  const body = extra.body ?? Buffer.from(`{"manifest":"${id}","bytes":"\u00e9\u0000"}`);
  return {
    id,
    repository: repo("team/app"),
    digest: digestOf(id),
    kind: "manifest",
    tags: [tag("v1"), tag("latest")],
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: null,
    size: body.length,
    body,
    storedAs: null,
    deletedAt: new Date(T0),
    expiresAt: new Date(T0 + 3_600_000),
    deletedBy: { name: "admin", kind: "admin", address: "127.0.0.1", userAgent: "oras/1.3", requestId: "req-1" },
    ...extra,
  };
}

/** The record as a list shows it: everything but the bytes. */
function entry(r: TrashRecord): TrashEntry {
  const { body: _, ...rest } = r;
  return rest;
}

const ALL = { limit: 100 };

export function metadataTrashContract(factory: MetadataFactory): void {
  describe("trash (soft delete)", () => {
    test("put keeps the exact bytes, size, tags, chart way and actor; list shows a repository's unexpired records newest first, without the bytes", async (t) => {
      const store = await freshStore(t, factory);
      const first = record("a");
      const second = record("b", { kind: "tag", tags: [tag("0.1.0")], storedAs: "classic", artifactType: "application/vnd.cncf.helm.config.v1+json", deletedAt: new Date(T0 + 1000), deletedBy: null });
      const expired = record("c", { expiresAt: new Date(T0 + 10) });
      const elsewhere = record("d", { repository: repo("team/other") });
      for (const r of [first, second, expired, elsewhere]) await store.trash.put(r, []);
      const listed = await store.trash.list(repo("team/app"), new Date(T0 + 100), ALL);
      assert.deepEqual(listed, [second, first].map(entry));
      assert.ok(listed.every((r) => !("body" in r)), "a list never carries a manifest's bytes");
      assert.deepEqual(await store.trash.body("a"), first.body);
      assert.equal(await store.trash.body("nope"), null);
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0 + 3_600_000), ALL), [], "expired at expiresAt");
      await assert.rejects(store.trash.put(first, []), "an id is unique");
    });

    test("list pages newest first by (deleted, id), and narrows to a digest or to the records holding a tag exactly", async (t) => {
      const store = await freshStore(t, factory);
      const same = digestOf("same");
      const records = [
        record("r1", { deletedAt: new Date(T0 + 3), tags: [tag("a_b")], digest: same }),
        record("r2", { deletedAt: new Date(T0 + 2), tags: [tag("axb"), tag("A_B")] }),
        record("r3", { deletedAt: new Date(T0 + 2), tags: [], digest: same }),
        record("r4", { deletedAt: new Date(T0 + 1), tags: [tag("a_b"), tag("v2")] }),
        record("r5", { deletedAt: new Date(T0 + 1), tags: [tag("a_bc")] }),
      ];
      for (const r of records) await store.trash.put(r, []);
      const now = new Date(T0 + 10);
      const ids = (rows: TrashEntry[]) => rows.map((r) => r.id);
      const pages: string[][] = [];
      for (let after: TrashEntry | undefined; ;) {
        const page = await store.trash.list(repo("team/app"), now, { limit: 2, after });
        pages.push(ids(page));
        if (page.length < 2) break;
        after = page.at(-1);
      }
      assert.deepEqual(pages, [["r1", "r2"], ["r3", "r4"], ["r5"]]);
      assert.deepEqual(ids(await store.trash.list(repo("team/app"), now, { ...ALL, reference: { digest: same } })), ["r1", "r3"]);
      // LIKE's `_` and SQLite's case-blind LIKE may match more; the answer is exact.
      assert.deepEqual(ids(await store.trash.list(repo("team/app"), now, { ...ALL, reference: { tag: tag("a_b") } })), ["r1", "r4"]);
      assert.deepEqual(ids(await store.trash.list(repo("team/app"), now, { limit: 1, reference: { tag: tag("a_b") } })), ["r1"]);
      assert.deepEqual(ids(await store.trash.list(repo("team/app"), now, { limit: 1, after: records[0], reference: { tag: tag("a_b") } })), ["r4"], "paged past near misses");
      assert.deepEqual(ids(await store.trash.list(repo("team/app"), now, { ...ALL, reference: { tag: tag("nope") } })), []);
    });

    test("update after a restore: new kind and remaining tags; no tags left forgets the record, its bytes and its references", async (t) => {
      const store = await freshStore(t, factory);
      const layer = digestOf("layer");
      await store.blobs.record(layer, 1);
      await store.trash.put(record("a"), [layer, layer]);
      await store.trash.update("a", "tag", [tag("latest")]);
      const [kept] = await store.trash.list(repo("team/app"), new Date(T0), ALL);
      assert.deepEqual([kept!.kind, kept!.tags], ["tag", ["latest"]]);
      assert.equal(await store.blobs.isReferenced(layer), true);
      await store.trash.update("a", "tag", []);
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0), ALL), []);
      assert.equal(await store.trash.body("a"), null);
      assert.equal(await store.blobs.isReferenced(layer), false);
    });

    test("forget drops records now with their bytes and references; forgetBlob stops one repository's records keeping a blob", async (t) => {
      const store = await freshStore(t, factory);
      const [layer, config] = ["layer", "config"].map(digestOf) as [Digest, Digest];
      for (const d of [layer, config]) await store.blobs.record(d, 1);
      await store.trash.put(record("a"), [layer, config]);
      await store.trash.put(record("b"), [config]);
      await store.trash.put(record("c", { repository: repo("team/other") }), [layer]);
      await store.trash.forget(["a", "nope"]);
      assert.deepEqual((await store.trash.list(repo("team/app"), new Date(T0), ALL)).map((r) => r.id), ["b"]);
      assert.equal(await store.trash.body("a"), null);
      assert.deepEqual(await store.trash.unlinked("b"), [{ digest: config, size: 1 }]);
      assert.equal(await store.trash.forgetBlob(repo("team/app"), config), true);
      assert.equal(await store.trash.forgetBlob(repo("team/app"), config), false, "nothing names it any more");
      assert.equal(await store.blobs.isReferenced(config), false);
      assert.equal(await store.blobs.isReferenced(layer), true, "team/other's record still keeps it");
      assert.deepEqual((await store.trash.list(repo("team/app"), new Date(T0), ALL)).map((r) => r.id), ["b"], "the record stays; its restore will name the blob");
    });

    test("limitWindow shortens records kept longer than the window to it, and only those; 0 expires every record", async (t) => {
      const store = await freshStore(t, factory);
      await store.trash.put(record("week", { expiresAt: new Date(T0 + 7 * 86_400_000) }), []);
      await store.trash.put(record("hour", { expiresAt: new Date(T0 + 3_600_000) }), []);
      assert.equal(await store.trash.limitWindow(86_400), 1);
      const expires = async () => Object.fromEntries((await store.trash.list(repo("team/app"), new Date(T0), ALL)).map((r) => [r.id, r.expiresAt.getTime() - T0]));
      assert.deepEqual(await expires(), { week: 86_400_000, hour: 3_600_000 });
      assert.equal(await store.trash.limitWindow(86_400), 0, "raising or repeating it changes nothing");
      assert.equal(await store.trash.limitWindow(0), 2);
      assert.deepEqual(await expires(), {});
      assert.equal(await store.trash.countExpired(new Date(T0)), 2);
      assert.equal(await store.trash.purgeExpired(new Date(T0)), 2);
    });

    test("a record's blobs are referenced and collectable only once it is purged, but their links go like any link no live manifest needs; unlinked names what a restore links again", async (t) => {
      const store = await freshStore(t, factory);
      const [layer, config, other, shared, sparse] = ["layer", "config", "other", "shared", "sparse"].map(digestOf) as [Digest, Digest, Digest, Digest, Digest];
      for (const d of [layer, config, other, shared]) {
        await store.blobs.record(d, d === layer ? 7 : 1);
        await store.blobLinks.link(repo("team/app"), d);
      }
      await store.blobLinks.link(repo("team/else"), layer);
      // A live manifest of team/app still needs `shared`: that link stays.
      await store.manifests.put(manifestRecord("team/app", "live"), { blobs: [shared], children: [] });
      await store.trash.put(record("a", { expiresAt: new Date(T0 + 10) }), [layer, config, shared, sparse]);
      await store.trash.put(record("b", { expiresAt: new Date(T0 + 20) }), [config]);
      await pause(5);
      const before = new Date();
      assert.equal(await store.blobs.isReferenced(config), true);
      assert.deepEqual(await store.trash.unlinked("a"), [], "all linked still");
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 4, "other's, layer's in both repositories and config's: only deleted content names them");
      assert.equal(await store.blobLinks.isLinked(repo("team/app"), shared), true, "a live manifest needs it");
      for (const d of [layer, config, other]) assert.equal(await store.blobLinks.isLinked(repo("team/app"), d), false);
      assert.deepEqual(await store.blobs.collectable(before, { limit: 10 }), [other], "the records keep their blobs' files");
      const byDigest = <T extends { digest: Digest }>(rows: T[]) => [...rows].sort((x, y) => x.digest.localeCompare(y.digest));
      assert.deepEqual(await store.trash.unlinked("a"), byDigest([{ digest: layer, size: 7 }, { digest: config, size: 1 }]), "stored and unlinked: shared is linked, sparse never stored");
      const refs: string[] = [];
      for await (const r of store.trash.references()) refs.push(`${r.repository} ${r.digest}`);
      assert.deepEqual(refs.sort(), [`team/app ${config}`, `team/app ${config}`, `team/app ${layer}`, `team/app ${shared}`, `team/app ${sparse}`].sort());

      assert.equal(await store.trash.countExpired(new Date(T0 + 15)), 1);
      assert.equal(await store.trash.purgeExpired(new Date(T0 + 15)), 1);
      assert.equal(await store.trash.countExpired(new Date(T0 + 15)), 0);
      assert.deepEqual((await store.blobs.collectable(before, { limit: 10 })).sort(), [layer, other].sort());
      assert.equal(await store.trash.purgeExpired(new Date(T0 + 20)), 1);
      assert.equal(await store.blobs.isReferenced(config), false);
      assert.deepEqual((await store.blobs.collectable(before, { limit: 10 })).sort(), [config, layer, other].sort());
    });

    test("a record written in a transaction that rolls back is not there", async (t) => {
      const store = await freshStore(t, factory);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.trash.put(record("a"), [digestOf("layer")]);
          throw new Error("the delete failed");
        }),
        /the delete failed/,
      );
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0), ALL), []);
      assert.equal(await store.trash.body("a"), null);
      const refs = [];
      for await (const r of store.trash.references()) refs.push(r);
      assert.deepEqual(refs, []);
    });
  });
}

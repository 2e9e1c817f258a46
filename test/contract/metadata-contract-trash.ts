// The metadata store contract for soft delete's records (trash-store.ts, migration 021): kept with
// the exact bytes and tags, listed newest first while restorable, updated or forgotten after a
// restore, purged once expired; and what gc reads: a record's blobs count as referenced (and keep
// their repository's links) until it is purged. Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Digest } from "../../src/domain/digest.ts";
import type { TrashRecord } from "../../src/metadata/types.ts";
import { digestOf, freshStore, pause, repo, tag, type MetadataFactory } from "./metadata-fixtures.ts";

const T0 = 1_700_000_000_000;

function record(id: string, extra: Partial<TrashRecord> = {}): TrashRecord {
  const body = Buffer.from(`{"manifest":"${id}","bytes":"\u00e9\u0000"}`);
  return {
    id,
    repository: repo("team/app"),
    digest: digestOf(id),
    kind: "manifest",
    tags: [tag("v1"), tag("latest")],
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: null,
    body,
    storedAs: null,
    deletedAt: new Date(T0),
    expiresAt: new Date(T0 + 3_600_000),
    deletedBy: { name: "admin", kind: "admin", address: "127.0.0.1", userAgent: "oras/1.3", requestId: "req-1" },
    ...extra,
  };
}

export function metadataTrashContract(factory: MetadataFactory): void {
  describe("trash (soft delete)", () => {
    test("put keeps the exact bytes, tags, chart way and actor; list shows a repository's unexpired records newest first", async (t) => {
      const store = await freshStore(t, factory);
      const first = record("a");
      const second = record("b", { kind: "tag", tags: [tag("0.1.0")], storedAs: "classic", artifactType: "application/vnd.cncf.helm.config.v1+json", deletedAt: new Date(T0 + 1000), deletedBy: null });
      const expired = record("c", { expiresAt: new Date(T0 + 10) });
      const elsewhere = record("d", { repository: repo("team/other") });
      for (const r of [first, second, expired, elsewhere]) await store.trash.put(r, []);
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0 + 100)), [second, first]);
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0 + 3_600_000)), [], "expired at expiresAt");
      await assert.rejects(store.trash.put(first, []), "an id is unique");
    });

    test("update after a restore: new kind and remaining tags; no tags left forgets the record and its references", async (t) => {
      const store = await freshStore(t, factory);
      const layer = digestOf("layer");
      await store.blobs.record(layer, 1);
      await store.trash.put(record("a"), [layer, layer]);
      await store.trash.update("a", "tag", [tag("latest")]);
      const [kept] = await store.trash.list(repo("team/app"), new Date(T0));
      assert.deepEqual([kept!.kind, kept!.tags], ["tag", ["latest"]]);
      assert.equal(await store.blobs.isReferenced(layer), true);
      await store.trash.update("a", "tag", []);
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0)), []);
      assert.equal(await store.blobs.isReferenced(layer), false);
    });

    test("a record's blobs are referenced and collectable only once it is purged; its links survive pruning until then", async (t) => {
      const store = await freshStore(t, factory);
      const [layer, config, other] = ["layer", "config", "other"].map(digestOf) as [Digest, Digest, Digest];
      for (const d of [layer, config, other]) {
        await store.blobs.record(d, 1);
        await store.blobLinks.link(repo("team/app"), d);
      }
      await store.blobLinks.link(repo("team/else"), layer);
      await store.trash.put(record("a", { expiresAt: new Date(T0 + 10) }), [layer, config]);
      await store.trash.put(record("b", { expiresAt: new Date(T0 + 20) }), [config]);
      await pause(5);
      const before = new Date();
      assert.equal(await store.blobs.isReferenced(config), true);
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 2, "other's link, and layer's in a repository the record is not in");
      assert.equal(await store.blobLinks.isLinked(repo("team/app"), layer), true);
      assert.equal(await store.blobLinks.isLinked(repo("team/else"), layer), false);
      assert.deepEqual(await store.blobs.collectable(before, { limit: 10 }), [other]);
      const refs: string[] = [];
      for await (const r of store.trash.references()) refs.push(`${r.repository} ${r.digest}`);
      assert.deepEqual(refs.sort(), [`team/app ${config}`, `team/app ${config}`, `team/app ${layer}`].sort());

      assert.equal(await store.trash.countExpired(new Date(T0 + 15)), 1);
      assert.equal(await store.trash.purgeExpired(new Date(T0 + 15)), 1);
      assert.equal(await store.trash.countExpired(new Date(T0 + 15)), 0);
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 1, "layer's link goes; config's is still kept by b");
      assert.deepEqual((await store.blobs.collectable(before, { limit: 10 })).sort(), [layer, other].sort());
      assert.equal(await store.trash.purgeExpired(new Date(T0 + 20)), 1);
      assert.equal(await store.blobs.isReferenced(config), true, "still linked, within the grace period for this check");
      assert.equal(await store.blobLinks.pruneUnreferenced(before), 1);
      assert.equal(await store.blobs.isReferenced(config), false);
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
      assert.deepEqual(await store.trash.list(repo("team/app"), new Date(T0)), []);
      const refs = [];
      for await (const r of store.trash.references()) refs.push(r);
      assert.deepEqual(refs, []);
    });
  });
}

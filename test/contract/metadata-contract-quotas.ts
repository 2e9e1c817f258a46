// The metadata store contract for storage quotas (quota-store.ts): usage counted on unique
// content per scope, scopes as byte ranges (no neighbour name leaks in), and the quota's lock
// holding across two connections, so concurrent admissions never pass a limit together.
// Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PolicyRefusal } from "../../src/domain/errors.ts";
import type { MetadataStore } from "../../src/metadata/types.ts";
import { admitToQuotas } from "../../src/services/quotas.ts";
import { digestOf, freshStore, manifestRecord, repo, twoProcesses, type MetadataFactory } from "./metadata-fixtures.ts";

const quota = (scope: string, limit: number) => ({ scope, limit, created: new Date(1_700_000_000_000), createdBy: "admin" });

async function link(store: MetadataStore, repository: string, text: string, size: number): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.repositories.ensure(repo(repository));
    await tx.blobs.record(digestOf(text), size);
    await tx.blobLinks.link(repo(repository), digestOf(text));
  });
}

export function metadataQuotaContract(factory: MetadataFactory): void {
  describe("quotas", () => {
    test("set creates or changes the scope's limit, list is in scope order, remove says whether one was there", async (t) => {
      const store = await freshStore(t, factory);
      await store.quotas.set(quota("team/*", 100));
      await store.quotas.set(quota("*", 1000));
      await store.quotas.set(quota("team/*", 200));
      assert.deepEqual((await store.quotas.list()).map((q) => [q.scope, q.limit]), [["*", 1000], ["team/*", 200]]);
      assert.equal(await store.quotas.remove("team/*"), true);
      assert.equal(await store.quotas.remove("team/*"), false);
      // Limits past 2^32 come back as numbers, exactly.
      await store.quotas.set(quota("big/*", 2 ** 50 + 3));
      assert.equal((await store.quotas.list()).find((q) => q.scope === "big/*")?.limit, 2 ** 50 + 3);
    });

    test("usage counts a blob shared by two repositories once per scope and once in the registry, with manifests", async (t) => {
      const store = await freshStore(t, factory);
      await link(store, "team/a", "shared layer", 1000);
      await link(store, "team/b", "shared layer", 1000);
      await link(store, "team/a", "a only", 10);
      await link(store, "other/c", "shared layer", 1000);
      await link(store, "other/c", "c only", 7);
      const manifest = manifestRecord("team/b", "manifest b");
      await store.manifests.put(manifest, { blobs: [], children: [] });
      await store.manifests.put(manifestRecord("team/a", "manifest b"), { blobs: [], children: [] }); // the same manifest in two repositories
      assert.equal(await store.quotas.usage("team/*"), 1000 + 10 + manifest.size);
      assert.equal(await store.quotas.usage("team/a"), 1000 + 10 + manifest.size);
      assert.equal(await store.quotas.usage("team/b"), 1000 + manifest.size);
      assert.equal(await store.quotas.usage("other/*"), 1007);
      assert.equal(await store.quotas.usage("*"), 1000 + 10 + 7 + manifest.size);
      assert.equal(await store.quotas.usage("nobody/*"), 0);
      // The registry's quick bound is never below its count (here: the shared manifest twice).
      assert.equal(await store.quotas.ceiling("*"), 1000 + 10 + 7 + 2 * manifest.size);
      assert.equal(await store.quotas.ceiling("team/*"), null);
      assert.equal(await store.quotas.holds("team/*", digestOf("shared layer")), true);
      assert.equal(await store.quotas.holds("team/*", digestOf("c only")), false);
      assert.equal(await store.quotas.holds("team/*", manifest.digest), true);
      assert.equal(await store.quotas.holds("other/*", manifest.digest), false);
    });

    test("a scope team/* holds team and what is below team/, not its byte neighbours (team-b, team0, teamx, te_am)", async (t) => {
      const store = await freshStore(t, factory);
      const names = ["team", "team/a", "team/a/b", "team-b/x", "team0", "team.x/y", "teamx", "te_am/x", "tea"];
      for (const [i, name] of names.entries()) await link(store, name, `blob ${name}`, 10 ** i);
      assert.equal(await store.quotas.usage("team/*"), 1 + 10 + 100);
      assert.equal(await store.quotas.usage("team"), 1);
      assert.equal(await store.quotas.usage("te_am/*"), 10 ** 7);
    });

    test("unlinking and dropping content lowers usage (what gc does)", async (t) => {
      const store = await freshStore(t, factory);
      await link(store, "team/a", "layer", 500);
      await link(store, "team/b", "layer", 500);
      await store.blobLinks.unlink(repo("team/a"), digestOf("layer"));
      assert.equal(await store.quotas.usage("team/*"), 500);
      await store.blobLinks.unlink(repo("team/b"), digestOf("layer"));
      assert.equal(await store.quotas.usage("team/*"), 0);
    });

    test("a soft-deleted manifest's record counts until purged: its bytes and the blobs it names, each digest once (live or kept), as restorable when nothing live holds it", async (t) => {
      const store = await freshStore(t, factory);
      await link(store, "team/a", "live layer", 1000); // live, and named by the record too
      await store.blobs.record(digestOf("kept layer"), 300); // named by the record only (its link gone)
      const body = Buffer.from('{"deleted":"manifest","bytes":"\u00e9"}'); // 2-byte character: bytes, not characters
      const record = { id: "r1", repository: repo("team/a"), digest: digestOf("deleted manifest"), kind: "manifest" as const, tags: [], mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: null, body, size: body.length, storedAs: null, deletedAt: new Date(1_700_000_000_000), expiresAt: new Date(1_700_003_600_000), deletedBy: null };
      await store.trash.put(record, [digestOf("live layer"), digestOf("kept layer")]);
      // A record of the same manifest elsewhere in the scope (a second repository's delete): once.
      await store.trash.put({ ...record, id: "r2", repository: repo("team/b") }, [digestOf("kept layer")]);
      const expected = { used: 1000 + 300 + body.length, restorable: 300 + body.length };
      assert.deepEqual(await store.quotas.count("team/*"), expected);
      assert.deepEqual(await store.quotas.count("team/a"), expected);
      assert.deepEqual(await store.quotas.count("team/b"), { used: 300 + body.length, restorable: 300 + body.length });
      assert.deepEqual(await store.quotas.count("*"), expected);
      assert.equal(await store.quotas.usage("other/*"), 0);
      assert.ok((await store.quotas.ceiling("*"))! >= expected.used, "the registry's bound stays above its count");
      // Kept content adds nothing when it enters again (a restore, a re-push of the layer).
      assert.equal(await store.quotas.holds("team/b", digestOf("kept layer")), true);
      assert.equal(await store.quotas.holds("team/b", digestOf("deleted manifest")), true);
      assert.equal(await store.quotas.holds("other/*", digestOf("kept layer")), false);
      // Purged (expired): it counts no more.
      await store.trash.purgeExpired(new Date(1_800_000_000_000));
      assert.deepEqual(await store.quotas.count("team/*"), { used: 1000, restorable: 0 });
    });

    test("staged sums the offsets of the scope's open uploads", async (t) => {
      const store = await freshStore(t, factory);
      const open = async (id: string, repository: string, offset: number) => {
        const now = new Date();
        await store.uploads.create({ id, repository: repo(repository), offset: 0, algorithm: "sha256", startedAt: now, updatedAt: now, handle: null, lease: null, writer: null, verified: null });
        if (offset > 0) assert.ok(await store.uploads.advance(id, 0, offset, { handle: null, writer: null }));
      };
      await open("u1", "team/a", 1000);
      await open("u2", "team/b", 20);
      await open("u3", "other/c", 5);
      await open("u4", "team/a", 0);
      assert.equal(await store.quotas.staged("team/*"), 1020);
      assert.equal(await store.quotas.staged("team/a"), 1000);
      assert.equal(await store.quotas.staged("*"), 1025);
      assert.equal(await store.quotas.staged("nobody/*"), 0);
    });

    test("two connections admitting at once never pass the limit together: the quota's lock orders them", async (t) => {
      const stores = await twoProcesses(t, factory);
      await stores[0].quotas.set(quota("team/*", 5500));
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
        stores[i % 2]!.transaction(async (tx) => {
          const digest = digestOf(`layer ${i}`);
          await tx.blobs.hold(digest);
          await admitToQuotas(tx, repo(`team/r${i}`), [{ digest, size: 1000 }], digest);
          await tx.repositories.ensure(repo(`team/r${i}`));
          await tx.blobs.record(digest, 1000);
          await tx.blobLinks.link(repo(`team/r${i}`), digest);
        })));
      const refused = results.filter((r) => r.status === "rejected");
      for (const r of refused) assert.ok((r as PromiseRejectedResult).reason instanceof PolicyRefusal, String((r as PromiseRejectedResult).reason));
      assert.equal(results.length - refused.length, 5);
      assert.equal(await stores[1].quotas.usage("team/*"), 5000);
    });
  });
}

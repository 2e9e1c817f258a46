// The metadata store contract, the portal's read models (metadata/catalog-types.ts): a repository
// summary follows every transaction that records a manifest, tag or chart change, commits with it
// or not at all, and lists in each order with keyset cursors; search entries follow provenance rows.
// Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SummaryFilter } from "../../src/metadata/catalog-types.ts";
import { DEFAULT_ATTRIBUTES } from "../../src/metadata/identity-types.ts";
import type { MetadataParts, MetadataStore } from "../../src/metadata/types.ts";
import { chartRecord, digestOf, freshStore, manifestRecord, repo, tag, twoProcesses, type MetadataFactory } from "./metadata-fixtures.ts";

async function pushed(tx: MetadataParts, repository: string, text: string, tagName: string | null, at: number) {
  const record = manifestRecord(repository, text, { pushedAt: new Date(at) });
  await tx.repositories.ensure(record.repository);
  await tx.manifests.put(record, { blobs: [], children: [] });
  await tx.changes.append({ kind: "manifest.pushed", repository, digest: record.digest, mediaType: record.mediaType, size: record.size });
  if (tagName) {
    await tx.tags.set(record.repository, tag(tagName), record.digest);
    await tx.changes.append({ kind: "tag.set", repository, tag: tagName, digest: record.digest, previous: null });
  }
  return record;
}

/** A blob of some text's digest, with a size of its own. */
const blob = (text: string) => ({ digest: digestOf(`blob ${text}`), size: 1000 + text.length });

/** A manifest naming `blobs` (their rows recorded first, as a push links them), tagged `tagName`. */
function pushNaming(store: MetadataStore, repository: string, text: string, blobs: readonly { digest: ReturnType<typeof digestOf>; size: number }[], tagName: string | null) {
  return store.transaction(async (tx) => {
    for (const b of blobs) await tx.blobs.record(b.digest, b.size);
    const record = manifestRecord(repository, text, { pushedAt: new Date() });
    await tx.repositories.ensure(record.repository);
    await tx.manifests.put(record, { blobs: blobs.map((b) => b.digest), children: [] });
    await tx.changes.append({ kind: "manifest.pushed", repository, digest: record.digest, mediaType: record.mediaType, size: record.size });
    if (tagName) {
      const previous = await tx.tags.set(record.repository, tag(tagName), record.digest);
      await tx.changes.append({ kind: "tag.set", repository, tag: tagName, digest: record.digest, previous });
    }
    return record;
  });
}

/** The summary as the transactions kept it, checked against one counted from the rows (a refresh without what moved). */
async function countedSummary(store: MetadataStore, repository: string) {
  const kept = await store.catalog.summary(repo(repository));
  await store.catalog.refresh(repo(repository));
  assert.deepEqual(kept, await store.catalog.summary(repo(repository)), "the kept counts are the rows' counts");
  return kept ? [kept.tags, kept.manifests, kept.size] : null;
}

export function metadataCatalogContract(factory: MetadataFactory): void {
  describe("read models", () => {
    test("a summary commits with the change that alters it; a rolled-back one leaves it as it was", async (t) => {
      const store = await freshStore(t, factory);
      const first = await store.transaction((tx) => pushed(tx, "team/app", "one", "v1", 1000));
      const summary = await store.catalog.summary(repo("team/app"));
      assert.deepEqual([summary?.tags, summary?.manifests, summary?.size, summary?.newest?.tag, summary?.newest?.digest], [1, 1, first.size, "v1", first.digest]);
      await assert.rejects(store.transaction(async (tx) => {
        await pushed(tx, "team/app", "two", "v2", 2000);
        throw new Error("rolled back");
      }));
      assert.equal((await store.catalog.summary(repo("team/app")))?.tags, 1);
      await store.transaction(async (tx) => {
        await tx.manifests.delete(repo("team/app"), first.digest);
        await tx.tags.deleteAllFor(repo("team/app"), first.digest);
        await tx.changes.append({ kind: "manifest.deleted", repository: "team/app", digest: first.digest });
      });
      assert.equal(await store.catalog.summary(repo("team/app")), null, "nothing left: no summary");
    });

    test("a summary's counts move by what each transaction changed and stay the rows' counts: shared blobs once, a manifest pushed again, tags moved and deleted, manifests deleted, emptied and filled again", async (t) => {
      const store = await freshStore(t, factory);
      const [a, b, c] = [blob("a"), blob("b"), blob("c")];
      const one = await pushNaming(store, "team/counted", "one", [a, b], "v1");
      assert.deepEqual(await countedSummary(store, "team/counted"), [1, 1, one.size + a.size + b.size]);
      const two = await pushNaming(store, "team/counted", "two", [b, c], "v2");
      assert.deepEqual(await countedSummary(store, "team/counted"), [2, 2, one.size + two.size + a.size + b.size + c.size], "b counted once");
      await pushNaming(store, "team/counted", "two", [b, c], "v3");
      assert.deepEqual(await countedSummary(store, "team/counted"), [3, 2, one.size + two.size + a.size + b.size + c.size], "the same manifest again: a tag more, nothing else");
      await store.transaction(async (tx) => {
        const previous = await tx.tags.set(repo("team/counted"), tag("v1"), two.digest);
        await tx.changes.append({ kind: "tag.set", repository: "team/counted", tag: "v1", digest: two.digest, previous });
        await tx.manifests.delete(repo("team/counted"), one.digest);
        await tx.changes.append({ kind: "manifest.deleted", repository: "team/counted", digest: one.digest });
      });
      assert.deepEqual(await countedSummary(store, "team/counted"), [3, 1, two.size + b.size + c.size], "a, named by the deleted manifest alone, leaves; b stays");
      await store.transaction(async (tx) => {
        await tx.tags.delete(repo("team/counted"), tag("v3"));
        await tx.changes.append({ kind: "tag.deleted", repository: "team/counted", tag: "v3", digest: two.digest });
      });
      assert.deepEqual(await countedSummary(store, "team/counted"), [2, 1, two.size + b.size + c.size]);
      await store.transaction(async (tx) => {
        await tx.tags.deleteAllFor(repo("team/counted"), two.digest);
        await tx.manifests.delete(repo("team/counted"), two.digest);
        await tx.changes.append({ kind: "manifest.deleted", repository: "team/counted", digest: two.digest });
      });
      assert.equal(await countedSummary(store, "team/counted"), null, "emptied: no summary");
      const three = await pushNaming(store, "team/counted", "three", [a, c], "v1");
      assert.deepEqual(await countedSummary(store, "team/counted"), [1, 1, three.size + a.size + c.size], "filled again from nothing");
    });

    test("one transaction recording a manifest and deleting another (a forced chart push), or several naming one blob, moves each blob's counter by its sum: the counts stay the rows'", async (t) => {
      const store = await freshStore(t, factory);
      const [a, b, c] = [blob("a"), blob("b"), blob("c")];
      const old = await pushNaming(store, "team/replaced", "old", [a, b], "1.0.0");
      const replace = (gone: { digest: ReturnType<typeof digestOf> }, text: string, blobs: (typeof a)[]) =>
        store.transaction(async (tx) => {
          for (const x of blobs) await tx.blobs.record(x.digest, x.size);
          const record = manifestRecord("team/replaced", text, { pushedAt: new Date() });
          await tx.manifests.put(record, { blobs: blobs.map((x) => x.digest), children: [] });
          await tx.changes.append({ kind: "manifest.pushed", repository: "team/replaced", digest: record.digest, mediaType: record.mediaType, size: record.size });
          await tx.tags.set(repo("team/replaced"), tag("1.0.0"), record.digest);
          await tx.manifests.delete(repo("team/replaced"), gone.digest);
          await tx.changes.append({ kind: "manifest.deleted", repository: "team/replaced", digest: gone.digest });
          return record;
        });
      const fresh = await replace(old, "new", [b, c]);
      assert.deepEqual(await countedSummary(store, "team/replaced"), [1, 1, fresh.size + b.size + c.size], "b named and unnamed in one transaction: counted once, still");
      const twice = await store.transaction(async (tx) => {
        const records = [manifestRecord("team/replaced", "x"), manifestRecord("team/replaced", "y")];
        for (const record of records) await tx.manifests.put(record, { blobs: [a.digest], children: [] });
        await tx.changes.append({ kind: "manifest.pushed", repository: "team/replaced", digest: records[0]!.digest, mediaType: records[0]!.mediaType, size: records[0]!.size });
        return records;
      });
      assert.deepEqual(await countedSummary(store, "team/replaced"), [1, 3, fresh.size + twice[0]!.size + twice[1]!.size + a.size + b.size + c.size], "a named twice in one transaction: once");
      await replace(fresh, "again", [c]);
      const again = manifestRecord("team/replaced", "again");
      await store.transaction(async (tx) => {
        await tx.manifests.delete(repo("team/replaced"), twice[0]!.digest);
        await tx.changes.append({ kind: "manifest.deleted", repository: "team/replaced", digest: twice[0]!.digest });
      });
      assert.deepEqual(await countedSummary(store, "team/replaced"), [1, 2, again.size + twice[1]!.size + a.size + c.size], "b gone with its last manifest; a kept by y");
    });

    test("pushes and deletes side by side from two processes, naming the same blobs, keep a summary's counts those of the rows", async (t) => {
      const stores = await twoProcesses(t, factory);
      const shared = blob("shared");
      const pushes = async (from: number, to: number) => {
        const records = await Promise.all(Array.from({ length: to - from }, (_, k) => pushNaming(stores[(from + k) % 2]!, "team/busy", `m${from + k}`, [shared, blob(`own ${from + k}`)], `t${from + k}`)));
        return records;
      };
      const first = await pushes(0, 8);
      await Promise.all([
        pushes(8, 16),
        ...first.slice(0, 6).map((record, k) =>
          stores[k % 2]!.transaction(async (tx) => {
            await tx.tags.deleteAllFor(repo("team/busy"), record.digest);
            await tx.manifests.delete(repo("team/busy"), record.digest);
            await tx.changes.append({ kind: "manifest.deleted", repository: "team/busy", digest: record.digest });
          }),
        ),
      ]);
      const [tags, manifests] = (await countedSummary(stores[0], "team/busy"))!;
      assert.deepEqual([tags, manifests], [10, 10]);
    });

    test("a walk of a repository's manifests lists, after those pushed before it began (newest first), those pushed since (oldest first): one pushed again mid-walk is not missed", async (t) => {
      const store = await freshStore(t, factory);
      const [one, two, three] = await store.transaction(async (tx) => [await pushed(tx, "team/app", "one", null, 1000), await pushed(tx, "team/app", "two", null, 2000), await pushed(tx, "team/app", "three", null, 3000)]);
      const seen: string[] = [];
      let page = await store.catalog.manifests(repo("team/app"), { untagged: false }, null, 1);
      seen.push(...page.map((m) => m.digest));
      // "one" pushed again (the same bytes) behind the cursor, and a new one; then the walk goes on.
      const again = Date.now() + 1000;
      await store.transaction(async (tx) => {
        await tx.manifests.put({ ...one, pushedAt: new Date(again) }, { blobs: [], children: [] });
        await pushed(tx, "team/app", "four", null, again + 1);
      });
      while (page.length > 0) {
        page = await store.catalog.manifests(repo("team/app"), { untagged: false }, page.at(-1)!.walk, 1);
        seen.push(...page.map((m) => m.digest));
      }
      assert.deepEqual(seen, [three.digest, two.digest, one.digest, manifestRecord("team/app", "four").digest]);
      assert.deepEqual((await store.catalog.manifests(repo("team/app"), { untagged: false }, null, 10)).map((m) => m.pushed.getTime()), [again + 1, again, 3000, 2000], "a new walk: newest push first");
    });

    test("a walk of a repository's tags by time (either order) lists each tag once, one pushed again mid-walk (set again, or moved) at the end where it points now", async (t) => {
      const store = await freshStore(t, factory);
      const tick = () => new Promise((r) => setTimeout(r, 3)); // tags.set stamps the clock: each its own millisecond
      const one = await store.transaction((tx) => pushed(tx, "team/app", "one", null, 1000));
      const two = await store.transaction((tx) => pushed(tx, "team/app", "two", null, 2000));
      for (const order of ["time_desc", "time_asc"] as const) {
        for (const name of ["t0", "t1", "t2"]) {
          await store.transaction((tx) => tx.tags.set(repo("team/app"), tag(name), one.digest));
          await tick();
        }
        // Newest first the one not yet listed is the oldest; oldest first, the newest.
        const again = order === "time_desc" ? "t0" : "t2";
        const seen: string[] = [];
        let page = await store.catalog.tags(repo("team/app"), { sort: order }, null, 1);
        seen.push(...page.map((r) => r.name));
        await store.transaction((tx) => tx.tags.set(repo("team/app"), tag(again), two.digest));
        while (page.length > 0) {
          page = await store.catalog.tags(repo("team/app"), { sort: order }, { by: "time", walk: page.at(-1)!.walk! }, 1);
          seen.push(...page.map((r) => `${r.name}${r.digest === two.digest ? "@two" : ""}`));
        }
        assert.deepEqual(seen, order === "time_desc" ? ["t2", "t1", "t0@two"] : ["t0", "t1", "t2@two"], order);
        await tick();
      }
    });

    test("chart rows decide a chart kind: oci, classic, both", async (t) => {
      const store = await freshStore(t, factory);
      await store.transaction(async (tx) => {
        const m = await pushed(tx, "charts/a", "chart a", "1.0.0", 1000);
        await tx.charts.record(chartRecord("charts/a", "1.0.0", { manifestDigest: m.digest, storedAs: "classic" }));
        await tx.changes.append({ kind: "chart.recorded", repository: "charts/a", version: "1.0.0" });
      });
      assert.equal((await store.catalog.summary(repo("charts/a")))?.kind, "chart-classic");
      await store.transaction(async (tx) => {
        const m = await pushed(tx, "charts/a", "chart a 2", "2.0.0", 2000);
        await tx.charts.record(chartRecord("charts/a", "2.0.0", { manifestDigest: m.digest, storedAs: "oci" }));
        await tx.changes.append({ kind: "chart.recorded", repository: "charts/a", version: "2.0.0" });
      });
      assert.equal((await store.catalog.summary(repo("charts/a")))?.kind, "chart-both");
    });

    test("list pages by name, last push and size in both orders after a cursor; count and names filter by q and kind", async (t) => {
      const store = await freshStore(t, factory);
      await store.transaction(async (tx) => {
        // Untagged: the last push is then the manifest's own time, not the clock's at tag time.
        for (const [i, name] of ["c", "a", "d", "b"].entries()) await pushed(tx, `r/${name}`, `${name}`.repeat(i + 1), null, 1000 + i);
      });
      const names = async (sort: "name" | "pushed" | "size", order: "asc" | "desc") => {
        const first = await store.catalog.list({ sort, order }, null, 2);
        const last = first.at(-1)!;
        const rest = await store.catalog.list({ sort, order }, { value: sort === "name" ? last.name : sort === "pushed" ? last.pushed!.getTime() : last.size, name: last.name }, 10);
        return [...first, ...rest].map((r) => r.name);
      };
      assert.deepEqual(await names("name", "asc"), ["r/a", "r/b", "r/c", "r/d"]);
      assert.deepEqual(await names("name", "desc"), ["r/d", "r/c", "r/b", "r/a"]);
      assert.deepEqual(await names("pushed", "desc"), ["r/b", "r/d", "r/a", "r/c"]);
      assert.deepEqual(await names("size", "asc"), ["r/c", "r/a", "r/d", "r/b"]);
      assert.equal(await store.catalog.count({ q: "/b" }), 1);
      assert.equal(await store.catalog.count({ kind: "artifact" }), 4, "a manifest without provenance or image config is an artifact");
      assert.deepEqual((await store.catalog.names({ q: "%" })), [], "q is a substring, not a pattern");
      await store.transaction((tx) => pushed(tx, "r", "the repository r itself", null, 5000));
      await store.transaction((tx) => pushed(tx, "rx/a", "beside r/", null, 5001));
      assert.deepEqual((await store.catalog.names({ within: ["r/*"] })).sort(), ["r", "r/a", "r/b", "r/c", "r/d"], "r/* is r and what is under r/");
      assert.deepEqual(await store.catalog.names({ within: ["rx/a", "r/b"] }), ["r/b", "rx/a"]);
      assert.deepEqual(await store.catalog.names({ within: [] }), []);
      assert.deepEqual((await store.catalog.list({ sort: "pushed", order: "desc", within: ["r/*"] }, null, 2)).map((r) => r.name), ["r", "r/b"]);
    });

    test("a kind sorted by last push or size pages in order, in both directions, with ties broken by name (migration 028's indexes)", async (t) => {
      const store = await freshStore(t, factory);
      // An image manifest (config of an image's media type); its size varies with the padding.
      const image = (i: number) => JSON.stringify({
        schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"0".repeat(63)}${i % 10}`, size: 2 }, layers: [],
        annotations: { pad: "x".repeat((i * 7) % 5) },
      });
      await store.transaction(async (tx) => {
        // Pushed times repeat (i % 3), so the name decides between equals.
        for (let i = 0; i < 12; i++) await pushed(tx, `k/r${String(i).padStart(2, "0")}`, i % 2 === 0 ? image(i) : `artifact ${i}`, null, 1000 + (i % 3));
      });
      const all = await Promise.all((await store.catalog.names({ kind: "image" })).map(async (name) => (await store.catalog.summary(repo(name)))!));
      assert.equal(all.length, 6);
      assert.ok(all.every((r) => r.kind === "image"));
      for (const sort of ["pushed", "size"] as const) {
        const value = (r: (typeof all)[number]) => (sort === "pushed" ? r.pushed!.getTime() : r.size);
        for (const order of ["asc", "desc"] as const) {
          const sign = order === "asc" ? 1 : -1;
          const expected = [...all].sort((a, b) => sign * (value(a) - value(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))).map((r) => r.name);
          const seen: string[] = [];
          let after = null as { value: number; name: string } | null;
          for (;;) {
            const page = await store.catalog.list({ kind: "image", sort, order }, after, 2);
            seen.push(...page.map((r) => r.name));
            if (page.length < 2) break;
            after = { value: value(page.at(-1)!), name: page.at(-1)!.name };
          }
          assert.deepEqual(seen, expected, `${sort} ${order}`);
        }
      }
    });

    test("attributed: a kind's rows also, without or only the repositories that have attributes of their own", async (t) => {
      const store = await freshStore(t, factory);
      await store.transaction(async (tx) => {
        for (const [i, name] of ["a", "b", "c"].entries()) await pushed(tx, `r/${name}`, name, null, 1000 + i);
      });
      await store.attributes.set("r/b", "v1", { ...DEFAULT_ATTRIBUTES, readEnabled: false });
      await store.attributes.set("r/c", "", { ...DEFAULT_ATTRIBUTES, anonymousPull: true });
      const listed = async (filter: Omit<SummaryFilter, "sort" | "order">) => (await store.catalog.list({ ...filter, sort: "name", order: "asc" }, null, 10)).map((r) => r.name);
      assert.deepEqual(await listed({ kind: "image" }), []);
      assert.deepEqual(await listed({ kind: "image", attributed: "also" }), ["r/b", "r/c"], "a repository with attributes whatever its stored kind");
      assert.deepEqual(await listed({ kind: "artifact", attributed: "without" }), ["r/a"]);
      assert.deepEqual(await store.catalog.names({ attributed: "only" }), ["r/b", "r/c"]);
      assert.equal(await store.catalog.count({ kind: "artifact", attributed: "without" }), 1);
      assert.equal(await store.catalog.count({ kind: "artifact", attributed: "also" }), 3);
    });

    test("unverified: manifests with no signature verified under the given trust now; an outcome of another trust or past its until counts as not verified", async (t) => {
      const store = await freshStore(t, factory);
      const trust = "fingerprint-now";
      const at = new Date(1000);
      const images = await store.transaction(async (tx) => {
        const out = [];
        for (const name of ["a", "b", "c", "d", "e"]) {
          const m = await pushed(tx, `v/${name}`, `image ${name}`, null, 1000);
          await tx.provenance.record({
            repository: m.repository, digest: m.digest, mediaType: m.mediaType, artifactType: null, size: m.size, subject: null, recordedAt: at,
            facts: { kind: "image", annotations: {}, layers: 0, config: { digest: m.digest, mediaType: "application/vnd.oci.image.config.v1+json", size: 2, read: false, labels: {}, history: [] } },
          });
          out.push(m);
        }
        return out;
      });
      const sign = async (i: number, verdict: { verified: boolean; until: number | null; trust: string } | null) => {
        const m = images[i]!;
        const signature = manifestRecord(m.repository, `signature of ${m.digest} ${verdict === null ? "none" : "one"}`, { subject: m.digest });
        await store.transaction(async (tx) => {
          await tx.provenance.record({
            repository: m.repository, digest: signature.digest, mediaType: signature.mediaType, artifactType: "application/vnd.cncf.notary.signature", size: signature.size, subject: m.digest, recordedAt: at,
            facts: { kind: "signature", scheme: "notation", envelope: "jws", annotations: {}, signer: { thumbprints: [] } },
          });
          if (verdict) await tx.provenance.setVerdict(m.repository, signature.digest, m.digest, verdict);
        });
        return signature;
      };
      await sign(0, { verified: true, until: null, trust });
      await sign(1, { verified: true, until: 5000, trust });
      const old = await sign(2, { verified: true, until: null, trust: "fingerprint-before" });
      await sign(3, { verified: false, until: null, trust });
      const unset = await sign(3, null);
      const find = async (now: number) => (await store.search.find({ terms: [], unsigned: false, unverified: { trust, now } }, null, 100)).map((h) => h.repository);
      assert.deepEqual(await find(4999), ["v/c", "v/d", "v/e"]);
      assert.deepEqual(await find(5000), ["v/b", "v/c", "v/d", "v/e"], "until is the first moment it no longer verifies");
      assert.deepEqual((await store.search.find({ terms: [], unsigned: true }, null, 100)).map((h) => h.repository), ["v/e"]);
      const stale = await store.provenance.staleVerdicts(trust, null, 10);
      assert.deepEqual(stale.map((r) => r.digest).sort(), [old.digest, unset.digest].sort(), "of another trust, or never computed");
      assert.deepEqual((await store.provenance.staleVerdicts(trust, stale[0]!, 10)).map((r) => r.digest), [stale[1]!.digest]);
      await store.transaction((tx) => tx.provenance.setVerdict(old.repository, old.digest, images[2]!.digest, { verified: true, until: null, trust }));
      assert.deepEqual(await find(4999), ["v/d", "v/e"]);
      await store.transaction((tx) => tx.provenance.forget(old.repository, old.digest));
      assert.deepEqual(await find(4999), ["v/c", "v/d", "v/e"], "a deleted signature's outcome goes with it");
    });

    test("a large scope sorted by push pages the same as a small one (the walk of the sort's index, past 2,000 names)", async (t) => {
      const store = await freshStore(t, factory);
      await store.transaction(async (tx) => {
        for (let i = 0; i < 2010; i++) await pushed(tx, `big/r${String(i).padStart(4, "0")}`, `big ${i}`, null, 10_000 + (i % 7) * 1000 + i);
        for (let i = 0; i < 30; i++) await pushed(tx, `other/r${i}`, `other ${i}`, null, 50_000 + i);
      });
      const expected = (await store.catalog.names({ within: ["big/*"] })).length;
      assert.equal(expected, 2010);
      const seen: string[] = [];
      let after = null as { value: number; name: string } | null;
      for (;;) {
        const page = await store.catalog.list({ sort: "pushed", order: "desc", within: ["big/*"] }, after, 500);
        seen.push(...page.map((r) => r.name));
        if (page.length < 500) break;
        const last = page.at(-1)!;
        after = { value: last.pushed!.getTime(), name: last.name };
      }
      assert.equal(seen.length, 2010);
      assert.equal(new Set(seen).size, 2010);
      assert.ok(seen.every((name) => name.startsWith("big/")));
      const times = await Promise.all(seen.slice(0, 50).map(async (name) => (await store.catalog.summary(repo(name)))!.pushed!.getTime()));
      assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    });

    test("a contains term finds exactly what a scan of every value finds, through the trigram index and without it (under 3 characters)", async (t) => {
      const store = await freshStore(t, factory);
      const values = [
        "https://git.example.com/acme/app/Dockerfile", "https://git.example.com/acme-tools/app", "git.example.com/zeta",
        "100%_off", "100 percent", 'say "hi" there', "Straße ünïcode", "ab", "xabx", "a\\b%c",
      ];
      const digests = await store.transaction(async (tx) => {
        const out = [];
        for (const [i, value] of values.entries()) {
          const m = await pushed(tx, `team/r${i}`, `image ${i}`, null, 1000 + i);
          await tx.search.replace(m.repository, m.digest, [{ digest: m.digest, source: "label", key: "build.dockerfile", value }, { digest: m.digest, source: "annotation", key: "build.dockerfile", value: "acme everywhere" }]);
          out.push(m);
        }
        return out;
      });
      const find = async (part: string) => (await store.search.find({ terms: [{ source: "label", key: "build.dockerfile", match: "contains", value: part }], unsigned: false }, null, 100)).map((h) => h.repository);
      // Parts whose letters have one case in every value, so the answer does not depend on how a database folds case.
      for (const part of ["acme", "acme/", "example.com/", "100%", "%_", "0%_o", '"hi"', 'y "', "ße ü", "ünï", "ab", "b", "a\\b", "\\b%", "", "nowhere", "Dockerfile"]) {
        const expected = values.flatMap((v, i) => (v.includes(part) ? [`team/r${i}`] : []));
        assert.deepEqual(await find(part), expected, `~${JSON.stringify(part)}`);
      }
      // The index follows every change: a replaced value is found by its new text only, a forgotten one not at all.
      await store.transaction((tx) => tx.search.replace(digests[2]!.repository, digests[2]!.digest, [{ digest: digests[2]!.digest, source: "label", key: "build.dockerfile", value: "git.example.com/omega" }]));
      assert.deepEqual(await find("zeta"), []);
      assert.deepEqual(await find("omega"), ["team/r2"]);
      await store.transaction((tx) => tx.search.forget(digests[0]!.repository, digests[0]!.digest));
      assert.deepEqual(await find("acme"), ["team/r1"]);
      // An equality drives the query wherever it stands among the terms; the answer is the same.
      const both = await store.search.find({ terms: [{ source: "label", key: "build.dockerfile", match: "contains", value: "example" }, { source: "annotation", key: "build.dockerfile", match: "equals", value: "acme everywhere" }], unsigned: false }, null, 100);
      assert.deepEqual(both.map((h) => h.repository), ["team/r1"]);
      // Two contains terms: the longer drives (through the index), the 2-character one is checked per hit.
      const two = await store.search.find({ terms: [{ source: "label", key: "build.dockerfile", match: "contains", value: "ap" }, { source: "label", key: "build.dockerfile", match: "contains", value: "acme-tools" }], unsigned: false }, null, 100);
      assert.deepEqual(two.map((h) => h.repository), ["team/r1"]);
    });

    test("a contains term that most values hold pages exactly as a narrow one: full pages in key order, every hit once, with the other terms", async (t) => {
      // More than BROAD_PER_HIT × 10 (catalog-search.ts) values hold "common": pages of 10 walk the
      // manifests in key order instead of sorting the hits. Every seventh value does not hold it.
      const store = await freshStore(t, factory);
      const count = 420;
      const expected: string[] = [];
      await store.transaction(async (tx) => {
        for (let i = 0; i < count; i++) {
          const name = `wide/r${String(i).padStart(5, "0")}`;
          const m = await pushed(tx, name, `wide ${i}`, null, 1000 + i);
          const value = i % 7 === 0 ? `rare-${i}` : `https://git.example.com/common/${i}`;
          await tx.search.replace(m.repository, m.digest, [{ digest: m.digest, source: "label", key: "build.dockerfile", value }, { digest: m.digest, source: "label", key: "build.user", value: `dev${i % 3}` }]);
          if (i % 7 !== 0) expected.push(name);
        }
      });
      const term = { source: "label" as const, key: "build.dockerfile", match: "contains" as const, value: "common" };
      const seen: string[] = [];
      let after: { repository: string; digest: string } | null = null;
      for (;;) {
        const page = await store.search.find({ terms: [term], unsigned: false }, after, 10);
        seen.push(...page.map((h) => h.repository));
        if (page.length < 10) break;
        after = { repository: page.at(-1)!.repository, digest: page.at(-1)!.digest };
      }
      assert.deepEqual(seen, expected);
      const withUser = await store.search.find({ terms: [term, { source: "label", key: "build.user", match: "contains", value: "dev2" }], unsigned: false }, null, 10);
      assert.deepEqual(withUser.map((h) => h.repository), expected.filter((name) => Number(name.slice(6)) % 3 === 2).slice(0, 10));
      const scoped = await store.search.find({ terms: [term], unsigned: false, repositoryPrefix: "wide/r0003" }, null, 10);
      assert.deepEqual(scoped.map((h) => h.repository), expected.filter((name) => name.startsWith("wide/r0003")));
      assert.equal(scoped.length, 9, "wide/r00030 … r00039 but r00035 (5 × 7)");
    });
  });
}

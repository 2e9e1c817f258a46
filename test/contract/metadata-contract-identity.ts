// The metadata store contract, identity and provenance parts: principals and their secrets,
// scope maps, attributes, the audit trail, signing keys, provenance records and registry-side
// metadata values with their history. Entry point: metadata-contract.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_ATTRIBUTES, type Principal } from "../../src/metadata/identity-types.ts";
import type { ProvenanceRecord } from "../../src/metadata/provenance-types.ts";
import { digestOf, freshStore, manifestRecord, repo, tag, type MetadataFactory } from "./metadata-fixtures.ts";

function principal(id: string, name: string, extra: Partial<Principal> = {}): Principal {
  return { id, kind: "user", name, roles: ["acrpull"], scope: null, scopeMap: null, enabled: true, expiresAt: null, createdAt: new Date(1_700_000_000_000), ...extra };
}

export function metadataIdentityContract(factory: MetadataFactory): void {
  describe("principals and secrets", () => {
    test("create, get, byName, list by kind in name order, update, delete", async (t) => {
      const store = await freshStore(t, factory);
      const alice = principal("p1", "alice", { roles: ["acrpush", "acrdelete"], expiresAt: new Date(1_800_000_000_000) });
      await store.principals.create(alice);
      await store.principals.create(principal("p2", "Bob", { kind: "sp", scope: "team/*" }));
      await store.principals.create(principal("p3", "ci", { kind: "token", scopeMap: "ci-map", enabled: false }));
      assert.deepEqual(await store.principals.get("p1"), alice);
      assert.deepEqual(await store.principals.byName("alice"), alice);
      assert.equal(await store.principals.get("nope"), null);
      assert.equal(await store.principals.byName("Alice"), null);
      assert.deepEqual((await store.principals.list()).map((p) => p.name), ["Bob", "alice", "ci"]);
      assert.deepEqual((await store.principals.list("token")).map((p) => [p.name, p.enabled, p.scopeMap]), [["ci", false, "ci-map"]]);
      await assert.rejects(store.principals.create(principal("p4", "alice")), "a second principal of one name");
      assert.equal(await store.principals.update("p1", { roles: ["owner"], enabled: false, expiresAt: null, scope: "x/*" }), true);
      assert.deepEqual(await store.principals.get("p1"), { ...alice, roles: ["owner"], enabled: false, expiresAt: null, scope: "x/*" });
      assert.equal(await store.principals.update("nope", { enabled: true }), false);
      assert.equal(await store.principals.update("p2", {}), true);
      assert.equal(await store.principals.delete("p1"), true);
      assert.equal(await store.principals.delete("p1"), false);
      assert.equal(await store.principals.byName("alice"), null);
    });

    test("secrets: a slot is replaced, listed in slot order, deleted one or all; deleting the principal drops them", async (t) => {
      const store = await freshStore(t, factory);
      await store.principals.create(principal("p1", "alice"));
      const one = { slot: 1 as const, hash: "h1", expiresAt: null, createdAt: new Date(1_700_000_000_000) };
      const two = { slot: 2 as const, hash: "h2", expiresAt: new Date(1_900_000_000_000), createdAt: new Date(1_700_000_000_001) };
      await store.secrets.set("p1", two);
      await store.secrets.set("p1", one);
      assert.deepEqual(await store.secrets.list("p1"), [one, two]);
      const replaced = { ...one, hash: "h1b", createdAt: new Date(1_700_000_000_002) };
      await store.secrets.set("p1", replaced);
      assert.deepEqual(await store.secrets.list("p1"), [replaced, two]);
      await store.secrets.delete("p1", 1);
      assert.deepEqual(await store.secrets.list("p1"), [two]);
      await store.secrets.set("p1", one);
      await store.principals.delete("p1");
      assert.deepEqual(await store.secrets.list("p1"), []);
      await store.secrets.set("p2", one);
      await store.secrets.delete("p2");
      assert.deepEqual(await store.secrets.list("p2"), []);
    });
  });

  describe("scope maps, attributes, audit, signing keys", () => {
    test("scope maps: put replaces, get, list in name order, delete", async (t) => {
      const store = await freshStore(t, factory);
      const map = { name: "ci", description: "pushes", rules: [{ repository: "team/*", actions: ["content/read" as const, "content/write" as const] }], createdAt: new Date(1_700_000_000_000) };
      await store.scopeMaps.put(map);
      await store.scopeMaps.put({ ...map, name: "Admin", rules: [] });
      assert.deepEqual(await store.scopeMaps.get("ci"), map);
      const changed = { ...map, description: "reads", rules: [{ repository: "*", actions: ["content/read" as const] }] };
      await store.scopeMaps.put(changed);
      assert.deepEqual(await store.scopeMaps.get("ci"), changed);
      assert.deepEqual((await store.scopeMaps.list()).map((m) => m.name), ["Admin", "ci"]);
      assert.equal(await store.scopeMaps.delete("ci"), true);
      assert.equal(await store.scopeMaps.delete("ci"), false);
      assert.equal(await store.scopeMaps.get("ci"), null);
    });

    test("attributes: null until set, per repository and tag; unlisted tags and repositories", async (t) => {
      const store = await freshStore(t, factory);
      assert.equal(await store.attributes.get("r", ""), null);
      const hidden = { ...DEFAULT_ATTRIBUTES, listEnabled: false };
      const locked = { ...DEFAULT_ATTRIBUTES, writeEnabled: false, deleteEnabled: false, anonymousPull: true };
      await store.attributes.set("r", "", locked);
      await store.attributes.set("r", "v1", hidden);
      await store.attributes.set("r", "v2", DEFAULT_ATTRIBUTES);
      await store.attributes.set("s", "", hidden);
      assert.deepEqual(await store.attributes.get("r", ""), locked);
      assert.deepEqual(await store.attributes.get("r", "v1"), hidden);
      assert.equal(await store.attributes.get("r", "v3"), null);
      assert.deepEqual(await store.attributes.unlisted("r"), ["v1"]);
      assert.deepEqual(await store.attributes.unlistedRepositories(), ["s"]);
      await store.attributes.set("r", "v1", DEFAULT_ATTRIBUTES);
      assert.deepEqual(await store.attributes.unlisted("r"), []);
      const all = (await store.attributes.all()).sort((a, b) => (a.repository + a.tag).localeCompare(b.repository + b.tag));
      assert.deepEqual(all, [
        { repository: "r", tag: "", attributes: locked },
        { repository: "r", tag: "v1", attributes: DEFAULT_ATTRIBUTES },
        { repository: "r", tag: "v2", attributes: DEFAULT_ATTRIBUTES },
        { repository: "s", tag: "", attributes: hidden },
      ]);
    });

    test("audit: recent is newest first, at most `limit`, with every field", async (t) => {
      const store = await freshStore(t, factory);
      const events = [1, 2, 3].map((i) => ({
        id: `e${i}`, at: new Date(1_700_000_000_000 + i), event: "sign-in", identity: "alice", action: "login",
        repository: i === 2 ? "team/app" : null, outcome: "success" as const, client: i === 3 ? "10.0.0.1" : null, detail: i === 1 ? { why: "x", n: 1 } : null,
      }));
      for (const e of events) await store.audit.append(e);
      assert.deepEqual(await store.audit.recent(2), [events[2], events[1]]);
      assert.deepEqual(await store.audit.recent(10), [...events].reverse());
    });

    test("signing keys: active ones newest first; a retired key is no longer active", async (t) => {
      const store = await freshStore(t, factory);
      const key = (kid: string, at: number) => ({ kid, algorithm: "ES256", privateJwk: `{"d":"${kid}"}`, publicJwk: `{"x":"${kid}"}`, createdAt: new Date(at), retiredAt: null });
      await store.signingKeys.add(key("old", 1_700_000_000_000));
      await store.signingKeys.add(key("new", 1_700_000_100_000));
      assert.deepEqual(await store.signingKeys.active(), [key("new", 1_700_000_100_000), key("old", 1_700_000_000_000)]);
      await store.signingKeys.retire("old");
      assert.deepEqual((await store.signingKeys.active()).map((k) => k.kid), ["new"]);
      await assert.rejects(store.signingKeys.add(key("new", 1)), "a kid is unique");
    });
  });

  describe("provenance and metadata values", () => {
    test("provenance: record (again replaces), get, referring, parents, tagsOf, forget", async (t) => {
      const store = await freshStore(t, factory);
      const r = repo("r");
      const image = digestOf("image");
      const record: ProvenanceRecord = {
        repository: r, digest: digestOf("sig"), mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.cncf.notary.signature",
        size: 321, subject: image, recordedAt: new Date(1_700_000_000_000),
        facts: { kind: "signature", scheme: "notation", envelope: "jws", annotations: { a: "b" }, signer: { thumbprints: ["AB"] } },
      };
      await store.provenance.record(record);
      assert.deepEqual(await store.provenance.get(r, record.digest), record);
      const again = { ...record, facts: { ...record.facts, annotations: { a: "c" } } } as ProvenanceRecord;
      await store.provenance.record(again);
      assert.deepEqual(await store.provenance.get(r, record.digest), again);
      assert.equal(await store.provenance.get(repo("s"), record.digest), null);
      assert.deepEqual(await store.provenance.referring(r, image), [again]);
      assert.deepEqual(await store.provenance.referring(r, digestOf("x")), []);
      const [b, a] = [manifestRecord("r", "index b"), manifestRecord("r", "index a")];
      for (const m of [b, a]) await store.manifests.put(m, { blobs: [digestOf("config")], children: [image] });
      assert.deepEqual(await store.provenance.parents(r, image), [a.digest, b.digest].sort());
      assert.deepEqual(await store.provenance.parents(r, digestOf("config")), [], "blob references are not parents");
      await store.tags.set(r, tag("b"), image);
      await store.tags.set(r, tag("A"), image);
      assert.deepEqual(await store.provenance.tagsOf(r, image), ["A", "b"]);
      await store.provenance.forget(r, record.digest);
      assert.equal(await store.provenance.get(r, record.digest), null);
    });

    test("metadata values: versions per key, a delete is a version, unchanged is null, repository and manifest targets apart", async (t) => {
      const store = await freshStore(t, factory);
      const target = { repository: repo("r"), digest: null };
      const onManifest = { repository: repo("r"), digest: digestOf("m") };
      const at = (n: number) => new Date(1_700_000_000_000 + n);
      assert.deepEqual(await store.metadataValues.change(target, "owner", "alice", "admin", at(1)), { key: "owner", version: 1, at: at(1), actor: "admin", old: null, new: "alice" });
      assert.equal(await store.metadataValues.change(target, "owner", "alice", "admin", at(2)), null);
      assert.equal(await store.metadataValues.change(target, "gone", null, "admin", at(2)), null);
      assert.equal((await store.metadataValues.change(target, "owner", "bob", "ci", at(3)))?.version, 2);
      await store.metadataValues.change(target, "Team", "x", "ci", at(4));
      await store.metadataValues.change(onManifest, "owner", "carol", "ci", at(5));
      assert.deepEqual(await store.metadataValues.get(target, "owner"), { key: "owner", value: "bob", version: 2, updatedAt: at(3), updatedBy: "ci" });
      assert.deepEqual((await store.metadataValues.list(target)).map((v) => [v.key, v.value]), [["Team", "x"], ["owner", "bob"]]);
      assert.deepEqual((await store.metadataValues.list(onManifest)).map((v) => v.value), ["carol"]);
      assert.deepEqual(await store.metadataValues.change(target, "owner", null, "admin", at(6)), { key: "owner", version: 3, at: at(6), actor: "admin", old: "bob", new: null });
      assert.equal(await store.metadataValues.get(target, "owner"), null);
      assert.equal((await store.metadataValues.change(target, "owner", "dave", "admin", at(7)))?.version, 4, "versions never repeat after a delete");
      assert.deepEqual((await store.metadataValues.history(target, "owner")).map((c) => [c.version, c.old, c.new]), [[1, null, "alice"], [2, "alice", "bob"], [3, "bob", null], [4, null, "dave"]]);
      assert.equal((await store.metadataValues.history(target)).length, 5);
      assert.equal((await store.metadataValues.history(onManifest)).length, 1);
    });

    test("metadata values: concurrent changes of one key all land, with distinct versions", async (t) => {
      const store = await freshStore(t, factory);
      const target = { repository: repo("r"), digest: null };
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => store.metadataValues.change(target, "k", `v${i}`, "a", new Date(1_700_000_000_000 + i))));
      assert.deepEqual(results.map((c) => c?.version).sort(), [1, 2, 3, 4, 5, 6]);
      const history = await store.metadataValues.history(target, "k");
      assert.equal(history.length, 6);
      // Each change saw the one before it: the old values chain from null through every new value.
      const byVersion = [...history].sort((a, b) => a.version - b.version);
      byVersion.forEach((c, i) => assert.equal(c.old, i === 0 ? null : byVersion[i - 1]!.new));
      assert.equal((await store.metadataValues.get(target, "k"))?.value, byVersion.at(-1)!.new);
    });
  });
}

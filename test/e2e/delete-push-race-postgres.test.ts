// A manifest DELETE racing a push of the same manifest, on PostgreSQL with two `berth serve`
// processes over one database (transactions side by side under READ COMMITTED). Round after
// round the same manifest is deleted through one instance while it is pushed again through the
// other; after each round the outcome must be one a serial order explains: the push survives
// entirely (the manifest, and the tag it set pointing at it) or the delete came after it and it
// is gone entirely. Never a 201 whose manifest is missing while its tag points at it, never a
// dangling tag, and `berth fsck` clean at the end (it names a dangling tag). Soft delete on (its
// trash record is a read before the rows go) and off; and the same rounds on SQLite (one process,
// one writer at a time), where every read the decision needs is inside the write transaction.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runBerthCli } from "../support/berth.ts";
import { OCI_MANIFEST } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, type TestImage } from "../support/oci-images.ts";
import { query, usePostgres } from "../support/postgres.ts";
import { startConfigPair, type ConfigPair } from "../support/config-pair.ts";

const cluster = usePostgres();
const ROUNDS = 40;

type Pair = ConfigPair;

/** PostgreSQL: two instances over one database. SQLite: one instance, both clients on it. */
async function startPair(driver: "postgres" | "sqlite", settings: Record<string, unknown>): Promise<Pair> {
  return startConfigPair(driver === "postgres" ? await cluster().database() : null, settings, { prefix: "berth-pg-race-", poolSize: 6 });
}

/** What the registry holds for the round's repository: each tag's target, and whether the manifests are there. */
async function stateOf(pair: Pair, repo: string, images: readonly TestImage[]): Promise<{ tags: Map<string, string>; present: Set<string>; problems: string[] }> {
  const [client] = pair.clients;
  const problems: string[] = [];
  const tags = new Map<string, string>();
  const listed = await client.raw("GET", `/v2/${repo}/tags/list`);
  const names = listed.status === 200 ? ((await listed.json()) as { tags: string[] | null }).tags ?? [] : (await listed.body?.cancel(), []);
  for (const tag of names) {
    const head = await client.headManifest(repo, tag, OCI_MANIFEST);
    if (head === null) problems.push(`tag ${tag} is listed but GET ${repo}:${tag} is 404 (a dangling tag)`);
    else tags.set(tag, head.digest);
  }
  const present = new Set<string>();
  for (const image of images) if ((await client.headManifest(repo, image.digest, OCI_MANIFEST)) !== null) present.add(image.digest);
  // The rows themselves (PostgreSQL): a tag without its manifest, a manifest without the references it made.
  if (pair.url === null) return { tags, present, problems };
  const dangling = await query<{ tag: string }>(pair.url, `select t.tag from tags t left join manifests m on m.repository = t.repository and m.digest = t.digest where t.repository = '${repo}' and m.digest is null`);
  for (const { tag } of dangling) problems.push(`tags row ${tag} names a manifest that is not stored`);
  const bare = await query<{ digest: string }>(pair.url, `select m.digest from manifests m where m.repository = '${repo}' and not exists (select 1 from manifest_refs r where r.repository = m.repository and r.manifest_digest = m.digest)`);
  for (const { digest } of bare) problems.push(`manifest ${digest} is stored without its references`);
  return { tags, present, problems };
}

interface Outcome { put: number; del: number }

/** DELETE through one instance and PUT through the other, at once. */
async function race(pair: Pair, repo: string, del: string, put: { reference: string; image: TestImage }, round: number): Promise<Outcome> {
  const [a, b] = round % 2 === 0 ? pair.clients : [pair.clients[1], pair.clients[0]];
  const [del_, put_] = await Promise.all([
    a.deleteManifest(repo, del),
    b.raw("PUT", `/v2/${repo}/manifests/${put.reference}`, { headers: { "content-type": OCI_MANIFEST }, body: put.image.manifest }).then(async (res) => {
      await res.body?.cancel();
      return res.status;
    }),
  ]);
  return { put: put_, del: del_ };
}

const SETUPS = [
  ["PostgreSQL, two instances, soft delete off", "postgres", {}],
  ["PostgreSQL, two instances, soft delete on", "postgres", { deletion: { restorableFor: 3600 } }],
  ["SQLite, one instance, soft delete on", "sqlite", { deletion: { restorableFor: 3600 } }],
] as const;

for (const [name, driver, settings] of SETUPS) {
  describe(name, () => {
    let pair: Pair;
    before(async () => {
      pair = await startPair(driver, settings);
    });
    after(() => pair?.stop());

    test(`DELETE by digest racing a PUT of the same manifest by tag, ${ROUNDS} rounds: the push survives whole (manifest and tag) or both are gone; no dangling tag`, { timeout: 240_000 }, async () => {
      const repo = "race/by-tag";
      const image = buildImage([randomLayer(4096)], "by-tag");
      await pushImage(pair.clients[0], repo, "v1", image);
      for (let round = 0; round < ROUNDS; round++) {
        if ((await pair.clients[0].headManifest(repo, "v1", OCI_MANIFEST)) === null) await pair.clients[0].putManifest(repo, "v1", image.manifest);
        const outcome = await race(pair, repo, image.digest, { reference: "v1", image }, round);
        const state = await stateOf(pair, repo, [image]);
        const context = `round ${round}: DELETE ${outcome.del}, PUT ${outcome.put}`;
        assert.deepEqual(state.problems, [], context);
        assert.equal(outcome.put, 201, context);
        assert.equal(outcome.del, 202, context);
        const survived = state.present.has(image.digest) && state.tags.get("v1") === image.digest;
        const gone = !state.present.has(image.digest) && !state.tags.has("v1");
        assert.ok(survived || gone, `${context}: manifest ${state.present.has(image.digest) ? "present" : "missing"}, v1 → ${state.tags.get("v1") ?? "none"}`);
      }
    });

    test(`DELETE by digest racing a PUT of the same manifest by digest, ${ROUNDS} rounds: no dangling tag, no manifest without its references`, { timeout: 240_000 }, async () => {
      const repo = "race/by-digest";
      const image = buildImage([randomLayer(4096)], "by-digest");
      await pushImage(pair.clients[0], repo, "v1", image);
      for (let round = 0; round < ROUNDS; round++) {
        // Tagged at the start of each round, so the delete has a tag to take with it.
        await pair.clients[0].putManifest(repo, "v1", image.manifest);
        const outcome = await race(pair, repo, image.digest, { reference: image.digest, image }, round);
        const state = await stateOf(pair, repo, [image]);
        const context = `round ${round}: DELETE ${outcome.del}, PUT ${outcome.put}`;
        assert.deepEqual(state.problems, [], context);
        assert.equal(outcome.put, 201, context);
        assert.equal(outcome.del, 202, context);
        // Either order removes v1: the delete takes it, the push by digest sets no tag.
        assert.equal(state.tags.has("v1"), false, `${context}: v1 → ${state.tags.get("v1")}`);
      }
    });

    test(`DELETE of a tag racing a PUT of other content to that tag, ${ROUNDS} rounds: the tag is gone or names the new content; both manifests stay`, { timeout: 240_000 }, async () => {
      const repo = "race/tag-move";
      const layer = randomLayer(4096);
      const images = Array.from({ length: 2 }, (_, i) => buildImage([layer], `tag-move-${i}`));
      for (const image of images) await pushImage(pair.clients[0], repo, image.digest, image);
      for (let round = 0; round < ROUNDS; round++) {
        const [from, to] = round % 2 === 0 ? images : [images[1]!, images[0]!];
        await pair.clients[0].putManifest(repo, "v1", from!.manifest);
        const outcome = await race(pair, repo, "v1", { reference: "v1", image: to! }, round);
        const state = await stateOf(pair, repo, images);
        const context = `round ${round}: DELETE ${outcome.del}, PUT ${outcome.put}`;
        assert.deepEqual(state.problems, [], context);
        assert.equal(outcome.put, 201, context);
        assert.equal(outcome.del, 202, context);
        assert.ok(!state.tags.has("v1") || state.tags.get("v1") === to!.digest, `${context}: v1 → ${state.tags.get("v1")}`);
        assert.equal(state.present.size, 2, `${context}: a delete by tag removed a manifest`);
      }
    });

    test("berth fsck on the raced store: clean", async () => {
      const fsck = await runBerthCli(["fsck", "--config", pair.config], { ...process.env, BERTH_LOG_LEVEL: "warn" });
      assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    });
  });
}

// The chart index keeps its listings and index.yaml fragments per chart name and updates only
// the names a push or delete touched. These tests hold it, after every change of a random
// sequence, to what an index loaded from scratch over the same rows says. The same chart names
// live in several namespaces (and in repositories not named after them), so which repository
// owns a name in a merged view moves as its first publisher's versions come and go.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chartFileName } from "../../src/domain/chart.ts";
import type { Digest } from "../../src/domain/digest.ts";
import type { RepositoryName } from "../../src/domain/names.ts";
import type { BlobStore } from "../../src/blobs/blob-store.ts";
import type { ChangeEntry } from "../../src/domain/changes.ts";
import type { ChartRecord, MetadataStore } from "../../src/metadata/types.ts";
import { ChartIndex, type Visibility } from "../../src/services/charts/chart-index.ts";
import { namespaceOf } from "../../src/services/charts/chart-version.ts";

/** The chart rows the index reads: all of them at start, one repository's after each change. */
class Rows {
  readonly byKey = new Map<string, ChartRecord>();

  asStore(): MetadataStore {
    const rows = this.byKey;
    const store = {
      charts: {
        all: () => Promise.resolve([...rows.values()]),
        inRepository: (repository: RepositoryName) => Promise.resolve([...rows.values()].filter((c) => c.repository === repository)),
      },
      changes: { latest: () => Promise.resolve(0), since: () => Promise.resolve([]) },
      transaction: <T>(work: (tx: unknown) => Promise<T>) => work(store),
    };
    return store as unknown as MetadataStore;
  }
}

let changeId = 0;
/** What the change feed hands the index after a commit that changed a repository's charts. */
function chartChanged(repository: string): ChangeEntry[] {
  return [{ id: ++changeId, at: new Date(), change: { kind: "chart.recorded", repository, version: "any" } }];
}

const views = { repo: ["repo"], all: ["*"], team: ["team", "team/*"] };
const namespaces = ["repo", "team", "team/sub", ""];
const names = ["api", "web", "a-b"];
const versions = ["1.0.0", "1.0.1", "2.0.0", "0.9.0-rc.1", "1.10.0"];
/** The configured views, one shown only by its own name, and one that shows nothing. */
const viewsAsked = ["repo", "all", "team", "team/sub", "nothing"];
const teamOnly: Visibility = (chart) => chart.repository.startsWith("team");
/** A caller for whom one version is hidden wherever it is (a tag attribute). */
const withoutOneVersion: Visibility = (chart) => chart.version !== "1.0.1";
const VISIBILITIES = [null, teamOnly, withoutOneVersion];

/** `published` as ChartIndex.record keeps it: the first push's; pushes share seconds, so ties happen. */
function record(repository: string, name: string, version: string, serial: number, published = new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(serial / 3)))): ChartRecord {
  const digest = `sha256:${serial.toString(16).padStart(64, "0")}` as Digest;
  return {
    repository: repository as RepositoryName,
    version,
    namespace: namespaceOf(repository),
    name,
    fileName: chartFileName(name, version),
    manifestDigest: digest,
    chartDigest: digest,
    chartSize: 100 + serial,
    provDigest: null,
    metadata: { apiVersion: "v2", name, version, description: `push ${serial}` },
    created: new Date(Date.UTC(2026, 0, 1, 0, 0, serial)),
    storedAs: "classic",
    published,
  };
}

/** A small deterministic generator, so a failure replays. */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return Math.floor(state / 65536) % n;
  };
}

function withoutGenerated(body: Buffer): string {
  return body.toString("utf8").replace(/^generated: .*$/m, "");
}

async function fresh(rows: Rows): Promise<ChartIndex> {
  const index = new ChartIndex(rows.asStore(), {} as BlobStore, views);
  await index.load();
  return index;
}

async function assertSameAsFresh(index: ChartIndex, rows: Rows, step: string): Promise<void> {
  const reference = await fresh(rows);
  for (const view of viewsAsked) {
    assert.equal(withoutGenerated(index.document(view, null).body), withoutGenerated(reference.document(view, null).body), `${step}: index.yaml of ${view}`);
    for (const visible of VISIBILITIES) {
      assert.equal(withoutGenerated(index.document(view, visible).body), withoutGenerated(reference.document(view, visible).body), `${step}: index.yaml of ${view}`);
      assert.deepEqual([...index.entries(view, visible)], [...reference.entries(view, visible)], `${step}: entries of ${view}`);
      for (const name of names) assert.deepEqual(index.versionsOf(view, name, visible), reference.versionsOf(view, name, visible), `${step}: versions of ${name} in ${view}`);
    }
  }
  for (const chart of rows.byKey.values()) {
    const path = `${chart.namespace || "_root"}/${chart.fileName}`;
    for (const visible of VISIBILITIES) assert.equal(index.resolveFile("repo", path, visible), reference.resolveFile("repo", path, visible), `${step}: ${path}`);
  }
}

test("after each push, overwrite and delete, the index says what one loaded from scratch says", async () => {
  const rows = new Rows();
  const index = await fresh(rows);
  const pick = random(7);
  for (let step = 1; step <= 300; step++) {
    // Mostly pushes; a repository may hold a chart whose name is not its last segment.
    const existing = [...rows.byKey.values()];
    let repository: string;
    if (existing.length > 0 && pick(4) === 0) {
      const doomed = existing[pick(existing.length)]!;
      rows.byKey.delete(`${doomed.repository}@${doomed.version}`);
      repository = doomed.repository;
    } else {
      const namespace = namespaces[pick(namespaces.length)]!;
      const name = names[pick(names.length)]!;
      const last = pick(5) === 0 ? "other" : name;
      repository = namespace ? `${namespace}/${last}` : last;
      const version = versions[pick(versions.length)]!;
      const overwritten = rows.byKey.get(`${repository}@${version}`);
      rows.byKey.set(`${repository}@${version}`, record(repository, name, version, step, overwritten?.published));
    }
    await index.apply(chartChanged(repository));
    await assertSameAsFresh(index, rows, `step ${step}`);
  }
  assert.ok(rows.byKey.size > 10, `the sequence left ${rows.byKey.size} charts in the index`);
});

test("made-up view names do not grow the cache, nor push the configured views out of it", async () => {
  const rows = new Rows();
  for (let i = 0; i < 5; i++) rows.byKey.set(`repo/api@1.0.${i}`, record("repo/api", "api", `1.0.${i}`, i));
  const index = await fresh(rows);
  for (let i = 0; i < 500; i++) assert.match(index.document(`made-up-${i}`, null).body.toString("utf8"), /^apiVersion: v1\nentries: \{\}\n/);
  const internals = index as unknown as { shown: Map<string, unknown>; documents: Map<string, unknown> };
  assert.ok(internals.shown.size <= 64, `${internals.shown.size} views cached`);
  assert.ok(internals.documents.size <= 64, `${internals.documents.size} documents cached`);
  for (const view of Object.keys(views)) assert.ok(internals.documents.has(view) && internals.shown.has(view), `configured view ${view} is still cached`);
  assert.match(index.document("repo", null).body.toString("utf8"), /version: 1\.0\.4/);
});

test("in a merged view each chart name lists the versions of the repository that first published it, whatever others push", async () => {
  const rows = new Rows();
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
  const add = (repository: string, version: string, second: number) => rows.byKey.set(`${repository}@${version}`, record(repository, "bchart", version, second, at(second)));
  add("team-b/bchart", "0.1.0", 10);
  add("team-a/bchart", "0.1.0", 20);
  add("team-a/bchart", "9.9.9", 21);
  add("aaa/bchart", "0.1.0", 10); // the same second: byte order decides, as a from-scratch load would
  const index = await fresh(rows);
  const listed = (view: string, visible: Visibility = null) => index.versionsOf(view, "bchart", visible).map((c) => `${c.repository}@${c.version}`);
  assert.deepEqual(listed("all"), ["aaa/bchart@0.1.0"]);
  assert.deepEqual(listed("team-a"), ["team-a/bchart@9.9.9", "team-a/bchart@0.1.0"], "a namespace's own view still lists its versions");
  assert.deepEqual(listed("all", (c) => c.repository.startsWith("team-a")), [], "who may read only the later publisher sees none of it in the merged view");
  assert.equal(index.resolveFile("all", "team-a/bchart-9.9.9.tgz", null)?.repository, "team-a/bchart", "an explicit URL still reaches it");
  rows.byKey.delete("aaa/bchart@0.1.0");
  await index.apply(chartChanged("aaa/bchart"));
  assert.deepEqual(listed("all"), ["team-b/bchart@0.1.0"], "the owner deleting its last version hands the name on");
});

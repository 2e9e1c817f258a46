// One index for both ways of storing a chart. Every chart version is a row (an OCI Helm chart
// manifest, whichever way it came); a classic repository is a view over OCI namespaces, and
// its index.yaml is rendered from those rows, never by scanning storage on a request.
//
//   push/delete transaction ── record()/forget() ──▶ charts rows, chart.* in the change log
//   change feed (this process: before the push answers; others: within a second)
//        ── apply(entries) ─▶ refresh(repository) ─▶ in-memory rows ─▶ drop what changed names cached
//   GET index.yaml ─▶ document(view): cached per view, joined from per-chart fragments
//
// A shared document is named (ETag) and dated (`generated`) by the newest chart change applied,
// so every process over one database serves the same bytes under the same ETag.
//
// Everything cached is kept per chart name, so a push costs the versions of its own chart, not
// the whole repository: with 10,000 versions, re-listing and re-rendering every name on each push
// had made pushes twice as slow as into an empty repository.
//
// A view R shows the namespaces config `helm.views[R]` names (default: R itself; `repo` shows
// all). In a view, a chart name belongs to one repository: the one that first published it there
// (Berth's clock, `published`; then byte order), and only its versions are listed. Other
// repositories' versions of that name stay in their own namespace's view and at their explicit
// URL. So no one who may push somewhere a view shows can change what the readers of another
// repository's chart get through that view (issue 12.7): neither by pushing the same version nor
// a higher one. Visibility is applied after ownership, so it is the same rule for every caller.
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { BlobStore } from "../../blobs/blob-store.ts";
import { compareVersionsDescending, tagToVersion, versionToTag, type ChartMetadata } from "../../domain/chart.ts";
import { hexOf, type Digest } from "../../domain/digest.ts";
import type { RepositoryName } from "../../domain/names.ts";
import type { ChangeEntry, ChangeKind } from "../../domain/changes.ts";
import type { ChartRecord, MetadataParts, MetadataStore, StoredAs } from "../../metadata/types.ts";
import { chartConfigFrom, chartVersionOf, isChartManifest, namespaceOf, type PushedChart } from "./chart-version.ts";

const CHART_CHANGES: readonly ChangeKind[] = ["chart.recorded", "chart.forgotten"];
/** URL segment for charts in top-level repositories (no namespace): not a valid namespace. */
export const ROOT_NAMESPACE_SEGMENT = "_root";
/** Views whose listings and shared documents are kept; past that the oldest unconfigured one goes. */
const MAX_CACHED_VIEWS = 64;
/** Documents kept for scoped callers, each keyed by the set of chart versions it shows. */
const MAX_FILTERED_DOCUMENTS = 32;

/** What a client may see: a predicate over chart versions (tag attributes apply per version); null means everything. */
export type Visibility = ((chart: ChartRecord) => boolean) | null;

/**
 * Checked inside the push transaction against the row as it is then (SQLite runs transactions
 * one at a time, BEGIN IMMEDIATE): throws to refuse the write. Checking before the transaction
 * let 20 concurrent pushes of one new version all succeed, each replacing the last.
 */
export type ChartPrecondition = (existing: ChartRecord | null) => void;

/** The object Helm reads for one chart version (index entry, _charts and ChartMuseum APIs). */
export type ChartVersionEntry = ChartMetadata & { urls: string[]; created: string; digest: string };

interface ShownChart {
  readonly versions: readonly ChartRecord[];
  fragment?: Buffer;
}

export interface IndexDocument {
  body: Buffer;
  etag: string;
}

export class ChartIndex {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;
  private readonly views: Record<string, string[]>;
  private readonly rows = new Map<string, Map<string, ChartRecord>>();
  /** Every stored version of each chart name, whichever repository holds it. */
  private readonly byName = new Map<string, ChartRecord[]>();
  /** The rows behind each package URL: by namespace and file name. */
  private readonly byFile = new Map<string, ChartRecord[]>();
  /** The chart names in index order; null when a name came or went since. */
  private sortedNames: string[] | null = null;
  /** Per view and chart name: the versions the view lists, and their rendered index.yaml entry. */
  private readonly shown = new Map<string, Map<string, ShownChart>>();
  private readonly documents = new Map<string, IndexDocument>();
  private readonly filtered = new Map<string, IndexDocument>();
  /** The newest chart change applied (id 0: none in the log; `at` then the newest publication). */
  private stamp = { id: 0, at: new Date(0) };

  constructor(metadata: MetadataStore, blobs: BlobStore, views: Record<string, string[]>) {
    this.metadata = metadata;
    this.blobs = blobs;
    this.views = views;
  }

  /** Loads every chart row: at start, and again if applying changes ever failed. */
  async load(): Promise<void> {
    const { rows: all, stamp } = await this.read((tx) => tx.charts.all());
    this.rows.clear();
    this.byName.clear();
    this.byFile.clear();
    this.sortedNames = null;
    for (const chart of all) this.put(chart);
    this.stamp = stamp ?? { id: 0, at: new Date(Math.max(0, ...all.map((c) => c.published.getTime()))) };
    this.invalidate();
    // The configured views are rendered at start, so no client waits for the first render.
    for (const view of Object.keys(this.views)) this.document(view, null);
  }

  /**
   * Rows and the newest chart change, read in one transaction: the stamp (ETag, `generated`) then
   * names exactly the rows it renders, whatever another process commits meanwhile.
   */
  private read<T>(rows: (tx: MetadataParts) => Promise<T>): Promise<{ rows: T; stamp: { id: number; at: Date } | null }> {
    return this.metadata.transaction(async (tx) => {
      const found = await rows(tx);
      const id = await tx.changes.latest(CHART_CHANGES);
      const [newest] = id > 0 ? await tx.changes.since(id - 1, 1) : [];
      return { rows: found, stamp: newest ? { id: newest.id, at: newest.at } : null };
    });
  }

  /**
   * The chart version a pushed manifest makes (chart-version.ts decides), or null. Reads the small
   * config blob once, at push time, unless the pusher already holds what it says (a classic push
   * built it from the package's Chart.yaml).
   */
  async chartOf(pushed: Omit<PushedChart, "metadata">, known?: ChartMetadata): Promise<ChartRecord | null> {
    if (!isChartManifest(pushed.parsed)) return null;
    let metadata = known ?? null;
    if (!metadata) {
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of await this.blobs.open(pushed.parsed.config!.digest)) chunks.push(chunk as Buffer);
        metadata = chartConfigFrom(Buffer.concat(chunks));
      } catch {
        return null; // a sparse push without its config: not listed as a chart
      }
    }
    return metadata ? chartVersionOf({ ...pushed, metadata }) : null;
  }

  /**
   * Inside the push transaction: the same package pushed the other way too makes it "both"; an
   * overwrite keeps the version's first publication time.
   */
  async record(tx: MetadataParts, chart: ChartRecord, precondition?: ChartPrecondition): Promise<ChartRecord> {
    // Pushes of one version wait for each other before this read: the manifest's transaction set
    // the version's tag first (TagRows.set locks the tag's row), and SQLite runs one at a time.
    const existing = await tx.charts.get(chart.repository, chart.version);
    precondition?.(existing);
    const storedAs: StoredAs = existing && existing.storedAs !== chart.storedAs && existing.chartDigest === chart.chartDigest ? "both" : chart.storedAs;
    const recorded = { ...chart, storedAs, published: existing?.published ?? chart.published };
    await tx.charts.record(recorded);
    await tx.changes.append({ kind: "chart.recorded", repository: chart.repository, version: chart.version, digest: chart.manifestDigest, storedAs: chart.storedAs === "classic" ? "classic" : "oci", size: chart.chartSize, archive: chart.chartDigest });
    return recorded;
  }

  /** Inside the delete transaction: the versions the manifest carried are gone both ways. */
  async forgetManifest(tx: MetadataParts, repository: RepositoryName, manifestDigest: Digest): Promise<void> {
    for (const chart of await tx.charts.forgetManifest(repository, manifestDigest)) {
      await tx.changes.append({ kind: "chart.forgotten", repository, version: chart.version, digest: manifestDigest, storedAs: chart.storedAs === "classic" ? "classic" : "oci", size: chart.chartSize, archive: chart.chartDigest });
    }
  }

  /**
   * Inside the transaction that deleted or moved a tag: a chart version is what its tag points at,
   * so the version whose tag this was, still naming the manifest the tag had, is gone both ways
   * (an OCI `DELETE …/manifests/0.1.0` no longer leaves `demo 0.1.0` in index.yaml).
   */
  async forgetTag(tx: MetadataParts, repository: RepositoryName, tag: string, had: Digest): Promise<void> {
    const chart = await tx.charts.get(repository, tagToVersion(tag));
    if (!chart || chart.manifestDigest !== had || versionToTag(chart.version) !== tag) return;
    await tx.charts.forgetManifest(repository, had);
    await tx.changes.append({ kind: "chart.forgotten", repository, version: chart.version, digest: had, storedAs: chart.storedAs === "classic" ? "classic" : "oci", size: chart.chartSize, archive: chart.chartDigest });
  }

  /**
   * The change feed's listener: re-reads the rows of each repository whose charts changed, all in
   * one read, then swaps them in with no await in between, so no request sees half of a batch.
   */
  async apply(entries: readonly ChangeEntry[]): Promise<void> {
    const repositories = new Set<RepositoryName>();
    for (const entry of entries) {
      if (entry.change.kind === "chart.recorded" || entry.change.kind === "chart.forgotten") repositories.add(entry.change.repository as RepositoryName);
    }
    if (repositories.size === 0) return;
    const { rows, stamp } = await this.read(async (tx) => {
      const fresh = new Map<RepositoryName, ChartRecord[]>();
      for (const repository of repositories) fresh.set(repository, await tx.charts.inRepository(repository));
      return fresh;
    });
    if (stamp) this.stamp = stamp;
    const served = [...this.documents.keys()];
    for (const [repository, fresh] of rows) this.replace(repository, fresh);
    // Render now, before the push answers, so the next GET only sends bytes.
    for (const view of served) this.document(view, null);
  }

  /** Puts a repository's rows in place of what was cached for it. */
  private replace(repository: RepositoryName, fresh: readonly ChartRecord[]): void {
    const before = this.rows.get(repository);
    for (const chart of before?.values() ?? []) this.remove(chart);
    this.rows.delete(repository);
    for (const chart of fresh) this.put(chart);
    if (fresh.length === 0 && !before) return;
    this.invalidate([...(before?.values() ?? []), ...fresh].map((c) => c.name));
  }

  /** The views config `helm.views` names: they exist while empty (a made-up name is a view only once it has charts). */
  configuredViews(): string[] {
    return Object.keys(this.views);
  }

  /** Whether a view shows a namespace. */
  shows(view: string, namespace: string): boolean {
    const patterns = this.views[view] ?? [view];
    return patterns.some((p) => p === "*" || p === namespace || (p.endsWith("/*") && (namespace + "/").startsWith(p.slice(0, -1))));
  }

  /** One entry per chart name and version the caller may read, newest first, names in order. */
  entries(view: string, visible: Visibility): Map<string, readonly ChartRecord[]> {
    const result = new Map<string, readonly ChartRecord[]>();
    for (const name of this.names()) {
      const versions = this.versionsOf(view, name, visible);
      if (versions.length > 0) result.set(name, versions);
    }
    return result;
  }

  /** Whether the view lists any chart version to the caller (stops at the first). */
  listsAny(view: string, visible: Visibility): boolean {
    return this.names().some((name) => this.versionsOf(view, name, visible).length > 0);
  }

  /** The versions of one chart a view lists for the caller, newest first (empty when none). */
  versionsOf(view: string, name: string, visible: Visibility): readonly ChartRecord[] {
    const versions = this.shownChart(view, name).versions;
    return visible === null ? versions : versions.filter(visible);
  }

  /**
   * The index.yaml of a view. Cached while nothing changes: one shared document for callers who
   * may read everything, and one per set of readable repositories for scoped callers (a service
   * principal limited to team/* asks again and again with the same set).
   */
  document(view: string, visible: Visibility): IndexDocument {
    if (visible !== null) {
      const hash = createHash("sha256");
      for (const [repository, versions] of this.rows) {
        if (!this.shows(view, namespaceOf(repository))) continue;
        for (const chart of versions.values()) if (visible(chart)) hash.update(`${repository}@${chart.version}\n`);
      }
      const key = `${view}\u0000${hash.digest("hex")}`;
      const hit = this.filtered.get(key);
      if (hit) return hit;
      const rendered = this.render(view, visible);
      if (this.filtered.size >= MAX_FILTERED_DOCUMENTS) this.filtered.delete(this.filtered.keys().next().value!);
      this.filtered.set(key, rendered);
      return rendered;
    }
    return this.documents.get(view) ?? this.render(view, null);
  }

  private render(view: string, visible: Visibility): IndexDocument {
    const parts: Buffer[] = [];
    for (const name of this.names()) {
      if (visible === null) {
        const shown = this.shownChart(view, name);
        if (shown.versions.length > 0) parts.push((shown.fragment ??= this.fragment(view, name, shown.versions)));
        continue;
      }
      const versions = this.versionsOf(view, name, visible);
      if (versions.length > 0) parts.push(this.fragment(view, name, versions));
    }
    const head = Buffer.from(`apiVersion: v1\nentries:${parts.length === 0 ? " {}" : ""}\n`);
    const body = Buffer.concat([head, ...parts, Buffer.from(`generated: "${this.stamp.at.toISOString()}"\n`)]);
    // A shared document is named by the change log's cursor; one filtered for a caller by its bytes.
    const etag = visible === null ? `"c${this.stamp.id}-${createHash("sha256").update(view).digest("hex").slice(0, 8)}"` : `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"`;
    const document = { body, etag };
    if (visible === null) {
      if (!this.documents.has(view) && this.documents.size >= MAX_CACHED_VIEWS) this.forgetOldestView(this.documents.keys());
      this.documents.set(view, document);
    }
    return document;
  }

  /**
   * Any URL names a view, so made-up names must not grow the caches. The configured views stay:
   * losing one would cost its next GET a render of every chart.
   */
  private forgetOldestView(views: Iterable<string>): void {
    for (const view of views) {
      if (Object.hasOwn(this.views, view)) continue;
      this.shown.delete(view);
      this.documents.delete(view);
      return;
    }
  }

  /** The index entry of one chart version as seen from a view (its URL depends on the view). */
  entry(view: string, chart: ChartRecord): ChartVersionEntry {
    const segment = chart.namespace === view ? "" : `${chart.namespace || ROOT_NAMESPACE_SEGMENT}/`;
    return { ...chart.metadata, urls: [`_blobs/${segment}${chart.fileName}`], created: chart.created.toISOString(), digest: hexOf(chart.chartDigest) };
  }

  /** The chart behind a package URL of a view: `[<namespace>/]<name>-<version>.tgz`. */
  resolveFile(view: string, path: string, visible: Visibility): ChartRecord | null {
    const slash = path.lastIndexOf("/");
    const fileName = path.slice(slash + 1);
    const segment = slash < 0 ? view : path.slice(0, slash);
    const namespace = segment === ROOT_NAMESPACE_SEGMENT ? "" : segment;
    const candidates = (this.byFile.get(fileKey(namespace, fileName)) ?? []).filter((c) => !visible || visible(c));
    // Several repositories of one namespace may hold the file: the one owning the name wins, as in the index.
    if (candidates.length <= 1) return candidates[0] ?? null;
    const rank = (c: ChartRecord) => firstPublished(this.byName.get(c.name) ?? [], c.repository);
    return candidates.sort((a, b) => rank(a) - rank(b) || compareText(a.repository, b.repository))[0]!;
  }

  /** Every chart version (for the management API and `berth chart list`). */
  all(visible: Visibility): ChartRecord[] {
    const list = [...this.rows.values()].flatMap((versions) => [...versions.values()]).filter((c) => !visible || visible(c));
    return list.sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : compareVersionsDescending(a.version, b.version)));
  }

  private put(chart: ChartRecord): void {
    let versions = this.rows.get(chart.repository);
    if (!versions) this.rows.set(chart.repository, (versions = new Map()));
    versions.set(chart.version, chart);
    if (!this.byName.has(chart.name)) this.sortedNames = null;
    addTo(this.byName, chart.name, chart);
    addTo(this.byFile, fileKey(chart.namespace, chart.fileName), chart);
  }

  /** Takes a row out of the lookups (the caller drops it from rows). */
  private remove(chart: ChartRecord): void {
    if (removeFrom(this.byName, chart.name, chart)) this.sortedNames = null;
    removeFrom(this.byFile, fileKey(chart.namespace, chart.fileName), chart);
  }

  private names(): string[] {
    return (this.sortedNames ??= [...this.byName.keys()].sort());
  }

  /** What a view lists of one chart name for callers who may read everything, cached. */
  private shownChart(view: string, name: string): ShownChart {
    let charts = this.shown.get(view);
    if (!charts) {
      if (this.shown.size >= MAX_CACHED_VIEWS) this.forgetOldestView(this.shown.keys());
      this.shown.set(view, (charts = new Map()));
    }
    let shown = charts.get(name);
    if (!shown) charts.set(name, (shown = { versions: this.winners(view, this.byName.get(name) ?? []) }));
    return shown;
  }

  /** Of the rows of one chart name: those of the repository owning the name in the view, newest first. */
  private winners(view: string, candidates: ChartRecord[]): ChartRecord[] {
    const shown = candidates.filter((c) => this.shows(view, c.namespace));
    const owner = ownerOf(shown);
    return shown.filter((c) => c.repository === owner).sort((a, b) => compareVersionsDescending(a.version, b.version));
  }

  /** The index.yaml lines of one chart. Helm reads them with YAML 1.1 rules: `yes`, `on` and `1.10` must come out quoted. */
  private fragment(view: string, name: string, versions: readonly ChartRecord[]): Buffer {
    return Buffer.from(indent(stringify({ [name]: versions.map((c) => this.entry(view, c)) }, { lineWidth: 0, version: "1.1" })));
  }

  /** Drops cached documents, and what views cached of the given chart names (all when omitted). */
  private invalidate(names?: string[]): void {
    this.documents.clear();
    this.filtered.clear();
    if (!names) {
      this.shown.clear();
      return;
    }
    for (const charts of this.shown.values()) for (const name of names) charts.delete(name);
  }
}

/** The repository that first published a chart name among these rows of it (then byte order). */
export function ownerOf(rows: readonly ChartRecord[]): RepositoryName | null {
  const first = new Map<RepositoryName, number>();
  for (const chart of rows) first.set(chart.repository, Math.min(first.get(chart.repository) ?? Infinity, chart.published.getTime()));
  let owner: RepositoryName | null = null;
  let since = Infinity;
  for (const [repository, at] of first) {
    if (owner === null || at < since || (at === since && compareText(repository, owner) < 0)) [owner, since] = [repository, at];
  }
  return owner;
}

/** When a repository first published the chart these rows are versions of. */
function firstPublished(rows: readonly ChartRecord[], repository: RepositoryName): number {
  let first = Infinity;
  for (const chart of rows) if (chart.repository === repository && chart.published.getTime() < first) first = chart.published.getTime();
  return first;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, "  ");
}

function fileKey(namespace: string, fileName: string): string {
  return `${namespace}\u0000${fileName}`;
}

function addTo(lists: Map<string, ChartRecord[]>, key: string, chart: ChartRecord): void {
  const list = lists.get(key);
  if (list) list.push(chart);
  else lists.set(key, [chart]);
}

/** Returns whether that was the key's last row. */
function removeFrom(lists: Map<string, ChartRecord[]>, key: string, chart: ChartRecord): boolean {
  const rest = lists.get(key)?.filter((c) => c !== chart) ?? [];
  if (rest.length > 0) {
    lists.set(key, rest);
    return false;
  }
  return lists.delete(key);
}

// What the metadata contract suites share: the factory a backend provides, a fresh store per
// test, and small builders for rows. Byte order is Buffer.compare over UTF-8, as Go's
// sort.Strings gives it (the conformance suite's order), never a locale's.
import type { TestContext } from "node:test";
import { digestBytes, type Digest } from "../../src/domain/digest.ts";
import type { RepositoryName, Tag } from "../../src/domain/names.ts";
import type { ChartRecord, ManifestRecord, MetadataStore } from "../../src/metadata/types.ts";

export interface MetadataFixture {
  store: MetadataStore;
  /** A second store over the same database, on its own connection, as another process opens it. */
  another(): Promise<MetadataStore>;
  /** Closes the store and removes what the factory created (a temporary file, a schema). */
  close(): Promise<void>;
}

/** Makes an empty, migrated store: one per test. */
export type MetadataFactory = () => Promise<MetadataFixture>;

export async function freshStore(t: TestContext, factory: MetadataFactory): Promise<MetadataStore> {
  const { store, close } = await factory();
  t.after(close);
  return store;
}

/** A fresh store and a second one over the same database (two processes). */
export async function twoProcesses(t: TestContext, factory: MetadataFactory): Promise<[MetadataStore, MetadataStore]> {
  const { store, another, close } = await factory();
  t.after(close);
  return [store, await another()];
}

export const repo = (name: string) => name as RepositoryName;
export const tag = (name: string) => name as Tag;
/** A digest of some text: distinct texts, distinct digests. */
export const digestOf = (text: string): Digest => digestBytes(Buffer.from(text));

export function byteOrder(values: readonly string[]): string[] {
  return [...values].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Awaits `ms` milliseconds, so timestamps taken before and after differ. */
export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function manifestRecord(repository: string, text: string, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  const body = Buffer.from(text);
  return {
    repository: repo(repository),
    digest: digestBytes(body),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: body.length,
    body,
    subject: null,
    artifactType: null,
    annotations: null,
    pushedAt: new Date(1_700_000_000_123),
    ...extra,
  };
}

export function chartRecord(repository: string, version: string, extra: Partial<ChartRecord> = {}): ChartRecord {
  const name = repository.split("/").at(-1)!;
  return {
    repository: repo(repository),
    version,
    namespace: repository.split("/").slice(0, -1).join("/"),
    name,
    fileName: `${name}-${version}.tgz`,
    manifestDigest: digestOf(`manifest ${repository} ${version}`),
    chartDigest: digestOf(`chart ${repository} ${version}`),
    chartSize: 1234,
    provDigest: null,
    metadata: { name, version, description: "a chart", keywords: ["x"] },
    created: new Date(1_700_000_000_000),
    storedAs: "oci",
    published: new Date(1_700_000_001_000),
    ...extra,
  };
}

/** Pages through `list` with `limit`, each page starting after the last one's end. */
export async function allPages(list: (page: { limit: number; after?: string }) => Promise<string[]>, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await list(after === undefined ? { limit } : { limit, after });
    pages.push(page);
    if (page.length < limit) return pages;
    after = page.at(-1);
  }
  throw new Error("paging never ended");
}

// Integrity check: every blob a link or manifest needs exists and hashes to its digest, every
// manifest's bytes hash to its digest, and every manifest can be pulled: each blob it references
// is present, whole and linked in its repository (GET of a blob answers only when it is), and
// each child manifest is stored there. A manifest that cannot be pulled is reported once, as the
// image (repository@digest and its tags) with everything it lacks. The blobs of deleted content
// kept restorable (soft delete) are checked as blobs in use. Every tag must name a stored manifest
// (a pull by it answers 404 otherwise, while tag lists name it). Reads only; reports problems.
import { algorithmOf, digestBytes, newHash, digestOfHash, type Digest } from "../domain/digest.ts";
import type { BlobStore } from "../blobs/blob-store.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import type { MetadataStore } from "../metadata/types.ts";

export interface FsckProblem {
  kind: "blob-missing" | "blob-corrupt" | "blob-size" | "manifest-corrupt" | "image-broken" | "tag-dangling";
  subject: string;
  detail: string;
}

export interface FsckReport {
  blobsChecked: number;
  bytesChecked: number;
  linksChecked: number;
  manifestsChecked: number;
  problems: FsckProblem[];
}

export async function checkIntegrity(metadata: MetadataStore, blobs: BlobStore, onProgress?: (blobsChecked: number) => void): Promise<FsckReport> {
  const report: FsckReport = { blobsChecked: 0, bytesChecked: 0, linksChecked: 0, manifestsChecked: 0, problems: [] };
  const needed = new Set<Digest>();
  for await (const link of metadata.blobLinks.all()) {
    report.linksChecked++;
    needed.add(link.digest);
  }
  const manifestKeys = new Set<string>();
  for await (const manifest of metadata.manifests.all()) {
    report.manifestsChecked++;
    manifestKeys.add(`${manifest.repository}@${manifest.digest}`);
    if (digestBytes(manifest.body, algorithmOf(manifest.digest)) !== manifest.digest) {
      report.problems.push({ kind: "manifest-corrupt", subject: `${manifest.repository}@${manifest.digest}`, detail: "stored bytes do not match the digest" });
    }
    for (const reference of manifest.references) if (reference.kind === "blob") needed.add(reference.target);
  }
  // Deleted content kept restorable (soft delete): gc keeps its blobs, so their bytes must be right too.
  for await (const reference of metadata.trash.references()) needed.add(reference.digest);

  /** Blobs whose file is missing or holds other bytes: what is wrong, for the images using them. */
  const damaged = new Map<Digest, string>();
  for (const digest of needed) {
    const expectedSize = await metadata.blobs.size(digest);
    const info = await blobs.stat(digest);
    if (!info) {
      report.problems.push({ kind: "blob-missing", subject: digest, detail: "linked or referenced, but no file holds it" });
      damaged.set(digest, "is missing");
      continue;
    }
    if (expectedSize !== null && expectedSize !== info.size) {
      report.problems.push({ kind: "blob-size", subject: digest, detail: `recorded size ${expectedSize}, stored size ${info.size}` });
      damaged.set(digest, `has ${info.size} bytes, not ${expectedSize}`);
    }
    const hash = newHash(algorithmOf(digest));
    for await (const chunk of await blobs.open(digest)) hash.update(chunk as Buffer);
    report.blobsChecked++;
    report.bytesChecked += info.size;
    onProgress?.(report.blobsChecked);
    if (digestOfHash(algorithmOf(digest), hash) !== digest) {
      report.problems.push({ kind: "blob-corrupt", subject: digest, detail: "content does not hash to its digest" });
      damaged.set(digest, "does not hash to its digest");
    }
  }

  const tags = new TagsOf(metadata);
  for await (const manifest of metadata.manifests.all()) {
    const repository = manifest.repository;
    const lacks: string[] = [];
    for (const { target, kind } of manifest.references) {
      if (kind === "manifest") {
        if (!manifestKeys.has(`${repository}@${target}`)) lacks.push(`child manifest ${target} is not stored in ${repository}`);
        continue;
      }
      if (!(await metadata.blobLinks.isLinked(repository, target))) lacks.push(`blob ${target} is not linked in ${repository} (deleted from it)`);
      const damage = damaged.get(target);
      if (damage) lacks.push(`blob ${target} ${damage}`);
    }
    if (lacks.length === 0) continue;
    const named = await tags.of(repository, manifest.digest);
    report.problems.push({
      kind: "image-broken",
      subject: `${repository}@${manifest.digest}${named.length > 0 ? ` (${named.join(", ")})` : ""}`,
      detail: `cannot be pulled: ${lacks.join("; ")}`,
    });
  }
  for await (const { repository, tag, digest } of allTags(metadata)) {
    if (manifestKeys.has(`${repository}@${digest}`)) continue;
    // Pushed since the manifests were read (fsck runs beside a serving registry): looked up again.
    if ((await metadata.tags.resolve(repository, tag)) !== digest || (await metadata.manifests.summary(repository, digest)) !== null) continue;
    report.problems.push({ kind: "tag-dangling", subject: `${repository}:${tag}`, detail: `names ${digest}, which is not stored: tag lists name it, a pull by it answers 404` });
  }
  return report;
}

async function* allTags(metadata: MetadataStore): AsyncIterable<{ repository: RepositoryName; tag: Tag; digest: Digest }> {
  for (let names = await metadata.repositories.list({ limit: 1000 }); names.length > 0; names = await metadata.repositories.list({ limit: 1000, after: names.at(-1)! })) {
    for (const repository of names) {
      for (let page = await metadata.tags.list(repository, { limit: 1000 }); page.length > 0; page = page.length < 1000 ? [] : await metadata.tags.list(repository, { limit: 1000, after: page.at(-1)! })) {
        for (const tag of page) {
          const digest = await metadata.tags.resolve(repository, tag);
          if (digest) yield { repository, tag, digest };
        }
      }
    }
    if (names.length < 1000) return;
  }
}

/** The tags pointing at a manifest, looked up per repository only when an image is broken. */
class TagsOf {
  private readonly metadata: MetadataStore;
  private readonly byRepository = new Map<RepositoryName, Map<Digest, string[]>>();

  constructor(metadata: MetadataStore) {
    this.metadata = metadata;
  }

  async of(repository: RepositoryName, digest: Digest): Promise<string[]> {
    let byDigest = this.byRepository.get(repository);
    if (!byDigest) {
      byDigest = new Map();
      this.byRepository.set(repository, byDigest);
      let after: string | undefined;
      for (;;) {
        const page = await this.metadata.tags.list(repository, { limit: 1000, after });
        for (const tag of page) {
          const target = await this.metadata.tags.resolve(repository, tag);
          if (target) byDigest.set(target, [...(byDigest.get(target) ?? []), tag]);
        }
        if (page.length < 1000) break;
        after = page.at(-1);
      }
    }
    return [...(byDigest.get(digest) ?? [])].sort();
  }
}

// Integrity check: every blob a link or manifest needs exists and hashes to its digest, every
// manifest's bytes hash to its digest, every reference resolves. Reads only; reports problems.
import { algorithmOf, digestBytes, newHash, digestOfHash, type Digest } from "../domain/digest.ts";
import type { BlobStore } from "../blobs/blob-store.ts";
import type { MetadataStore } from "../metadata/types.ts";

export interface FsckProblem {
  kind: "blob-missing" | "blob-corrupt" | "blob-size" | "manifest-corrupt" | "reference-missing";
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
  }
  for await (const manifest of metadata.manifests.all()) {
    for (const target of manifest.references) {
      if (manifestKeys.has(`${manifest.repository}@${target}`)) continue;
      if (needed.has(target) || (await blobs.stat(target)) !== null) {
        needed.add(target);
        continue;
      }
      report.problems.push({ kind: "reference-missing", subject: `${manifest.repository}@${manifest.digest}`, detail: `references ${target}, which is missing` });
    }
  }
  for (const digest of needed) {
    const expectedSize = await metadata.blobs.size(digest);
    const info = await blobs.stat(digest);
    if (!info) {
      report.problems.push({ kind: "blob-missing", subject: digest, detail: "linked or referenced, but no file holds it" });
      continue;
    }
    if (expectedSize !== null && expectedSize !== info.size) {
      report.problems.push({ kind: "blob-size", subject: digest, detail: `recorded size ${expectedSize}, stored size ${info.size}` });
    }
    const hash = newHash(algorithmOf(digest));
    for await (const chunk of await blobs.open(digest)) hash.update(chunk as Buffer);
    report.blobsChecked++;
    report.bytesChecked += info.size;
    onProgress?.(report.blobsChecked);
    if (digestOfHash(algorithmOf(digest), hash) !== digest) {
      report.problems.push({ kind: "blob-corrupt", subject: digest, detail: "content does not hash to its digest" });
    }
  }
  return report;
}

// Mark and sweep, safe while the server serves.
//
//   mark:  a blob is live while a repository links it or a manifest references it (metadata).
//   1. drop links older than the grace period that no manifest of their repository references
//   2. for each blob row no link or reference keeps, older than the grace period:
//        in one transaction: re-check, delete the file, forget the row
//      commitBlob links + publishes in one transaction too, so the two never interleave.
//   3. files without a row (a crash between publish and commit) and stray upload files older
//      than the grace period are removed the same way.
//   4. uploads idle past their expiry are purged.
// A crash anywhere leaves at worst a row whose file is gone and that nothing links: invisible
// to clients, and forgotten by the next run.
import { BLOB_PREFIX, UPLOAD_PREFIX, blobKey, digestOfKey, type BlobStore } from "../blobs/blob-store.ts";
import type { Digest } from "../domain/digest.ts";
import type { MetadataStore } from "../metadata/types.ts";

export interface GcOptions {
  gracePeriodSeconds: number;
  uploadExpirySeconds: number;
  dryRun: boolean;
  now?: Date;
}

export interface GcReport {
  dryRun: boolean;
  linksRemoved: number;
  blobsDeleted: number;
  bytesFreed: number;
  orphanFilesDeleted: number;
  uploadsPurged: number;
  deleted: Digest[];
}

export async function collectGarbage(metadata: MetadataStore, blobs: BlobStore, options: GcOptions): Promise<GcReport> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.gracePeriodSeconds * 1000);
  const report: GcReport = { dryRun: options.dryRun, linksRemoved: 0, blobsDeleted: 0, bytesFreed: 0, orphanFilesDeleted: 0, uploadsPurged: 0, deleted: [] };

  if (!options.dryRun) report.linksRemoved = await metadata.blobLinks.pruneUnreferenced(cutoff);

  let after = "";
  for (;;) {
    const candidates = await metadata.blobs.collectable(cutoff, { limit: 200, after });
    if (candidates.length === 0) break;
    after = candidates.at(-1)!;
    for (const digest of candidates) {
      const size = await sweepBlob(metadata, blobs, digest, options.dryRun);
      if (size !== null) {
        report.blobsDeleted++;
        report.bytesFreed += size;
        report.deleted.push(digest);
      }
    }
  }

  for await (const file of blobs.driver.list(BLOB_PREFIX)) {
    if (file.modified >= cutoff) continue;
    const digest = digestOfKey(file.key);
    if (digest && (await metadata.blobs.size(digest)) !== null) continue;
    if (options.dryRun) {
      report.orphanFilesDeleted++;
      continue;
    }
    const removed = await metadata.transaction(async (tx) => {
      if (digest && (await tx.blobs.size(digest)) !== null) return false;
      await blobs.driver.delete(file.key);
      return true;
    });
    if (removed) report.orphanFilesDeleted++;
  }

  const uploadCutoff = new Date(now.getTime() - options.uploadExpirySeconds * 1000);
  for (const upload of await metadata.uploads.idleSince(uploadCutoff, 10_000)) {
    // The row moves only when a request ends; bytes still streaming into the file show in
    // its modification time (gc runs in another process than the request).
    const file = await blobs.driver.stat(`${UPLOAD_PREFIX}/${upload.id}`);
    if (file && file.modified >= uploadCutoff) continue;
    report.uploadsPurged++;
    if (options.dryRun) continue;
    await metadata.uploads.delete(upload.id);
    await blobs.cancelUpload(upload.id);
  }
  // Upload files no upload row names: crashes between writing the file and recording it, and
  // single-request pushes that died. Judged by the upload expiry: one still streaming is younger.
  for await (const file of blobs.driver.list(UPLOAD_PREFIX)) {
    if (file.modified >= uploadCutoff) continue;
    const id = file.key.slice(UPLOAD_PREFIX.length + 1);
    if (await metadata.uploads.get(id)) continue;
    report.orphanFilesDeleted++;
    if (!options.dryRun) await blobs.driver.delete(file.key);
  }
  return report;
}

/** Deletes one blob if it is still unreferenced; returns its size, or null when it was kept. */
async function sweepBlob(metadata: MetadataStore, blobs: BlobStore, digest: Digest, dryRun: boolean): Promise<number | null> {
  if (dryRun) return (await metadata.blobs.size(digest)) ?? 0;
  return metadata.transaction(async (tx) => {
    if (await tx.blobs.isReferenced(digest)) return null;
    const size = (await tx.blobs.size(digest)) ?? 0;
    await blobs.driver.delete(blobKey(digest));
    await tx.blobs.forget(digest);
    return size;
  });
}

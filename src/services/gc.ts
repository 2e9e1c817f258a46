// Mark and sweep, safe while the server serves, decided from database rows alone: an object's
// modification time (the store's clock, not ours, and in whole seconds on S3 and Azure) is never
// a reason to delete it, only to keep it (writtenAfter, below): a push writes the digest's key
// before its transaction records anything (S3's monolithic push writes it itself, hidden until
// verified; a publish copy), so an object written after every time the rows know of is a push
// in progress, and gc leaves it to the stray rule (4), whose grace covers that push.
//
//   mark:  a blob is live while a repository links it or a manifest references it (metadata), a
//          deleted manifest kept restorable (soft delete, trash.ts) included: its files stay.
//   0. forget deleted content whose restore window has passed (trash records): what only it
//      referenced is unreferenced from then on, and goes in steps 1 and 2 of this same run
//   1. drop links older than the grace period that no live manifest of their repository
//      references: also those only deleted content kept restorable names, so its blobs are 404
//      by digest and cannot be mounted from there, as after a final delete (a restore links
//      them again, in its transaction, under the blobs' locks this step takes too)
//   2. for each blob row no link or reference keeps, older than the grace period (its row's and
//      its links' times):
//        in one transaction: re-check, delete the file, forget the row; the file is kept (a
//        stray from then on, 4) when the store wrote it in a later second than the row was
//        recorded: a push of the same digest wrote it again and has not committed yet
//      commitBlob links + publishes in one transaction too, and both hold the digest's lock
//      (blobs.hold), so the two never interleave, on PostgreSQL as on SQLite. (On S3 and Azure
//      the publish copy is made before commitBlob's transaction, which checks the copy is still
//      there: deleted here meanwhile, the push fails with a 503 its client sends again; so does
//      a monolithic push on S3 whose own write was deleted: the file kept above makes that rare.)
//   3. uploads idle past their expiry (the row's updated time) whose lease has run out are purged,
//      each by a conditional delete, so a request that took the lease meanwhile keeps it.
//   4. strays: keys in storage no row names (an upload's object is named by its upload row, or,
//      published in place on S3 and Azure, by its blob row: blobs.object_key); e.g. a crash between publish and commit, a publish copy
//      whose transaction failed or has not run yet: the grace covers a publish in progress, a monolithic
//      push or a purge that died halfway). Listing finds them, but listing alone cannot tell a
//      stray from bytes a live request is still writing (a PUT's temporary key has no row). So a
//      stray is recorded with its size and the run's time (storage_strays), and deleted only by
//      a later run that finds it still without a row, still that size, and first seen that way
//      more than the grace period ago (the upload expiry for keys under uploads/): a key still
//      growing is seen with a new size and starts again, and so does a key the store wrote again
//      after it was first seen (a push starting over with the same bytes: same key, same size);
//      a key that went away or got a row is forgotten. The deletion re-checks the row in a
//      transaction, as in 2, and the object's time.
// A crash anywhere leaves at worst a row whose file is gone and that nothing links (invisible
// to clients, and forgotten by the next run) or a stray (deleted by later runs).
import type { ObjectInfo } from "../blobs/blob-driver.ts";
import { BLOB_PREFIX, UPLOAD_PREFIX, digestOfKey, type BlobStore } from "../blobs/blob-store.ts";
import type { Digest } from "../domain/digest.ts";
import type { MetadataParts, MetadataStore } from "../metadata/types.ts";

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
  /** Strays deleted (or, in a dry run, that would be: seen by an earlier run long enough ago). */
  orphanFilesDeleted: number;
  /** Strays seen for the first time, or still within their grace: deleted by a later run if they stay. */
  orphanFilesWaiting: number;
  uploadsPurged: number;
  /** Deleted tags and manifests whose restore window had passed, forgotten (soft delete). */
  deletedPurged: number;
  deleted: Digest[];
}

/**
 * One run; refused while another runs on the same database (metadata.exclusively): two sweeps
 * would be safe, each decision being its own locked transaction, but would do all work twice.
 */
export async function collectGarbage(metadata: MetadataStore, blobs: BlobStore, options: GcOptions): Promise<GcReport> {
  const outcome = await metadata.exclusively("gc", () => collect(metadata, blobs, options));
  if (!outcome.ran) throw new Error("another gc is running on this database: try again once it has finished");
  return outcome.value;
}

async function collect(metadata: MetadataStore, blobs: BlobStore, options: GcOptions): Promise<GcReport> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.gracePeriodSeconds * 1000);
  const uploadCutoff = new Date(now.getTime() - options.uploadExpirySeconds * 1000);
  const report: GcReport = { dryRun: options.dryRun, linksRemoved: 0, blobsDeleted: 0, bytesFreed: 0, orphanFilesDeleted: 0, orphanFilesWaiting: 0, uploadsPurged: 0, deletedPurged: 0, deleted: [] };

  // A dry run counts them, but what they alone kept is not counted as freed: it is still referenced.
  report.deletedPurged = options.dryRun ? await metadata.trash.countExpired(now) : await metadata.transaction((tx) => tx.trash.purgeExpired(now));
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

  for (const upload of await metadata.uploads.idleSince(uploadCutoff, 10_000)) {
    if (options.dryRun) {
      report.uploadsPurged++;
      continue;
    }
    if (!(await metadata.uploads.expire(upload.id, uploadCutoff))) continue; // a request took it meanwhile
    report.uploadsPurged++;
    await blobs.cancelUpload(upload.id);
  }

  // Blob files whose digest has no row, then upload keys no upload row names.
  const strays: Stray[] = [
    // A digest's key is named by its row unless the row names an object in place instead (then
    // this one is a copy left over: an older Berth's publish copy, or a push's that never committed).
    { prefix: BLOB_PREFIX, before: cutoff, named: async (tx, key) => { const digest = digestOfKey(key); return digest !== null && (await tx.blobs.objectKey(digest)) === null; } },
    // An upload's row first, then a blob row naming its object (published in place): the commit
    // swaps the one for the other in one transaction, so asked in this order (each read sees what
    // is committed by then), one of the two is always seen.
    { prefix: UPLOAD_PREFIX, before: uploadCutoff, named: async (tx, key) => (await tx.uploads.get(key.slice(UPLOAD_PREFIX.length + 1))) !== null || (await tx.blobs.names(key)) },
  ];
  for (const stray of strays) {
    for await (const object of blobs.driver.list(stray.prefix)) {
      if (await stray.named(metadata, object.key)) continue;
      if (options.dryRun) {
        // Nothing is recorded in a dry run: it counts what a real run now would delete.
        const first = await metadata.strays.seen(object.key, object.size);
        if (first !== null && first < stray.before && !writtenAfter(object, first)) report.orphanFilesDeleted++;
        else report.orphanFilesWaiting++;
        continue;
      }
      let first = await metadata.strays.sight(object.key, object.size, now);
      if (writtenAfter(object, first)) {
        // Written again since it was first seen: what was seen then is gone, this is new.
        await metadata.strays.forget(object.key);
        first = await metadata.strays.sight(object.key, object.size, now);
      }
      if (first >= stray.before) {
        report.orphanFilesWaiting++;
        continue;
      }
      const removed = await metadata.transaction(async (tx) => {
        const digest = digestOfKey(object.key);
        if (stray.prefix === BLOB_PREFIX && digest !== null) await tx.blobs.hold(digest); // as in sweepBlob
        if (await stray.named(tx, object.key)) return false;
        // Listed a while ago: a push may have written the key again since (its row not yet committed).
        const current = await blobs.driver.stat(object.key);
        if (current !== null && writtenAfter(current, first)) return false;
        await blobs.driver.delete(object.key);
        await tx.strays.forget(object.key);
        return true;
      });
      if (removed) report.orphanFilesDeleted++;
    }
  }
  // Sightings this run did not renew: the key went away, or a row names it now.
  if (!options.dryRun) await metadata.strays.prune(now);
  return report;
}

interface Stray {
  prefix: string;
  /** A stray first seen before this may go. */
  before: Date;
  /** Whether a row names the key (then it is no stray). */
  named: (rows: MetadataParts, key: string) => Promise<boolean>;
}

/** Deletes one blob if it is still unreferenced; returns its size, or null when it was kept. */
async function sweepBlob(metadata: MetadataStore, blobs: BlobStore, digest: Digest, dryRun: boolean): Promise<number | null> {
  if (dryRun) return (await metadata.blobs.size(digest)) ?? 0;
  return metadata.transaction(async (tx) => {
    // The digest's lock first (blob-commit.ts): a push of the same digest waits until this
    // decision commits, then records the row again and publishes its own bytes.
    await tx.blobs.hold(digest);
    if (await tx.blobs.isReferenced(digest)) return null;
    const size = (await tx.blobs.size(digest)) ?? 0;
    const recorded = await tx.blobs.recordedAt(digest);
    // Where the row says its bytes are (an upload's object, published in place), else the
    // digest's key. An object under the digest's key beside it (a monolithic push of the same
    // bytes on S3) has no row from now on: a stray (4).
    const key = await blobs.keyOf(digest, tx.blobs);
    const object = await blobs.driver.stat(key);
    // Written after the row was recorded: a push of the same digest wrote it again (S3's
    // monolithic push writes the key itself) and its transaction, waiting for this lock, records
    // the row again. Without a row it is a stray from now on (4): gone after the grace unless
    // that push records it.
    const kept = object !== null && recorded !== null && writtenAfter(object, recorded);
    // The object before the row, as always: the row's delete locks it until this commits.
    if (!kept) await blobs.driver.delete(key);
    await tx.blobs.forget(digest);
    return kept ? null : size;
  });
}

/**
 * Whether the store wrote the object in a later second than `known` (a time the rows hold, by
 * Berth's clock): S3 and Azure state Last-Modified in whole seconds, so a write within the same
 * second is not told apart (the push whose write gc then deletes gets a 503 it sends again).
 * Only ever a reason to keep an object: a store clock ahead of Berth's keeps one longer (until
 * gc's own clock has passed the object's time), never deletes one sooner.
 */
function writtenAfter(object: ObjectInfo, known: Date): boolean {
  return object.modified !== undefined && Math.floor(object.modified.getTime() / 1000) > Math.floor(known.getTime() / 1000);
}

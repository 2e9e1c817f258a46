// The one way verified bytes become a blob of a repository. Publishing the file happens inside
// the metadata transaction on purpose: gc deletes a blob's file inside its own transaction after
// checking nothing links it, so "link + publish" and "check + delete" can never interleave. Both
// take the digest's lock first (blobs.hold): SQLite runs one writer at a time anyway, but on
// PostgreSQL gc's check could otherwise pass, this push then record and link, and gc delete the
// file and forget the row under the new link.
// Where publishing is a copy (S3, Azure: O(size) in the store, seconds per 256 MiB), the copy is
// made before the transaction (BlobStore.prepare), which then only checks, under the digest's
// lock, that the copy is still there: the transaction (on SQLite, every other write of the
// registry) never waits for a copy. gc may delete the copy in between (an object without a row:
// a stray past its grace, or the object of a row it sweeps); the check then fails the attempt,
// never a row without its object, and the bytes, still where they were copied from, are copied
// again (a few times: gc sweeping the same digest again and again is rare; then the client gets
// a 503 to send again, which clients do but a test's client or a script may not).
// A chunked upload on S3 and Azure is not copied at all: its committed object becomes the blob
// where it is, the row naming it (BlobStore.prepare, recordBlob below).
// A blob that would take the repository past a quota is refused here, before the link (quotas.ts),
// and its staged bytes discarded: the client pushes again once there is room.
import { type BlobStore, CopyRemoved, type StagedBlob } from "../blobs/blob-store.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { MetadataParts, MetadataStore } from "../metadata/types.ts";
import { admitToQuotas } from "./quotas.ts";

/** Returns the blob as committed (inPlace: its row names the staged key, which is the blob now). */
export async function commitBlob(
  metadata: MetadataStore,
  blobs: BlobStore,
  repository: RepositoryName,
  staged: StagedBlob,
  alsoInTransaction?: (tx: MetadataParts) => Promise<void>,
): Promise<StagedBlob> {
  let ready = staged;
  let surplus = false;
  try {
    for (let attempt = 1; ; attempt++) {
      ready = await blobs.prepare(staged);
      try {
        surplus = await commitPrepared(metadata, blobs, repository, ready, alsoInTransaction);
        break;
      } catch (err) {
        if (!(err instanceof CopyRemoved) || attempt === COPY_ATTEMPTS) throw err;
      }
    }
  } catch (err) {
    await blobs.discard(ready).catch(() => undefined);
    throw err;
  }
  // A crash before this leaves the copied-from (or surplus) object without a row: gc's stray.
  await blobs.settle(ready, surplus).catch(() => undefined);
  return ready;
}

const COPY_ATTEMPTS = 3;

/** Returns whether the staged bytes are surplus (published in place, but the digest's row keeps its own object). */
async function commitPrepared(
  metadata: MetadataStore,
  blobs: BlobStore,
  repository: RepositoryName,
  ready: StagedBlob,
  alsoInTransaction?: (tx: MetadataParts) => Promise<void>,
): Promise<boolean> {
  return metadata.transaction(async (tx) => {
    await tx.blobs.hold(ready.digest);
    await admitToQuotas(tx, repository, [ready], ready.digest);
    await tx.repositories.ensure(repository);
    const surplus = await recordBlob(tx, blobs, ready);
    await tx.blobLinks.link(repository, ready.digest);
    await alsoInTransaction?.(tx);
    await blobs.publish(ready);
    return surplus;
  });
}

/**
 * The blob row, under the digest's lock, naming where the bytes are: the upload's object when
 * published in place, else the digest's key. A row there already whose object holds the bytes is
 * kept as it is (a read, or a redirect URL handed out, may be using that object) and the staged
 * object is surplus (true: deleted after the commit); a row whose object was lost (fsck's
 * blob-missing) is pointed at the staged one.
 */
async function recordBlob(tx: MetadataParts, blobs: BlobStore, ready: StagedBlob): Promise<boolean> {
  const { digest, size } = ready;
  if (!blobs.locatesByRows) {
    await tx.blobs.record(digest, size);
    return false;
  }
  const key = ready.inPlace ? ready.key : null;
  const current = await tx.blobs.objectKey(digest);
  if (current === undefined) await tx.blobs.record(digest, size, key ?? undefined);
  else if (current === key) return false;
  else if (await blobs.holds(digest, current, size)) return true;
  else await tx.blobs.relocate(digest, key);
  return false;
}

/**
 * The same steps inside a transaction the caller runs, which writes more (a classic chart push:
 * package, config and manifest at once). The caller discards the staged bytes if it fails.
 */
export async function commitBlobIn(tx: MetadataParts, blobs: BlobStore, repository: RepositoryName, staged: StagedBlob): Promise<void> {
  await tx.blobs.hold(staged.digest);
  await admitToQuotas(tx, repository, [staged], staged.digest);
  await tx.repositories.ensure(repository);
  await recordBlob(tx, blobs, staged);
  await tx.blobLinks.link(repository, staged.digest);
  await blobs.publish(staged);
}

// The one way verified bytes become a blob of a repository. Publishing the file happens inside
// the metadata transaction on purpose: gc deletes a blob's file inside its own transaction after
// checking nothing links it, so "link + publish" and "check + delete" can never interleave. Both
// take the digest's lock first (blobs.hold): SQLite runs one writer at a time anyway, but on
// PostgreSQL gc's check could otherwise pass, this push then record and link, and gc delete the
// file and forget the row under the new link.
// A blob that would take the repository past a quota is refused here, before the link (quotas.ts),
// and its staged bytes discarded: the client pushes again once there is room.
import type { BlobStore, StagedBlob } from "../blobs/blob-store.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { MetadataParts, MetadataStore } from "../metadata/types.ts";
import { admitToQuotas } from "./quotas.ts";

export async function commitBlob(
  metadata: MetadataStore,
  blobs: BlobStore,
  repository: RepositoryName,
  staged: StagedBlob,
  alsoInTransaction?: (tx: MetadataParts) => Promise<void>,
): Promise<void> {
  try {
    await metadata.transaction(async (tx) => {
      await tx.blobs.hold(staged.digest);
      await admitToQuotas(tx, repository, [staged], staged.digest);
      await tx.repositories.ensure(repository);
      await tx.blobs.record(staged.digest, staged.size);
      await tx.blobLinks.link(repository, staged.digest);
      await alsoInTransaction?.(tx);
      await blobs.publish(staged);
    });
  } catch (err) {
    await blobs.discard(staged).catch(() => undefined);
    throw err;
  }
}

/**
 * The same steps inside a transaction the caller runs, which writes more (a classic chart push:
 * package, config and manifest at once). The caller discards the staged bytes if it fails.
 */
export async function commitBlobIn(tx: MetadataParts, blobs: BlobStore, repository: RepositoryName, staged: StagedBlob): Promise<void> {
  await tx.blobs.hold(staged.digest);
  await admitToQuotas(tx, repository, [staged], staged.digest);
  await tx.repositories.ensure(repository);
  await tx.blobs.record(staged.digest, staged.size);
  await tx.blobLinks.link(repository, staged.digest);
  await blobs.publish(staged);
}

// Blobs as a repository sees them: a blob is readable in a repository only when linked to it
// (pushed there or mounted), however many other repositories share the bytes.
import type { Readable } from "node:stream";
import type { ByteRange } from "../blobs/blob-driver.ts";
import { rowAlreadyRead, type BlobLocator, type BlobStore } from "../blobs/blob-store.ts";
import type { Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { MetadataStore } from "../metadata/types.ts";
import { commitBlob } from "./blob-commit.ts";
import { refuseDeleteLocked, refuseImmutable } from "./protection.ts";
import { RefusalLog } from "./policy-refusals.ts";
import { admitToQuotas, StagingBound } from "./quotas.ts";
import type { ChangeActor } from "../domain/changes.ts";

/** A blob stat() found linked to a repository: what its GET then reads. */
export interface LinkedBlob {
  digest: Digest;
  size: number;
  /** Where its bytes are, read with the link (S3, Azure); undefined: every blob is at its digest's key. */
  rows?: BlobLocator;
}

export class BlobService {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;
  /** How long a redirect URL for a blob read stays valid (storage.redirectSeconds; distribution's S3 driver: 20 minutes). */
  private readonly redirectSeconds: number;

  /** Records quota refusals as events (policy-refusals.ts). */
  private readonly refusals: RefusalLog;

  /** What a body may stage under the quotas over its repository (quotas.ts). */
  private readonly staging: StagingBound;

  /**
   * A link older than this is written again when a client HEADs or GETs the blob (BlobLinkRows.seen):
   * a tenth of gc's grace, so a client told the blob is there has at least nine tenths of the grace
   * to send the manifest naming it, and a blob asked for all the time costs one write per link
   * per tenth of the grace. Null: gc has no grace (0), and a refresh would buy nothing.
   */
  private readonly refreshAfterMs: number | null;

  constructor(metadata: MetadataStore, blobs: BlobStore, redirectSeconds = 20 * 60, refusals = new RefusalLog(metadata), staging = new StagingBound(metadata), gcGraceSeconds = 3600) {
    this.metadata = metadata;
    this.blobs = blobs;
    this.redirectSeconds = redirectSeconds;
    this.refusals = refusals;
    this.staging = staging;
    this.refreshAfterMs = gcGraceSeconds > 0 ? (gcGraceSeconds * 1000) / 10 : null;
  }

  /**
   * A blob linked to the repository, with its size; BLOB_UNKNOWN otherwise. What a HEAD or GET
   * answers, so it keeps the link as a push would (refreshAfterMs): oras, docker and helm skip the
   * upload of a blob found there, and gc must not take it before their manifest arrives. On S3 and
   * Azure the link check reads where the bytes are in the same query: one query per HEAD or GET.
   */
  async stat(repository: RepositoryName, digest: Digest): Promise<LinkedBlob> {
    const staleBefore = this.refreshAfterMs === null ? null : new Date(Date.now() - this.refreshAfterMs);
    let rows: BlobLocator | undefined;
    if (this.blobs.locatesByRows) {
      const linked = await this.metadata.blobLinks.seenWithKey(repository, digest, staleBefore);
      if (!linked) throw blobUnknown(digest);
      rows = rowAlreadyRead(digest, linked.objectKey);
    } else if (!(await this.metadata.blobLinks.seen(repository, digest, staleBefore))) {
      throw blobUnknown(digest);
    }
    const info = await this.blobs.stat(digest, rows);
    if (!info) throw blobUnknown(digest);
    return { digest, size: info.size, ...(rows && { rows }) };
  }

  /** The bytes of a blob stat() found: only then may the read cache serve them. */
  open(blob: LinkedBlob, range?: ByteRange): Promise<Readable> {
    return this.blobs.open(blob.digest, range, { size: blob.size }, blob.rows);
  }

  /**
   * Where the client may fetch the blob's bytes itself (a presigned S3 or SAS URL, valid for
   * storage.redirectSeconds), or null when Berth serves them (the filesystem). Asked only after the
   * repository's access check and stat(): the URL grants the read to whoever holds it.
   */
  redirectUrl(blob: LinkedBlob): Promise<string | null> {
    return this.blobs.redirectUrl(blob.digest, this.redirectSeconds, blob.rows);
  }

  /** Single-request push (POST ?digest= or PUT with the whole body). */
  async put(repository: RepositoryName, expected: Digest, body: AsyncIterable<Uint8Array>, signal?: AbortSignal, declaredSize?: number, actor?: ChangeActor | null): Promise<void> {
    const pushing = async () => {
      // Bounded while it streams, as a chunk is; exact at the commit (quotas.ts).
      // Reserved until the blob is linked (then the usage counts it).
      await this.staging.bound(repository, body, { digest: expected, ...(declaredSize !== undefined && { declared: declaredSize }) }, async (bounded) => {
        const staged = await this.blobs.receive(bounded, expected, signal, declaredSize);
        await commitBlob(this.metadata, this.blobs, repository, staged);
        this.staging.entered(repository, staged.size);
      });
    };
    await this.refusals.watch(pushing(), actor);
  }

  /**
   * Links a blob another repository holds, when one the caller may read (`mayRead`) has it.
   * False when nothing was mounted: the caller then starts a plain upload (202), never a 404.
   */
  async mount(repository: RepositoryName, digest: Digest, mayRead: (source: RepositoryName) => boolean, actor?: ChangeActor | null): Promise<boolean> {
    const mounting = this.metadata.transaction(async (tx) => {
      // The digest's lock first, as every writer of a blob's links (blob-commit.ts): gc's sweep
      // cannot delete the blob between this check of the source and the new link.
      await tx.blobs.hold(digest);
      const source = (await tx.blobLinks.linking(digest, 100)).find(mayRead);
      if (!source) return false;
      const size = await tx.blobs.size(digest);
      // The file is trusted by name here (a mount must not re-read the blob), but not blindly:
      // one whose size differs from the recorded one is not the blob, so nothing is mounted.
      const file = await this.blobs.stat(digest, tx.blobs);
      if (size === null || file?.size !== size) return false;
      // A mount adds the blob to the repository's quotas as a push would (quotas.ts).
      await admitToQuotas(tx, repository, [{ digest, size }], digest);
      await tx.repositories.ensure(repository);
      // The new link's time (a row) keeps gc off the blob for its grace period.
      await tx.blobLinks.link(repository, digest);
      return true;
    });
    return this.refusals.watch(mounting, actor);
  }

  /**
   * Removes the blob from this repository; the bytes stay until gc finds them unused. Deleted
   * content kept restorable there (soft delete) no longer keeps it either: a blob deleted on its
   * own is not brought back by a restore (which then names it), and gc may free it. A blob only
   * such content still kept (gc unlinked it) is deleted the same way.
   */
  async delete(repository: RepositoryName, digest: Digest): Promise<void> {
    await this.metadata.transaction(async (tx) => {
      // A layer deleted from under a tagged image breaks that image's pulls: the image's delete
      // locks and immutability rules hold for its blobs too (found by attack: an immutable
      // release lost its layer to a blob DELETE).
      const covering = await tx.tags.covering(repository, digest);
      await refuseDeleteLocked(tx, repository, covering);
      await refuseImmutable(tx, repository, covering);
      const unlinked = await tx.blobLinks.unlink(repository, digest);
      const unkept = await tx.trash.forgetBlob(repository, digest);
      if (!unlinked && !unkept) throw blobUnknown(digest);
    });
  }
}

export function blobUnknown(digest: Digest): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", "blob unknown to registry", { digest });
}

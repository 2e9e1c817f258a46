// Chunked and streamed blob uploads (distribution-spec "Pushing a blob in chunks"). The offset
// lives in the metadata store and the bytes in the blob store, so an upload survives a restart.
import type { BlobStore } from "../blobs/blob-store.ts";
import type { Digest, DigestAlgorithm } from "../domain/digest.ts";
import { algorithmOf } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { MetadataStore, UploadRecord } from "../metadata/types.ts";
import { commitBlob } from "./blob-commit.ts";

/** A chunk's declared place: Content-Range `start-end` (inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

export class UploadService {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;
  /** Uploads a request is writing to now; a second writer would tear the bytes. */
  private readonly busy = new Set<string>();

  constructor(metadata: MetadataStore, blobs: BlobStore) {
    this.metadata = metadata;
    this.blobs = blobs;
  }

  async start(repository: RepositoryName, algorithm: DigestAlgorithm = "sha256"): Promise<UploadRecord> {
    const session = await this.blobs.startUpload(algorithm);
    const now = new Date();
    const record: UploadRecord = { id: session.id, repository, offset: 0, algorithm, startedAt: now, updatedAt: now };
    await this.metadata.uploads.create(record);
    return record;
  }

  async status(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const upload = await this.metadata.uploads.get(id);
    if (!upload || upload.repository !== repository) throw uploadUnknown(id);
    return upload;
  }

  /** Appends a chunk; with a range, it must start where the upload stands (else 416). */
  async append(repository: RepositoryName, id: string, body: AsyncIterable<Uint8Array>, range?: ChunkRange, signal?: AbortSignal): Promise<UploadRecord> {
    return this.exclusive(id, async () => {
      const upload = await this.status(repository, id);
      return this.appendTo(upload, body, range, signal);
    });
  }

  /** Closes the upload: appends an optional last chunk, verifies the digest, links the blob. */
  async finish(repository: RepositoryName, id: string, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ChunkRange; size?: number }, signal?: AbortSignal): Promise<void> {
    await this.exclusive(id, async () => {
      let upload = await this.status(repository, id);
      if (last && upload.offset === 0 && (!last.range || last.range.start === 0)) {
        // POST then PUT with the whole blob (helm, oras): hash and write it in one pass.
        const staged = await this.blobs.receive(last.body, expected, signal, last.size);
        await commitBlob(this.metadata, this.blobs, repository, staged, async (tx) => {
          await tx.uploads.delete(id);
        });
        await this.blobs.cancelUpload(id);
        return;
      }
      // A retry of a closing PUT whose first try died after the bytes were in (see completedUpload).
      const held = await this.unlessLost(id, this.blobs.completedUpload({ id, offset: upload.offset, algorithm: algorithmOf(expected) }, expected, last));
      if (held) {
        const committed = commitBlob(this.metadata, this.blobs, repository, held, async (tx) => {
          await tx.uploads.delete(id);
        });
        await this.unlessLost(id, committed); // gc may have removed a published file since it was hashed
        await this.blobs.cancelUpload(id); // a second name of a published blob (older Berth), if any
        return;
      }
      if (last) upload = await this.appendTo(upload, last.body, last.range, signal);
      let staged;
      try {
        staged = await this.unlessLost(id, this.blobs.finishUpload({ id, offset: upload.offset, algorithm: algorithmOf(expected) }, expected));
      } catch (err) {
        // A digest mismatch discards the upload: the spec has the client start over.
        if (err instanceof RegistryError && err.code === "DIGEST_INVALID") await this.metadata.uploads.delete(id);
        throw err;
      }
      await commitBlob(this.metadata, this.blobs, repository, staged, async (tx) => {
        await tx.uploads.delete(id);
      });
    });
  }

  async cancel(repository: RepositoryName, id: string): Promise<void> {
    await this.exclusive(id, async () => {
      await this.status(repository, id);
      await this.metadata.uploads.delete(id);
      await this.blobs.cancelUpload(id);
    });
  }

  /** Drops uploads idle since `before`; returns how many. */
  async purgeIdle(before: Date): Promise<number> {
    let purged = 0;
    for (const upload of await this.metadata.uploads.idleSince(before, 1000)) {
      if (this.busy.has(upload.id)) continue;
      await this.metadata.uploads.delete(upload.id);
      await this.blobs.cancelUpload(upload.id);
      purged++;
    }
    return purged;
  }

  private async appendTo(upload: UploadRecord, body: AsyncIterable<Uint8Array>, range: ChunkRange | undefined, signal?: AbortSignal): Promise<UploadRecord> {
    if (range && range.start !== upload.offset) {
      throw new RegistryError("RANGE_INVALID", `chunk must start at offset ${upload.offset}`, { expectedStart: upload.offset, start: range.start });
    }
    const session = await this.unlessLost(upload.id, this.blobs.appendUpload({ id: upload.id, offset: upload.offset, algorithm: upload.algorithm as DigestAlgorithm }, body, signal));
    if (range && session.offset !== range.end + 1) {
      // The body did not fill the declared range; keep the offset so the client can resume.
      throw new RegistryError("SIZE_INVALID", "chunk length does not match Content-Range", { start: range.start, end: range.end, received: session.offset - upload.offset });
    }
    if (!(await this.metadata.uploads.advance(upload.id, upload.offset, session.offset))) throw uploadUnknown(upload.id);
    return { ...upload, offset: session.offset, updatedAt: new Date() };
  }

  /**
   * The blob store answers BLOB_UPLOAD_UNKNOWN when the upload's bytes are gone (or are a
   * published blob's, never to be written again): the upload is then forgotten, so that GET,
   * PATCH and PUT all call it unknown and the client starts over, instead of a GET reporting a
   * Range no PATCH can continue from.
   */
  private async unlessLost<T>(id: string, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof RegistryError && err.code === "BLOB_UPLOAD_UNKNOWN") {
        await this.metadata.uploads.delete(id);
        await this.blobs.cancelUpload(id);
      }
      throw err;
    }
  }

  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) throw new RegistryError("RANGE_INVALID", "another request is writing to this upload", { id });
    this.busy.add(id);
    try {
      return await work();
    } finally {
      this.busy.delete(id);
    }
  }
}

export function uploadUnknown(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry; start a new upload", { id: id.slice(0, 100) });
}

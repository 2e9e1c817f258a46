// Chunked and streamed blob uploads (distribution-spec "Pushing a blob in chunks"). The offset and
// the blob driver's parts handle live in the upload row and the bytes in the blob store, so an
// upload survives a restart and may continue in another process.
//
// One writer at a time: a request that writes to an upload first takes the row's lease (a
// conditional UPDATE, so it holds across processes), renews it while the body streams, and frees
// it with the offset it reached. A second request meanwhile waits for the lease to run out by the
// database's clock (its holder died) and gets 416 once it sees the holder renew or pass it on. The
// purge and `berth gc` never drop a leased upload, which is how they tell a streaming upload from
// an idle one.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { bestEffort, type BlobStore, type UploadSession } from "../blobs/blob-store.ts";
import type { Digest, DigestAlgorithm } from "../domain/digest.ts";
import { algorithmOf } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { MetadataParts, MetadataStore, UploadRecord } from "../metadata/types.ts";
import { commitBlob } from "./blob-commit.ts";
import { RefusalLog } from "./policy-refusals.ts";
import { StagingBound } from "./quotas.ts";
import type { ChangeActor } from "../domain/changes.ts";

/** A chunk's declared place: Content-Range `start-end` (inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

/**
 * How long a writer's lease lasts unless renewed; a request renews it every third of that while it
 * writes (a statement that waits for no disk). Short, because it is also how long a client resuming
 * after its server died (kill -9, a lost container) waits before it may go on elsewhere.
 */
const LEASE_MS = 6_000;

/** How often a request waiting for another's lease looks at it again. */
const LEASE_POLL_MS = 250;

/**
 * This process as a lease owner: random per start, so no two processes (containers with one host
 * name and each its pid 1, or a restart reusing a pid) ever share a name. Whether an owner lives
 * is never asked of the operating system: a lease it stops renewing runs out.
 */
const PROCESS = randomUUID();

/** A request's hold on an upload: its name in the row, and a signal that aborts when the lease is lost. */
interface Lease {
  owner: string;
  signal: AbortSignal;
  /** Freed already (with the offset), or the row is gone: nothing to release at the end. */
  settled: boolean;
}

export class UploadService {
  private readonly metadata: MetadataStore;
  private readonly blobs: BlobStore;
  private requests = 0;

  /** Records quota refusals as events (policy-refusals.ts). */
  private readonly refusals: RefusalLog;

  /** What a body may stage under the quotas over its repository (quotas.ts). */
  private readonly staging: StagingBound;

  constructor(metadata: MetadataStore, blobs: BlobStore, refusals = new RefusalLog(metadata), staging = new StagingBound(metadata)) {
    this.metadata = metadata;
    this.blobs = blobs;
    this.refusals = refusals;
    this.staging = staging;
  }

  async start(repository: RepositoryName, algorithm: DigestAlgorithm = "sha256"): Promise<UploadRecord> {
    const session = this.blobs.startUpload(algorithm);
    const now = new Date();
    const record: UploadRecord = { id: session.id, repository, offset: 0, algorithm, startedAt: now, updatedAt: now, handle: null, lease: null, writer: null, verified: null };
    // Running hashes of uploads that moved to another process or were purged are dropped here,
    // where uploads begin (one read of the kept ids' rows), and by the periodic purge.
    await this.blobs.pruneHashes((ids) => this.metadata.uploads.writers(ids));
    await this.metadata.uploads.create(record);
    return record;
  }

  async status(repository: RepositoryName, id: string): Promise<UploadRecord> {
    const upload = await this.metadata.uploads.get(id);
    if (!upload) this.blobs.forgetHash(id);
    if (!upload || upload.repository !== repository) throw uploadUnknown(id);
    return upload;
  }

  /**
   * Appends a chunk; with a range, it must start where the upload stands (else 416). A chunk that
   * does not fit what the repository's quotas leave is refused (DENIED) before it is kept: of
   * declared length before a byte is read, else once it streams past (quotas.ts StagingBound).
   */
  async append(repository: RepositoryName, id: string, body: AsyncIterable<Uint8Array>, range?: ChunkRange, signal?: AbortSignal, declared?: number, actor?: ChangeActor | null): Promise<UploadRecord> {
    const appending = async () => {
      const size = range ? range.end - range.start + 1 : declared;
      // What the chunk was admitted for stays reserved until it ends (after its offset is recorded).
      return this.staging.bound(repository, body, size === undefined ? {} : { declared: size }, (bounded) =>
        this.leased(repository, id, signal, (upload, lease) => this.appendTo(upload, bounded, range, lease, true)),
      );
    };
    return this.refusals.watch(appending(), actor);
  }

  /** Closes the upload: appends an optional last chunk, verifies the digest, links the blob. */
  async finish(repository: RepositoryName, id: string, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ChunkRange; size?: number }, signal?: AbortSignal, actor?: ChangeActor | null): Promise<void> {
    return this.refusals.watch(this.finishing(repository, id, expected, last, signal), actor);
  }

  private async finishing(repository: RepositoryName, id: string, expected: Digest, last?: { body: AsyncIterable<Uint8Array>; range?: ChunkRange; size?: number }, signal?: AbortSignal): Promise<void> {
    const upload = await this.status(repository, id);
    if (last && upload.offset === 0 && upload.handle === null && (!last.range || last.range.start === 0)) {
      // POST then PUT with the whole blob (helm, oras): hash and write it in one pass, to a key of
      // its own, so no lease is needed (a PATCH streaming at the same time is refused below).
      if (upload.lease && (upload.lease.leftMs ?? 0) > 0) throw busy(id);
      // Reserved until the blob is linked (then the usage counts it).
      await this.staging.bound(repository, last.body, { digest: expected, ...(last.size !== undefined && { declared: last.size }) }, async (body) => {
        const staged = await this.blobs.receive(body, expected, signal, last.size);
        await commitBlob(this.metadata, this.blobs, repository, staged, async (tx) => {
          await tx.uploads.delete(id);
        });
        this.staging.entered(repository, staged.size);
      });
      // The upload itself stored nothing (no handle): nothing to delete (on S3 that saves three
      // requests per push). Parts a PATCH racing this PUT wrote are refused a row and gc takes them.
      this.blobs.forgetHash(id);
      return;
    }
    await this.leased(repository, id, signal, async (upload, lease) => {
      // A retry of a closing PUT whose first try died after the bytes were in (see completedUpload).
      const held = await this.unlessLost(id, this.blobs.completedUpload({ ...sessionOf(upload), algorithm: algorithmOf(expected) }, expected, last));
      if (held) {
        if (!held.published) await this.markVerified(id, lease, held.digest);
        const committed = commitBlob(this.metadata, this.blobs, repository, held, (tx) => this.closeRow(tx, id));
        const ready = await this.unlessLost(id, committed); // gc may have removed a published file since it was hashed
        lease.settled = true;
        // A second name of a published blob (older Berth), if any; published in place, the blob itself.
        if (!ready.inPlace) await this.blobs.cancelUpload(id);
        return;
      }
      if (last) {
        const size = last.range ? last.range.end - last.range.start + 1 : last.size;
        const before = upload;
        upload = await this.staging.bound(repository, last.body, { digest: expected, offset: before.offset, ...(size !== undefined && { declared: size }) }, (body) =>
          this.appendTo(before, body, last.range, lease, false),
        );
      }
      let staged;
      try {
        staged = await this.unlessLost(id, this.blobs.finishUpload({ ...sessionOf(upload), algorithm: algorithmOf(expected) }, expected));
      } catch (err) {
        // A digest mismatch discards the upload: the spec has the client start over.
        // Best effort: the 400 stays the answer; a row left behind expires (gc).
        if (err instanceof RegistryError && err.code === "DIGEST_INVALID") await bestEffort(this.drop(id));
        throw err;
      }
      await this.markVerified(id, lease, staged.digest);
      const committed = commitBlob(this.metadata, this.blobs, repository, staged, (tx) => this.closeRow(tx, id));
      await this.unlessLost(id, committed); // its bytes replaced since they were checked (blob-store.ts publish)
      lease.settled = true;
      this.staging.entered(repository, staged.size);
    });
  }

  /**
   * The upload's row goes in the transaction that records its blob, or the commit fails: a row
   * purged meanwhile (its lease ran out, gc) took the upload's object with it, and a blob
   * published in place must never name an object no row kept.
   */
  private async closeRow(tx: MetadataParts, id: string): Promise<void> {
    if (!(await tx.uploads.delete(id))) throw uploadUnknown(id);
  }

  async cancel(repository: RepositoryName, id: string): Promise<void> {
    await this.leased(repository, id, undefined, async (_, lease) => {
      lease.settled = true;
      await this.drop(id);
    });
  }

  /** Drops uploads idle since `before` that no request is writing to (in any process); returns how many. */
  async purgeIdle(before: Date): Promise<number> {
    let purged = 0;
    await this.blobs.pruneHashes((ids) => this.metadata.uploads.writers(ids));
    for (const upload of await this.metadata.uploads.idleSince(before, 1000)) {
      if (!(await this.metadata.uploads.expire(upload.id, before))) continue; // leased or used since
      await this.blobs.cancelUpload(upload.id);
      purged++;
    }
    return purged;
  }

  private async appendTo(upload: UploadRecord, body: AsyncIterable<Uint8Array>, range: ChunkRange | undefined, lease: Lease, release: boolean): Promise<UploadRecord> {
    if (range && range.start !== upload.offset) {
      throw new RegistryError("RANGE_INVALID", `chunk must start at offset ${upload.offset}`, { expectedStart: upload.offset, start: range.start });
    }
    const session = await this.unlessLost(upload.id, this.blobs.appendUpload(sessionOf(upload), body, lease.signal));
    if (range && session.offset !== range.end + 1) {
      this.blobs.forgetLastPart(upload.id); // it saw a part the row will not record
      // The body did not fill the declared range; keep the offset (and the handle that goes with
      // it) so the client can resume: the next part is written after the parts recorded.
      throw new RegistryError("SIZE_INVALID", "chunk length does not match Content-Range", { start: range.start, end: range.end, received: session.offset - upload.offset });
    }
    const advanced = await this.metadata.uploads.advance(upload.id, upload.offset, session.offset, { handle: session.handle, writer: session.writer, ...(release ? { release: lease.owner } : {}) });
    if (!advanced) {
      this.blobs.forgetHash(upload.id);
      throw uploadUnknown(upload.id);
    }
    if (release) lease.settled = true;
    return { ...upload, offset: session.offset, handle: session.handle, writer: session.writer ?? null, updatedAt: new Date() };
  }

  /**
   * Records in the row, before the bytes move to the digest's path, that they verified as `digest`:
   * the one thing that lets a retried closing PUT take the published file as this upload's
   * (blob-store.ts completedUpload). Refused when the lease was lost meanwhile: another writer
   * may be changing the bytes, so nothing is published.
   */
  private async markVerified(id: string, lease: Lease, digest: Digest): Promise<void> {
    if (lease.signal.aborted || !(await this.metadata.uploads.markVerified(id, lease.owner, digest))) {
      this.blobs.forgetHash(id);
      throw busy(id);
    }
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
        // Best effort: the 404 stays the answer (a 503 would have the client send again only to
        // get it); what is left expires (gc).
        await bestEffort(this.drop(id));
      }
      throw err;
    }
  }

  /**
   * Forgets an upload: its row, then its bytes, but only when this request deleted the row. A row
   * already gone may have gone with a commit that published the upload's object in place (S3,
   * Azure: the blob is that object now) while this request, its lease lost, was still at work;
   * what such a request leaves is gc's (an object no row names is a stray).
   */
  private async drop(id: string): Promise<void> {
    if (await this.metadata.uploads.delete(id)) await this.blobs.cancelUpload(id);
    else this.blobs.forgetHash(id);
  }

  /**
   * Another request holds the lease. A holder that lives renews it (every third of LEASE_MS) or
   * frees it soon; one that died (kill -9, its container gone) does neither, and its lease runs
   * out by the database's clock. So: wait, at most as long as a lease lasts, until it is free or
   * run out, then take it; the holder renewing or passing it on meanwhile means it lives: 416.
   */
  private async afterOthersLease(repository: RepositoryName, id: string, owner: string, signal: AbortSignal | undefined): Promise<UploadRecord> {
    const first = (await this.status(repository, id)).lease;
    for (;;) {
      const now = (await this.status(repository, id)).lease;
      const moved = first !== null && now !== null && (now.owner !== first.owner || now.until.getTime() !== first.until.getTime());
      if (moved || (now?.leftMs ?? 0) > LEASE_MS) throw busy(id);
      const taken = await this.metadata.uploads.lease(id, owner, LEASE_MS, { repository });
      if (taken) return taken;
      await sleep(Math.min(LEASE_POLL_MS, Math.max(1, now?.leftMs ?? 1)), undefined, { signal }).catch(() => {
        throw busy(id);
      });
    }
  }

  /**
   * Runs `work` holding the upload's lease: taking it reads the row (so the row is the one this
   * request continues), renewed while the work runs, freed at the end unless the work freed it
   * with its offset or deleted the row. A lease lost meanwhile (renewal refused) aborts the
   * work's writes, as the request's own signal does.
   */
  private async leased<T>(repository: RepositoryName, id: string, signal: AbortSignal | undefined, work: (upload: UploadRecord, lease: Lease) => Promise<T>): Promise<T> {
    const owner = `${PROCESS}/${++this.requests}`;
    const uploads = this.metadata.uploads;
    const upload = (await uploads.lease(id, owner, LEASE_MS, { repository })) ?? (await this.afterOthersLease(repository, id, owner, signal));
    const lost = new AbortController();
    const lease: Lease = { owner, signal: lost.signal, settled: false };
    const forward = () => lost.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    if (signal?.aborted) forward();
    const renewal = setInterval(() => {
      uploads.lease(id, owner, LEASE_MS, { repository }).then(
        (kept) => kept || lost.abort(busy(id)),
        () => undefined, // the next renewal tries again; the lease has two more thirds to go
      );
    }, LEASE_MS / 3);
    renewal.unref();
    let failed = true;
    try {
      const result = await work(upload, lease);
      failed = false;
      return result;
    } catch (err) {
      // A store call aborted by the lost lease fails with its SDK's AbortError (Azure's keeps no
      // reason): the reason is the answer (another request is writing), not a store failure. The
      // work's own answer stays (a DIGEST_INVALID whose clean-up deleted the row, so the renewal
      // that followed found no lease).
      if (lost.signal.aborted && lost.signal.reason instanceof RegistryError && !(err instanceof RegistryError)) throw lost.signal.reason;
      throw err;
    } finally {
      clearInterval(renewal);
      signal?.removeEventListener("abort", forward);
      // A failed request may have a part still in flight to the store: its writer is forgotten.
      if (!lease.settled) await uploads.release(id, owner, { failed }).catch(() => undefined);
    }
  }
}

function sessionOf(upload: UploadRecord): UploadSession {
  return { id: upload.id, offset: upload.offset, algorithm: upload.algorithm as DigestAlgorithm, handle: upload.handle, writer: upload.writer ?? null, verified: upload.verified ?? null };
}

function busy(id: string): RegistryError {
  return new RegistryError("RANGE_INVALID", "another request is writing to this upload", { id });
}

export function uploadUnknown(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry; start a new upload", { id: id.slice(0, 100) });
}

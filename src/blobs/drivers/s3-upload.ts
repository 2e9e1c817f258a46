// An upload into S3 (drivers/s3.ts): the writer of one multipart upload, with the tail of short
// writes kept as segment objects; the protocol is sketched at the top of s3.ts.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { connectionFailure } from "../../domain/errors.ts";
import type { BlobWriter, PartOptions, UploadHandle } from "../blob-driver.ts";
import { alreadyExists } from "./create-only.ts";
import { cutParts, givePartBuffer, partBuffer, readToBuffer } from "./part-buffers.ts";
import type { S3Driver } from "./s3.ts";

/** S3's smallest part but the last. */
export const S3_MIN_PART = 5 * 1024 * 1024;
/** Segments a tail holds at most before the next short write joins them into one (1-byte PATCHes). */
const MAX_SEGMENTS = 32;

/** One short write's bytes, an object under _tails/<key>/. */
interface Segment {
  name: string;
  size: number;
}

/** An S3 upload's handle: the multipart upload, its parts' ETags (part n = etags[n-1]), the tail's segments. */
export interface S3Parts {
  /** null until the first part; "" when the upload was one PutObject straight to the key (a short last part, no others). */
  uploadId: string | null;
  etags: string[];
  /** Bytes after the parts, in order, shorter than 5 MiB together. */
  tail: Segment[];
  size: number;
  /** The last part was written (a final part shorter than 5 MiB may already be among the parts). */
  closed?: boolean;
  /** uploadId "": the ETag of the object that one PutObject made (what commit() answers as its version). */
  put?: string;
}

export class S3Writer implements BlobWriter {
  private readonly driver: S3Driver;
  private readonly key: string;
  private parts: S3Parts;
  /** A multipart upload this writer created for a part that then failed: reused by the next part. */
  private created: string | null = null;
  /**
   * Whether the multipart upload the handle names is known to exist: a new one, or one S3 has
   * answered for since. A continued upload is asked about (ListParts) only before a write that
   * no multipart request would refuse (a tail segment): UploadPart and Complete refuse a gone
   * upload themselves, so a PATCH of a part or more costs no extra round trip.
   */
  private live: boolean;
  /**
   * Nothing shows under the key before commit, and the writer touches only its own multipart
   * upload and segments (S3Driver.hiddenWriter: other writers of the same key may be at work).
   */
  private readonly hidden: boolean;
  /** A hidden writer's whole object in one short last write: PutObject at commit, not before. */
  private pending: Buffer | null = null;
  /**
   * What makes the object under the key: create-only (If-None-Match: *, create-only.ts) but for a
   * hidden writer, whose digest's key may hold the same blob already (a re-push replaces it).
   */
  private readonly create: { IfNoneMatch?: string };

  constructor(driver: S3Driver, key: string, parts: S3Parts, options: { hidden?: boolean } = {}) {
    this.driver = driver;
    this.key = key;
    this.parts = parts;
    this.live = !parts.uploadId;
    this.hidden = options.hidden ?? false;
    this.create = this.hidden ? {} : { IfNoneMatch: "*" };
  }

  /** ENOENT when the continued multipart upload is gone (cancelled, purged). */
  private async ensureLive(): Promise<void> {
    if (this.live) return;
    await this.listOnePart(this.parts.uploadId!);
    this.live = true;
  }

  private async listOnePart(UploadId: string): Promise<void> {
    await this.s3.send(new ListPartsCommand({ Bucket: this.driver.bucket, Key: this.driver.objectKey(this.key), UploadId, MaxParts: 1 }));
  }

  /**
   * A failed request of this upload's as the contract's ENOENT when its multipart upload is gone.
   * A store may answer a part sent to a gone upload (completed, aborted) before reading the part's
   * body and close the connection: the sender sees a reset, never the NoSuchUpload (versitygw
   * does, attack on uploads F4). So after a connection failure that outlived the SDK's retries,
   * the store is asked, without a body; an upload it still has (or no answer) leaves the failure
   * as it was: the store's, to try again.
   */
  private async gone(err: unknown): Promise<unknown> {
    const uploadId = this.parts.uploadId || this.created;
    if (!connectionFailure(err) || !uploadId) return missingAsEnoent(err, this.key);
    const missing = await this.listOnePart(uploadId).then(
      () => null,
      (asked: unknown) => (isMissing(asked) ? asked : null),
    );
    return missing ? missingAsEnoent(missing, this.key) : err;
  }

  get size(): number {
    return this.parts.size;
  }

  get handle(): UploadHandle {
    return JSON.stringify(this.parts);
  }

  private get s3() {
    return this.driver.client;
  }

  private async uploadId(): Promise<string> {
    if (this.parts.uploadId) return this.parts.uploadId;
    if (!this.created) {
      const created = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.driver.bucket, Key: this.driver.objectKey(this.key) }));
      this.created = created.UploadId!;
    }
    return this.created;
  }

  async write(source: AsyncIterable<Uint8Array>, options: PartOptions = {}): Promise<number> {
    if (this.parts.closed) throw new Error("a part was written after the last one");
    const { signal } = options;
    const Bucket = this.driver.bucket;
    const Key = this.driver.objectKey(this.key);
    const etags = [...this.parts.etags];
    const held = this.parts.tail;
    const heldSize = held.reduce((sum, segment) => sum + segment.size, 0);
    const sendPart = async (...body: Buffer[]) => {
      const PartNumber = etags.length + 1;
      etags.push(""); // the number is taken now; parts upload in order, one at a time
      const UploadId = await this.uploadId();
      // Joined only when the tail holds bytes: a copy of a whole part otherwise for nothing.
      const pieces = body.filter((piece) => piece.length > 0);
      const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      const sent = await this.s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: bytes, ContentLength: bytes.length }), { abortSignal: signal });
      etags[PartNumber - 1] = sent.ETag!;
    };
    const putSegment = async (bytes: Buffer): Promise<Segment> => {
      const name = randomUUID();
      await this.s3.send(new PutObjectCommand({ Bucket, Key: this.driver.tailKey(this.key, name), Body: bytes, ContentLength: bytes.length }), { abortSignal: signal });
      return { name, size: bytes.length };
    };
    const next: S3Parts = { uploadId: this.parts.uploadId, etags, tail: [], size: this.parts.size };
    /** The buffer the first bytes were taken into, given back for the next PATCH once sent (unless kept as `pending`). */
    let taken: Buffer | null = null;
    try {
      // First what, after the tail, fills one part: the common short PATCH ends here.
      const { bytes: first, rest: more, buffer } = await takeUpTo(source, this.driver.partSize - heldSize, this.driver.partSize, signal);
      taken = buffer;
      next.size += first.length;
      const whole = heldSize + first.length;
      if (more === null && !options.last && whole < S3_MIN_PART) {
        await this.ensureLive();
        await this.uploadId(); // listed from the first write on, so gc can find it
        if (first.length === 0) next.tail = held;
        else if (held.length < MAX_SEGMENTS) next.tail = [...held, await putSegment(first)];
        else next.tail = [await putSegment(Buffer.concat([await this.readSegments(held), first]))];
      } else if (more === null && options.last && next.uploadId === null && etags.length === 0) {
        // The whole upload in one short write: one PutObject, straight to the key (hidden: at commit).
        if (this.hidden) {
          this.pending = first;
          taken = null; // kept until commit
        } else next.put = await this.putWhole(first, signal);
        next.uploadId = "";
        next.closed = true;
      } else if (more === null) {
        // A last part, or a part of at least 5 MiB: the tail and these bytes.
        if (whole > 0 || etags.length === 0) await sendPart(await this.readSegments(held), first);
        next.closed = options.last === true && whole < S3_MIN_PART;
      } else {
        await sendPart(await this.readSegments(held), first);
        const { read, rest, release } = await cutParts(more, this.driver.partSize, (part) => sendPart(part), { signal });
        try {
          next.size += read;
          if (options.last || rest.length >= S3_MIN_PART) {
            if (rest.length > 0) await sendPart(rest);
            next.closed = options.last === true && rest.length < S3_MIN_PART;
          } else if (rest.length > 0) {
            next.tail = [await putSegment(rest)];
          }
        } finally {
          release();
        }
      }
    } catch (err) {
      throw await this.gone(err);
    } finally {
      // Every request that read it has been answered (or failed): no send still holds the bytes.
      if (taken) givePartBuffer(taken);
    }
    if (next.uploadId === null) next.uploadId = await this.uploadId();
    this.live = true;
    const read = next.size - this.parts.size;
    this.parts = next;
    return read;
  }

  /**
   * The whole upload in one short write, put straight to the key, create-only. The key holding
   * exactly these bytes already is this write done before (a retry whose first answer was lost,
   * which no handle recorded): it counts, with that object's ETag; other bytes are EEXIST.
   */
  private async putWhole(bytes: Buffer, signal?: AbortSignal): Promise<string | undefined> {
    const Bucket = this.driver.bucket;
    const Key = this.driver.objectKey(this.key);
    try {
      return (await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: bytes, ContentLength: bytes.length, ...this.create }), { abortSignal: signal })).ETag;
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      const held = await this.s3.send(new GetObjectCommand({ Bucket, Key }), { abortSignal: signal }).catch((asked: unknown) => {
        throw isMissing(asked) ? err : asked; // gone again meanwhile: the store's refusal, as it came
      });
      const body = held.Body as Readable;
      if (held.ContentLength === bytes.length && (await readToBuffer(body)).equals(bytes)) return held.ETag;
      body.destroy(); // not read: its connection is not left waiting
      throw alreadyExists(this.key, err);
    }
  }

  /** The tail's segments, in order, as one buffer (under 5 MiB), all asked for at once (one round trip's wait, not one per segment). */
  private async readSegments(segments: Segment[]): Promise<Buffer> {
    const read = async (segment: Segment) => {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.tailKey(this.key, segment.name) }));
      return readToBuffer(got.Body as Readable);
    };
    const settled = await Promise.allSettled(segments.map(read));
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw missingAsEnoent(failed.reason, this.key);
    return Buffer.concat(settled.map((s) => (s as PromiseFulfilledResult<Buffer>).value));
  }

  /** Resolves with the ETag of the object made, unless a try whose answer was lost made it (then nothing). */
  async commit(): Promise<string | undefined> {
    const { uploadId, etags, tail } = this.parts;
    const Bucket = this.driver.bucket;
    const Key = this.driver.objectKey(this.key);
    let version: string | undefined;
    try {
      if (uploadId === "") {
        // Already the object (one PutObject), or a hidden writer's, put now.
        if (this.pending) version = (await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: this.pending, ContentLength: this.pending.length }))).ETag;
        this.pending = null;
        return version ?? this.parts.put;
      }
      if (uploadId === null || (etags.length === 0 && tail.length === 0)) {
        // No bytes: an empty object (and no multipart upload left over).
        version = (await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.alloc(0), ContentLength: 0, ...this.create }))).ETag;
      } else if (etags.length === 0 && tail.length === 1 && this.hidden) {
        // Shorter than one part, in one segment: copied to the key inside the store. Only where it
        // may replace: stores ignore CopyObject's If-None-Match (versitygw 1.8 does), so a
        // create-only writer reads the segment and puts it (under 5 MiB), as for several.
        const from = this.driver.tailKey(this.key, tail[0]!.name);
        version = (await this.s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${from.split("/").map(encodeURIComponent).join("/")}` }))).CopyObjectResult?.ETag;
      } else if (etags.length === 0) {
        const body = await this.readSegments(tail);
        version = (await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.length, ...this.create }))).ETag;
      } else {
        const parts = [...etags];
        if (tail.length > 0) {
          const body = await this.readSegments(tail);
          const sent = await this.s3.send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber: parts.length + 1, Body: body, ContentLength: body.length }));
          parts.push(sent.ETag!);
        }
        version = (await this.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) }, ...this.create }))).ETag;
      }
    } catch (err) {
      // Committed already by a try whose answer was lost (a crash right after it): its multipart
      // upload and tail segments are gone (or the store refuses the create-only commit: 412), but
      // the object holds every byte the handle records, so the commit is done. The caller checks
      // its digest before anything is visible (attack on uploads, F2). Such a retry sends the
      // tail's part to the completed upload first (F4: gone()).
      const failure = await this.gone(err);
      const exists = isPreconditionFailed(err);
      const gone = (failure as { code?: string }).code === "ENOENT"; // readSegments says ENOENT itself
      if ((!gone && !exists) || (await this.driver.stat(this.key))?.size !== this.parts.size) {
        if (!exists) throw failure;
        // Another writer's object: it stays. So does nothing of this writer's (gc cannot see an
        // upload under a key that holds an object).
        const own = uploadId || this.created;
        await Promise.all([this.deleteOwnSegments(), own && this.abortOwn(own)]).catch(() => undefined);
        throw alreadyExists(this.key, err);
      }
      version = undefined; // which object is there now is not known: the caller reads it back
    }
    if (this.hidden) {
      // Only this writer's own leftovers: other writers of the key may be at work.
      await this.deleteOwnSegments();
      if (etags.length === 0 && uploadId) await this.abortOwn(uploadId);
      return version;
    }
    // Left over: the segments (and older ones: a part no row recorded, a failed write) and, for a
    // short upload, the multipart upload the tail stood in.
    await this.driver.deleteTails(this.key);
    await this.driver.abortUploads(this.key);
    return version;
  }

  async cancel(): Promise<void> {
    if (this.hidden) {
      this.pending = null;
      await this.deleteOwnSegments();
      const own = this.parts.uploadId || this.created;
      if (own) await this.abortOwn(own);
      return;
    }
    if (this.parts.uploadId === "") await this.s3.send(new DeleteObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.objectKey(this.key) }));
    await this.driver.deleteTails(this.key);
    await this.driver.abortUploads(this.key);
  }

  private async deleteOwnSegments(): Promise<void> {
    for (const segment of this.parts.tail) await this.s3.send(new DeleteObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.tailKey(this.key, segment.name) }));
  }

  private async abortOwn(UploadId: string): Promise<void> {
    await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.driver.bucket, Key: this.driver.objectKey(this.key), UploadId })).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

export function s3PartsOf(handle: UploadHandle): S3Parts {
  const parsed = JSON.parse(handle) as Partial<S3Parts>;
  if (!(parsed.uploadId === null || typeof parsed.uploadId === "string") || !Array.isArray(parsed.etags) || !Number.isSafeInteger(parsed.size)) {
    throw new Error(`not an S3 upload handle: ${handle.slice(0, 100)}`);
  }
  return { uploadId: parsed.uploadId, etags: parsed.etags, tail: Array.isArray(parsed.tail) ? parsed.tail : [], size: parsed.size!, closed: parsed.closed };
}

/**
 * Up to `limit` bytes of the source in one buffer (`buffer`, of `size` ≥ limit bytes, to give back
 * with givePartBuffer once the bytes are sent; null when none came), and the rest of the source
 * (null: it ended within them). The rest starts with what the last chunk had beyond the limit.
 */
async function takeUpTo(source: AsyncIterable<Uint8Array>, limit: number, size: number, signal?: AbortSignal): Promise<{ bytes: Buffer; rest: AsyncIterable<Uint8Array> | null; buffer: Buffer | null }> {
  const iterator = source[Symbol.asyncIterator]();
  // Copied as they come (a source may reuse a chunk's memory once the next one is asked for), into
  // one buffer: one copy, not a copy per chunk joined by a second.
  let buffer: Buffer | null = null;
  let filled = 0;
  const taken = (rest: AsyncIterable<Uint8Array> | null) => ({ bytes: (buffer ?? Buffer.alloc(0)).subarray(0, filled), rest, buffer });
  while (filled < limit) {
    signal?.throwIfAborted();
    const next = await iterator.next();
    if (next.done) return taken(null);
    const chunk = next.value;
    const n = Math.min(chunk.length, limit - filled);
    buffer ??= partBuffer(size);
    buffer.set(chunk.subarray(0, n), filled);
    filled += n;
    if (n < chunk.length) return taken(continued(chunk.subarray(n), iterator));
  }
  // Exactly `limit` bytes so far: whether more follow is only known by asking.
  const next = await iterator.next();
  if (next.done) return taken(null);
  return taken(continued(next.value, iterator));
}

async function* continued(first: Uint8Array, iterator: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  if (first.length > 0) yield first;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
}

/** The store refused a conditional request (If-None-Match: * on a key that holds an object; If-Match of another ETag). */
export function isPreconditionFailed(err: unknown): boolean {
  const failure = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return failure.name === "PreconditionFailed" || failure.$metadata?.httpStatusCode === 412;
}

export function isMissing(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  // InvalidPart: a part the handle names was replaced (a late write of a dead writer): the upload's bytes are not its own any more.
  return name === "NoSuchKey" || name === "NotFound" || name === "NoSuchUpload" || name === "InvalidPart" || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;
}

/** S3's "no such key / upload" as the contract's ENOENT; anything else unchanged. */
export function missingAsEnoent(err: unknown, key: string): unknown {
  if (!isMissing(err)) return err;
  return Object.assign(new Error(`nothing stored under ${key} (${(err as Error).name})`), { code: "ENOENT", cause: err });
}

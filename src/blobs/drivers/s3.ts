// Blobs in an S3 bucket (AWS S3 or an S3-compatible store: path-style addressing and a custom
// endpoint). An upload is a multipart upload under its key; S3 refuses parts under 5 MiB except
// the last, while clients send 1 MiB PATCHes, so bytes short of a part are kept as a tail: a list
// of small immutable segment objects, one per short write, read back once when they and the next
// bytes make a part. Every byte is written at most twice and read back at most once, never the
// whole upload again (no complete-and-recopy as in distribution's driver).
//
//   write(bytes): the first (partSize − tail) bytes: the source ends sooner and tail + them is
//                 short of 5 MiB (not last) → PUT them as one more segment, done; else part n+1 =
//                 GET segments + them → UploadPart. The rest of the source: partSize parts, and
//                 what is left is a part (≥ 5 MiB, or last) or the new tail's first segment.
//   commit():     the tail → the final part (no parts at all: one segment is CopyObject'd to the
//                 key, several are joined by one PutObject, under 5 MiB) · Complete.
//   cancel():     delete the segments · AbortMultipartUpload.
// A segment gets a new name each time, so an older handle still names the segments it had.
//
// Segments live under _tails/<key>/<uuid>, outside the folders the blob store lists; list() reports
// an upload that only they show as its key, so gc finds what a crash left. See docs/storage.md
// for what move() guarantees here (a copy, then a delete: never "the same bytes under two names
// that a later write could change", because S3 objects are never written in place).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { BlobDriver, BlobWriter, ByteRange, ObjectInfo, PartOptions, UploadHandle } from "../blob-driver.ts";
import { cutParts, readToBuffer } from "./part-buffers.ts";

const MiB = 1024 * 1024;
/** S3's smallest part but the last. */
export const S3_MIN_PART = 5 * MiB;
/** S3's largest single CopyObject; larger objects are copied part by part. */
const COPY_OBJECT_LIMIT = 5 * 1024 * MiB;
const TAILS = "_tails";
/** Segments a tail holds at most before the next short write joins them into one (1-byte PATCHes). */
const MAX_SEGMENTS = 32;

export interface S3DriverOptions {
  bucket: string;
  region: string;
  /** e.g. http://127.0.0.1:7070 for an S3-compatible store; AWS's own when absent. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Keys are stored under `<prefix>/` (several registries, or other data, in one bucket). */
  prefix?: string;
  /** Else the SDK's default chain (AWS_* variables, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Blob GETs are answered with a presigned URL (true) or streamed through Berth (false). */
  redirect?: boolean;
  /** Bytes per uploaded part (≥ 5 MiB); two part buffers per writer are held in memory. */
  partSize?: number;
  /** Objects larger than this are moved with UploadPartCopy (tests lower it from 5 GiB). */
  copyObjectLimit?: number;
  /** The part size of such copies (≥ 5 MiB). */
  copyPartSize?: number;
}

/** One short write's bytes, an object under _tails/<key>/. */
interface Segment {
  name: string;
  size: number;
}

/** An S3 upload's handle: the multipart upload, its parts' ETags (part n = etags[n-1]), the tail's segments. */
interface S3Parts {
  /** null until the first part; "" when the upload was one PutObject straight to the key (a short last part, no others). */
  uploadId: string | null;
  etags: string[];
  /** Bytes after the parts, in order, shorter than 5 MiB together. */
  tail: Segment[];
  size: number;
  /** The last part was written (a final part shorter than 5 MiB may already be among the parts). */
  closed?: boolean;
}

export class S3Driver implements BlobDriver {
  readonly client: S3Client;
  readonly bucket: string;
  readonly partSize: number;
  private readonly base: string;
  private readonly redirect: boolean;
  private readonly copyObjectLimit: number;
  private readonly copyPartSize: number;

  constructor(options: S3DriverOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      // Checksums only where S3 demands them: S3-compatible stores differ in the newer ones, and
      // every blob's digest is checked by the blob store anyway.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.bucket = options.bucket;
    this.base = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, "")}/` : "";
    this.redirect = options.redirect ?? false;
    this.partSize = Math.max(options.partSize ?? 16 * MiB, S3_MIN_PART);
    this.copyObjectLimit = options.copyObjectLimit ?? COPY_OBJECT_LIMIT;
    this.copyPartSize = Math.max(options.copyPartSize ?? 256 * MiB, S3_MIN_PART);
  }

  /** The bucket key of a driver key. */
  objectKey(key: string): string {
    return this.base + key;
  }

  tailKey(key: string, name: string): string {
    return `${this.base}${TAILS}/${key}/${name}`;
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
      return got.Body as Readable;
    } catch (err) {
      throw missingAsEnoent(err, key);
    }
  }

  async redirectUrl(key: string, expiresInSeconds: number): Promise<string | null> {
    if (!this.redirect) return null;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { expiresIn: expiresInSeconds });
  }

  async writer(key: string, handle?: UploadHandle | null): Promise<BlobWriter> {
    const parts = handle ? s3PartsOf(handle) : { uploadId: null, etags: [], tail: [], size: 0 };
    if (parts.uploadId) {
      // Cancelled or purged meanwhile: say so now, before a part is written into nothing.
      try {
        await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: parts.uploadId, MaxParts: 1 }));
      } catch (err) {
        throw missingAsEnoent(err, key);
      }
    }
    return new S3Writer(this, key, parts);
  }

  /**
   * A server-side copy, then the source deleted. The copy becomes visible at once and whole (S3
   * shows a key's old object or its new one, never part of one); the two names hold separate
   * objects, so nothing written to `from` afterwards can reach `to`. A crash between copy and
   * delete leaves `from` behind, which gc removes as a key no row names.
   */
  async move(from: string, to: string): Promise<void> {
    const info = await this.stat(from);
    if (!info) throw Object.assign(new Error(`nothing stored under ${from}`), { code: "ENOENT" });
    try {
      if (info.size <= this.copyObjectLimit) {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.objectKey(to), CopySource: this.copySource(from) }));
      } else {
        await this.copyInParts(from, to, info.size);
      }
    } catch (err) {
      throw missingAsEnoent(err, from);
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(from) }));
  }

  private copySource(key: string): string {
    return `${this.bucket}/${this.objectKey(key).split("/").map(encodeURIComponent).join("/")}`;
  }

  /** Above CopyObject's 5 GiB: a multipart upload of UploadPartCopy ranges, four at a time. */
  private async copyInParts(from: string, to: string, size: number): Promise<void> {
    const Key = this.objectKey(to);
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
    const UploadId = created.UploadId!;
    try {
      const count = Math.ceil(size / this.copyPartSize);
      const etags: string[] = new Array<string>(count);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < count; i = next++) {
          const start = i * this.copyPartSize;
          const end = Math.min(size, start + this.copyPartSize) - 1;
          const copied = await this.client.send(new UploadPartCopyCommand({ Bucket: this.bucket, Key, UploadId, PartNumber: i + 1, CopySource: this.copySource(from), CopySourceRange: `bytes=${start}-${end}` }));
          etags[i] = copied.CopyPartResult!.ETag!;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  /** The object, every multipart upload under exactly this key, and its tails. */
  async delete(key: string): Promise<void> {
    // Tails first: a crash after them leaves the multipart upload, which list() still shows.
    await this.deleteTails(key);
    await this.abortUploads(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async deleteTails(key: string, keep?: string): Promise<void> {
    for await (const object of this.objects(`${this.base}${TAILS}/${key}/`)) {
      if (keep !== undefined && object.key === keep) continue;
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: object.key }));
    }
  }

  /** Aborts the multipart uploads of exactly `key` (but `except`). */
  async abortUploads(key: string, except?: string): Promise<void> {
    const Key = this.objectKey(key);
    for await (const upload of this.uploads(Key)) {
      if (upload.key !== Key || upload.uploadId === except) continue;
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.uploadId }));
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
  }

  /**
   * Objects under `prefix/`, then the keys of unfinished uploads there that no object shows: a
   * multipart upload, or tails alone (a crash between deleting an upload's tails and aborting it
   * leaves the upload; one between aborting and deleting tails cannot happen: tails go first).
   */
  async *list(prefix: string): AsyncIterable<{ key: string } & ObjectInfo> {
    const folder = prefix === "" ? "" : `${prefix.replace(/\/+$/, "")}/`;
    const unfinished = new Map<string, number>();
    for await (const upload of this.uploads(this.base + folder)) unfinished.set(upload.key.slice(this.base.length), 0);
    const tails = `${this.base}${TAILS}/`;
    for await (const tail of this.objects(tails + folder)) {
      const key = tail.key.slice(tails.length, tail.key.lastIndexOf("/"));
      unfinished.set(key, Math.max(unfinished.get(key) ?? 0, tail.size));
    }
    for await (const object of this.objects(this.base + folder)) {
      const key = object.key.slice(this.base.length);
      if (key.startsWith(`${TAILS}/`)) continue;
      unfinished.delete(key);
      yield { key, size: object.size };
    }
    for (const [key, size] of unfinished) yield { key, size };
  }

  private async *objects(prefix: string): AsyncIterable<{ key: string; size: number }> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken }));
      for (const object of page.Contents ?? []) yield { key: object.Key!, size: object.Size ?? 0 };
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  private async *uploads(prefix: string): AsyncIterable<{ key: string; uploadId: string }> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
      for (const upload of page.Uploads ?? []) yield { key: upload.Key!, uploadId: upload.UploadId! };
      KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (KeyMarker);
  }
}

class S3Writer implements BlobWriter {
  private readonly driver: S3Driver;
  private readonly key: string;
  private parts: S3Parts;
  /** A multipart upload this writer created for a part that then failed: reused by the next part. */
  private created: string | null = null;

  constructor(driver: S3Driver, key: string, parts: S3Parts) {
    this.driver = driver;
    this.key = key;
    this.parts = parts;
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
      const bytes = body.length === 1 ? body[0]! : Buffer.concat(body);
      const sent = await this.s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: bytes, ContentLength: bytes.length }), { abortSignal: signal });
      etags[PartNumber - 1] = sent.ETag!;
    };
    const putSegment = async (bytes: Buffer): Promise<Segment> => {
      const name = randomUUID();
      await this.s3.send(new PutObjectCommand({ Bucket, Key: this.driver.tailKey(this.key, name), Body: bytes, ContentLength: bytes.length }), { abortSignal: signal });
      return { name, size: bytes.length };
    };
    const next: S3Parts = { uploadId: this.parts.uploadId, etags, tail: [], size: this.parts.size };
    try {
      // First what, after the tail, fills one part: the common short PATCH ends here.
      const { bytes: first, rest: more } = await takeUpTo(source, this.driver.partSize - heldSize, signal);
      next.size += first.length;
      const whole = heldSize + first.length;
      if (more === null && !options.last && whole < S3_MIN_PART) {
        await this.uploadId(); // listed from the first write on, so gc can find it
        if (first.length === 0) next.tail = held;
        else if (held.length < MAX_SEGMENTS) next.tail = [...held, await putSegment(first)];
        else next.tail = [await putSegment(Buffer.concat([await this.readSegments(held), first]))];
      } else if (more === null && options.last && next.uploadId === null && etags.length === 0) {
        // The whole upload in one short write: one PutObject, straight to the key.
        await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: first, ContentLength: first.length }), { abortSignal: signal });
        next.uploadId = "";
        next.closed = true;
      } else if (more === null) {
        // A last part, or a part of at least 5 MiB: the tail and these bytes.
        if (whole > 0 || etags.length === 0) await sendPart(await this.readSegments(held), first);
        next.closed = options.last === true && whole < S3_MIN_PART;
      } else {
        await sendPart(await this.readSegments(held), first);
        const { read, rest } = await cutParts(more, this.driver.partSize, (part) => sendPart(part), { signal });
        next.size += read;
        if (options.last || rest.length >= S3_MIN_PART) {
          if (rest.length > 0) await sendPart(rest);
          next.closed = options.last === true && rest.length < S3_MIN_PART;
        } else if (rest.length > 0) {
          next.tail = [await putSegment(rest)];
        }
      }
    } catch (err) {
      throw missingAsEnoent(err, this.key);
    }
    if (next.uploadId === null) next.uploadId = await this.uploadId();
    const read = next.size - this.parts.size;
    this.parts = next;
    return read;
  }

  /** The tail's segments, in order, as one buffer (under 5 MiB). */
  private async readSegments(segments: Segment[]): Promise<Buffer> {
    const bytes: Buffer[] = [];
    try {
      for (const segment of segments) {
        const got = await this.s3.send(new GetObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.tailKey(this.key, segment.name) }));
        bytes.push(await readToBuffer(got.Body as Readable));
      }
    } catch (err) {
      throw missingAsEnoent(err, this.key);
    }
    return Buffer.concat(bytes);
  }

  async commit(): Promise<void> {
    const { uploadId, etags, tail } = this.parts;
    const Bucket = this.driver.bucket;
    const Key = this.driver.objectKey(this.key);
    try {
      if (uploadId === "") return; // already the object (one PutObject)
      if (uploadId === null || (etags.length === 0 && tail.length === 0)) {
        // No bytes: an empty object (and no multipart upload left over).
        await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.alloc(0), ContentLength: 0 }));
      } else if (etags.length === 0 && tail.length === 1) {
        // Shorter than one part, in one segment: copied to the key inside the store.
        const from = this.driver.tailKey(this.key, tail[0]!.name);
        await this.s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${from.split("/").map(encodeURIComponent).join("/")}` }));
      } else if (etags.length === 0) {
        const body = await this.readSegments(tail);
        await this.s3.send(new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.length }));
      } else {
        const parts = [...etags];
        if (tail.length > 0) {
          const body = await this.readSegments(tail);
          const sent = await this.s3.send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber: parts.length + 1, Body: body, ContentLength: body.length }));
          parts.push(sent.ETag!);
        }
        await this.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
      }
    } catch (err) {
      throw missingAsEnoent(err, this.key);
    }
    // Left over: the segments (and older ones: a part no row recorded, a failed write) and, for a
    // short upload, the multipart upload the tail stood in.
    await this.driver.deleteTails(this.key);
    await this.driver.abortUploads(this.key);
  }

  async cancel(): Promise<void> {
    if (this.parts.uploadId === "") await this.s3.send(new DeleteObjectCommand({ Bucket: this.driver.bucket, Key: this.driver.objectKey(this.key) }));
    await this.driver.deleteTails(this.key);
    await this.driver.abortUploads(this.key);
  }
}

function s3PartsOf(handle: UploadHandle): S3Parts {
  const parsed = JSON.parse(handle) as Partial<S3Parts>;
  if (!(parsed.uploadId === null || typeof parsed.uploadId === "string") || !Array.isArray(parsed.etags) || !Number.isSafeInteger(parsed.size)) {
    throw new Error(`not an S3 upload handle: ${handle.slice(0, 100)}`);
  }
  return { uploadId: parsed.uploadId, etags: parsed.etags, tail: Array.isArray(parsed.tail) ? parsed.tail : [], size: parsed.size!, closed: parsed.closed };
}

/**
 * Up to `limit` bytes of the source in one buffer, and the rest of the source (null: it ended
 * within them). The rest starts with what the last chunk had beyond the limit.
 */
async function takeUpTo(source: AsyncIterable<Uint8Array>, limit: number, signal?: AbortSignal): Promise<{ bytes: Buffer; rest: AsyncIterable<Uint8Array> | null }> {
  const iterator = source[Symbol.asyncIterator]();
  // Copied as they come (a source may reuse a chunk's memory once the next one is asked for), and
  // only as much as came: most writes are 1 MiB PATCHes, far below `limit`.
  const copies: Buffer[] = [];
  let size = 0;
  const taken = () => Buffer.concat(copies, size);
  while (size < limit) {
    signal?.throwIfAborted();
    const next = await iterator.next();
    if (next.done) return { bytes: taken(), rest: null };
    const chunk = next.value;
    const n = Math.min(chunk.length, limit - size);
    copies.push(Buffer.from(chunk.subarray(0, n)));
    size += n;
    if (n < chunk.length) return { bytes: taken(), rest: continued(chunk.subarray(n), iterator) };
  }
  // Exactly `limit` bytes so far: whether more follow is only known by asking.
  const next = await iterator.next();
  if (next.done) return { bytes: taken(), rest: null };
  return { bytes: taken(), rest: continued(next.value, iterator) };
}

async function* continued(first: Uint8Array, iterator: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  if (first.length > 0) yield first;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
}

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === "NoSuchKey" || name === "NotFound" || name === "NoSuchUpload" || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;
}

/** S3's "no such key / upload" as the contract's ENOENT; anything else unchanged. */
function missingAsEnoent(err: unknown, key: string): unknown {
  if (!isMissing(err)) return err;
  return Object.assign(new Error(`nothing stored under ${key} (${(err as Error).name})`), { code: "ENOENT", cause: err });
}

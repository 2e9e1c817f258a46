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
//   commit():     the tail → the final part (no parts at all: the segments are joined by one
//                 PutObject, under 5 MiB; a hidden writer CopyObjects a single one) · Complete.
//                 Create-only (If-None-Match: *) but for a hidden writer: create-only.ts.
//   cancel():     delete the segments · AbortMultipartUpload.
// A segment gets a new name each time, so an older handle still names the segments it had.
//
// Segments live under _tails/<key>/<uuid>, outside the folders the blob store lists; list() reports
// an upload that only they show as its key, so gc finds what a crash left. See docs/storage.md
// for what move() guarantees here (a copy, then a delete: never "the same bytes under two names
// that a later write could change", because S3 objects are never written in place).
import { Agent as HttpsAgent } from "node:https";
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
  ListPartsCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { copyOfVersion, type BlobDriver, type CopyingDriver, type BlobWriter, type ByteRange, type MoveOptions, type ObjectInfo, type UploadHandle } from "../blob-driver.ts";
import { openS3Body } from "./s3-body.ts";
import type { CreateOnlyCommits } from "./create-only.ts";
import { isMissing, isPreconditionFailed, missingAsEnoent, S3_MIN_PART, s3PartsOf, S3Writer } from "./s3-upload.ts";

const MiB = 1024 * 1024;
/** S3's largest single CopyObject; larger objects are copied part by part. */
const COPY_OBJECT_LIMIT = 5 * 1024 * MiB;
const TAILS = "_tails";
/** Reads from this size on get a socket of their own (a new connection costs a round trip; smaller reads share the SDK's). */
const OWN_SOCKET_MIN = 1024 * 1024;
/** The commands whose bodies are blob bytes, sent without SigV4's payload hash (see the constructor). */
const UNSIGNED_BODIES = new Set(["UploadPartCommand", "PutObjectCommand"]);

/** The writes versitygw may refuse with ExistingObjectIsDirectory when a delete removed their directory meanwhile (below). */
const DIRECTORY_RACE = new Set(["PutObjectCommand", "CopyObjectCommand"]);

export interface S3DriverOptions {
  bucket: string;
  region: string;
  /** e.g. http://127.0.0.1:7070 for an S3-compatible store; AWS's own when absent. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** The CAs an https endpoint's certificate is checked against, in place of Node's trusted ones (a private CA). */
  ca?: Buffer;
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

export class S3Driver implements BlobDriver, CopyingDriver, CreateOnlyCommits {
  readonly createOnlyCommits = true;
  readonly client: S3Client;
  readonly bucket: string;
  readonly partSize: number;
  private readonly base: string;
  private readonly redirect: boolean;
  private readonly copyObjectLimit: number;
  private readonly copyPartSize: number;
  private readonly ca: Buffer | undefined;

  constructor(options: S3DriverOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      // The SDK's handler takes its https agent's options; the default one's keep-alive and socket count, plus the CA.
      ...(options.ca && { requestHandler: { httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, ca: options.ca }) } }),
      // Checksums only where S3 demands them: S3-compatible stores differ in the newer ones, and
      // every blob's digest is checked by the blob store anyway.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    // Part and object bodies are sent unsigned. Otherwise SigV4 hashes every body with SHA-256 on
    // the main thread before sending it (1.4 CPU-seconds per GiB pushed, a third of the push's CPU
    // here: docs/performance.md), on top of the blob store's own digest of the same bytes. What
    // the payload hash protects is the body on a plain-HTTP connection, where a GET's answer is not
    // protected either; over HTTPS, TLS does it (AWS's own SDKs send S3 bodies unsigned there).
    this.client.middlewareStack.add(
      (next, context) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (UNSIGNED_BODIES.has(context.commandName ?? "") && request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
        return next(args);
      },
      { step: "build", name: "berthUnsignedPayload" },
    );
    // versitygw's filesystem backend makes a key's directories before it links the object in, and
    // removes directories a delete leaves empty: a PutObject whose directory another key's delete
    // removed in between is answered 409 ExistingObjectIsDirectory (a tail segment beside gc or a
    // commit deleting others: a PATCH answered 500; its CopyObject writes through the same code).
    // No key Berth writes is another's directory, so that answer is only this race: sent again,
    // twice at most (Berth's PutObject bodies are buffers; a copy has none).
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await next(args);
          } catch (err) {
            if (!DIRECTORY_RACE.has(context.commandName ?? "") || (err as { name?: string }).name !== "ExistingObjectIsDirectory" || attempt === 3) throw err;
          }
        }
      },
      { step: "initialize", name: "berthDirectoryRace" },
    );
    this.bucket = options.bucket;
    this.base = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, "")}/` : "";
    this.redirect = options.redirect ?? false;
    this.ca = options.ca;
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
      return { size: head.ContentLength ?? 0, ...(head.ETag && { version: head.ETag }), ...(head.LastModified && { modified: head.LastModified }) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // A large read over a socket of its own into reused buffers (s3-body.ts); a small one, or an
    // answer that reader does not serve, through the SDK.
    if (!range || range.end - range.start + 1 >= OWN_SOCKET_MIN) {
      const url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { expiresIn: 300 });
      const body = await openS3Body(new URL(url), range, this.ca).catch(() => null);
      if (body) return body;
    }
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
    // A continued upload that is gone (cancelled, purged) is refused by its first write or
    // commit (S3Writer.ensureLive), not asked about here: one round trip less per PATCH.
    return new S3Writer(this, key, handle ? s3PartsOf(handle) : { uploadId: null, etags: [], tail: [], size: 0 });
  }

  /**
   * A writer whose bytes show under the key only at commit (a multipart upload, never a direct
   * PutObject), touching only its own upload: the blob store writes a blob whose digest it knows
   * straight to the digest's key and commits it once the digest matched, so publishing it needs
   * no copy (fast-paths.ts HiddenWrites). Concurrent writers of one key never mix: each multipart
   * upload is its own, and the last verified one completed wins with the same bytes.
   */
  async hiddenWriter(key: string): Promise<BlobWriter> {
    return new S3Writer(this, key, { uploadId: null, etags: [], tail: [], size: 0 }, { hidden: true });
  }

  /**
   * A server-side copy, then the source deleted. The copy becomes visible at once and whole (S3
   * shows a key's old object or its new one, never part of one); the two names hold separate
   * objects, so nothing written to `from` afterwards can reach `to`. A crash between copy and
   * delete leaves `from` behind, which gc removes as a key no row names. `ifVersion`: the copy
   * (each part of it) is CopySourceIfMatch that ETag, so an object a late writer put under `from`
   * since is never copied.
   */
  async move(from: string, to: string, options: MoveOptions = {}): Promise<void> {
    await this.copy(from, to, options);
    await this.deleteObject(from);
  }

  async copy(from: string, to: string, options: MoveOptions = {}): Promise<void> {
    await copyOfVersion(this, from, options, {
      copy: async ({ size }, CopySourceIfMatch) => {
        if (size > this.copyObjectLimit) return this.copyInParts(from, to, size, CopySourceIfMatch);
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.objectKey(to), CopySource: this.copySource(from), CopySourceIfMatch }));
      },
      refused: isPreconditionFailed,
      missingAsEnoent,
    });
  }

  async deleteObject(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  private copySource(key: string): string {
    return `${this.bucket}/${this.objectKey(key).split("/").map(encodeURIComponent).join("/")}`;
  }

  /** Above CopyObject's 5 GiB: a multipart upload of UploadPartCopy ranges, four at a time. */
  private async copyInParts(from: string, to: string, size: number, CopySourceIfMatch?: string): Promise<void> {
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
          const copied = await this.client.send(new UploadPartCopyCommand({ Bucket: this.bucket, Key, UploadId, PartNumber: i + 1, CopySource: this.copySource(from), CopySourceRange: `bytes=${start}-${end}`, CopySourceIfMatch }));
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
    const doomed: string[] = [];
    for await (const object of this.objects(`${this.base}${TAILS}/${key}/`)) if (keep === undefined || object.key !== keep) doomed.push(object.key);
    // Eight at a time: a 1 MiB-chunked upload leaves a segment per PATCH since its last part.
    for (let at = 0; at < doomed.length; at += 8) {
      await Promise.all(doomed.slice(at, at + 8).map((Key) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))));
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
    // An unfinished upload's size is the bytes it holds so far (its parts and tail segments): gc
    // tells a live upload from a stray by seeing that size grow between runs (services/gc.ts).
    const unfinished = new Map<string, number>();
    const add = (key: string, bytes: number) => unfinished.set(key, (unfinished.get(key) ?? 0) + bytes);
    for await (const upload of this.uploads(this.base + folder)) add(upload.key.slice(this.base.length), await this.partBytes(upload.key, upload.uploadId));
    const tails = `${this.base}${TAILS}/`;
    for await (const tail of this.objects(tails + folder)) add(tail.key.slice(tails.length, tail.key.lastIndexOf("/")), tail.size);
    for await (const object of this.objects(this.base + folder)) {
      const key = object.key.slice(this.base.length);
      if (key.startsWith(`${TAILS}/`)) continue;
      unfinished.delete(key);
      yield { key, size: object.size, ...(object.modified && { modified: object.modified }) };
    }
    for (const [key, size] of unfinished) yield { key, size };
  }

  private async *objects(prefix: string): AsyncIterable<{ key: string; size: number; modified?: Date }> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken }));
      for (const object of page.Contents ?? []) yield { key: object.Key!, size: object.Size ?? 0, ...(object.LastModified && { modified: object.LastModified }) };
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /** The bytes of the parts an unfinished multipart upload holds (0 when it is gone meanwhile). */
  private async partBytes(objectKey: string, uploadId: string): Promise<number> {
    let bytes = 0;
    let PartNumberMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, PartNumberMarker }));
        for (const part of page.Parts ?? []) bytes += part.Size ?? 0;
        PartNumberMarker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (PartNumberMarker);
    } catch (err) {
      if ((err as { name?: string }).name !== "NoSuchUpload") throw err;
    }
    return bytes;
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


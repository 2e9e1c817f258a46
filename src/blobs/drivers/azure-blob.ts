// Blobs in an Azure Blob Storage container. An upload is a block blob's staged (uncommitted)
// blocks: each part is staged as one block or more (at most blockSize bytes each, no minimum),
// with ids that name the block's place (base64 of a zero-padded index, all one length as Azure
// requires), and commit is one commitBlockList of the ids the handle counts. Staging an id again
// replaces that block, and a commit drops every uncommitted block it does not name: so a part
// that failed, or one no upload row recorded, is simply written over or left out.
//
// Uncommitted blocks cannot be deleted on their own (Delete Blob answers 404 while nothing is
// committed); cancel and delete commit an empty list first (which discards them), then delete
// that empty blob, guarded by ETag so a blob committed meanwhile is never touched.
//
// Commits are create-only (If-None-Match: *, create-only.ts): once a blob is committed under a
// key, no later commit of another writer replaces it.
import type { Readable } from "node:stream";
import {
  BlobSASPermissions,
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
} from "@azure/storage-blob";
import { copyOfVersion, type BlobDriver, type CopyingDriver, type BlobWriter, type ByteRange, type MoveOptions, type ObjectInfo, type PartOptions, type UploadHandle } from "../blob-driver.ts";
import { alreadyExists, type CreateOnlyCommits } from "./create-only.ts";
import { cutParts } from "./part-buffers.ts";

const MiB = 1024 * 1024;
/** Azure's most blocks per blob. */
const MAX_BLOCKS = 50_000;

export interface AzureBlobDriverOptions {
  /** A storage connection string (with an account key: SAS redirects and copies are signed with it)… */
  connectionString?: string;
  /** …or the account and its key (endpoint: https://<account>.blob.core.windows.net unless given). */
  accountName?: string;
  accountKey?: string;
  endpoint?: string;
  container: string;
  /** Keys are stored under `<prefix>/`. */
  prefix?: string;
  /** Blob GETs are answered with a SAS URL (true) or streamed through Berth (false). */
  redirect?: boolean;
  /** Bytes per staged block at most; two block buffers per writer are held in memory. */
  blockSize?: number;
}

/** An Azure upload's handle: how many blocks are staged (their ids follow from the count), and their bytes. */
interface AzureParts {
  blocks: number;
  size: number;
}

export class AzureBlobDriver implements BlobDriver, CopyingDriver, CreateOnlyCommits {
  readonly createOnlyCommits = true;
  readonly container: ContainerClient;
  readonly blockSize: number;
  private readonly base: string;
  private readonly redirect: boolean;

  constructor(options: AzureBlobDriverOptions) {
    let service: BlobServiceClient;
    if (options.connectionString) {
      service = BlobServiceClient.fromConnectionString(options.connectionString);
    } else if (options.accountName && options.accountKey) {
      const endpoint = options.endpoint ?? `https://${options.accountName}.blob.core.windows.net`;
      service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(options.accountName, options.accountKey));
    } else {
      throw new Error("Azure Blob needs a connection string, or an account name and key");
    }
    this.container = service.getContainerClient(options.container);
    this.base = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, "")}/` : "";
    this.redirect = options.redirect ?? false;
    this.blockSize = Math.min(Math.max(options.blockSize ?? 16 * MiB, 1), 4000 * MiB);
  }

  blob(key: string): BlockBlobClient {
    return this.container.getBlockBlobClient(this.base + key);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const properties = await this.blob(key).getProperties();
      return { size: properties.contentLength ?? 0, ...(properties.etag && { version: properties.etag }), ...(properties.lastModified && { modified: properties.lastModified }) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const got = range ? await this.blob(key).download(range.start, range.end - range.start + 1) : await this.blob(key).download(0);
      return got.readableStreamBody as Readable;
    } catch (err) {
      throw missingAsEnoent(err, key);
    }
  }

  async redirectUrl(key: string, expiresInSeconds: number): Promise<string | null> {
    if (!this.redirect) return null;
    return this.blob(key).generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + expiresInSeconds * 1000) });
  }

  async writer(key: string, handle?: UploadHandle | null): Promise<BlobWriter> {
    return new AzureWriter(this, key, handle ? azurePartsOf(handle) : { blocks: 0, size: 0 });
  }

  /**
   * A copy inside the account (Copy Blob, waited for), then the source deleted. The copy becomes
   * visible whole when it completes; the names hold separate blobs, so nothing written to `from`
   * afterwards reaches `to`. A crash between copy and delete leaves `from`, which gc removes.
   * `ifVersion`: the copy's source condition (x-ms-source-if-match), so a blob a late writer
   * committed under `from` since is never copied.
   */
  async move(from: string, to: string, options: MoveOptions = {}): Promise<void> {
    await this.copy(from, to, options);
    await this.deleteObject(from);
  }

  async copy(from: string, to: string, options: MoveOptions = {}): Promise<void> {
    await copyOfVersion(this, from, options, {
      copy: async (_source, ifMatch) => {
        // Signed for reading, so the copy works with any account setting (a same-account URL alone
        // is not always accepted as a copy source).
        const sourceUrl = await this.blob(from).generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 24 * 3600 * 1000) });
        const poller = await this.blob(to).beginCopyFromURL(sourceUrl, { intervalInMs: 200, ...(ifMatch !== undefined && { sourceConditions: { ifMatch } }) });
        const done = await poller.pollUntilDone();
        if (done.copyStatus !== "success") throw new Error(`copy of ${from} to ${to} ended ${done.copyStatus}`);
      },
      refused: (err) => (err as RestError).statusCode === 412,
      missingAsEnoent,
    });
  }

  async deleteObject(key: string): Promise<void> {
    await this.blob(key).deleteIfExists();
  }

  /** The committed blob and the staged blocks of an upload under the key. */
  async delete(key: string): Promise<void> {
    // Blocks first: Azure cannot delete a blob that has only staged blocks (404), and Azurite
    // deletes it but keeps its blocks, which a stale commit could still use.
    await this.dropUncommitted(key);
    await this.blob(key).deleteIfExists();
  }

  /**
   * Discards staged blocks when nothing is committed under the key: an empty commit (only if still
   * nothing is committed) drops them, then that empty blob is deleted (only if it is still that one).
   */
  async dropUncommitted(key: string): Promise<void> {
    const blob = this.blob(key);
    try {
      const blocks = await blob.getBlockList("uncommitted");
      if ((blocks.uncommittedBlocks ?? []).length === 0) return;
    } catch (err) {
      if (isMissing(err)) return; // no blob, no blocks
      throw err;
    }
    try {
      const empty = await blob.commitBlockList([], { conditions: { ifNoneMatch: "*" } });
      await blob.deleteIfExists({ conditions: { ifMatch: empty.etag } });
    } catch (err) {
      const status = (err as RestError).statusCode;
      if (status !== 409 && status !== 412) throw err; // a blob was committed meanwhile: not ours to drop
    }
  }

  /** Committed blobs and those with only staged blocks (an upload in progress), under `prefix/`. */
  async *list(prefix: string): AsyncIterable<{ key: string } & ObjectInfo> {
    const folder = prefix === "" ? "" : `${prefix.replace(/\/+$/, "")}/`;
    for await (const blob of this.container.listBlobsFlat({ prefix: this.base + folder, includeUncommitedBlobs: true })) {
      // A blob with only staged blocks lists as empty: its size is the blocks' (gc tells a live
      // upload from a stray by seeing that size grow between runs, services/gc.ts).
      const committed = blob.properties.contentLength;
      const size = committed || (await this.stagedBytes(blob.name));
      yield { key: blob.name.slice(this.base.length), size, ...(committed ? { modified: blob.properties.lastModified } : {}) };
    }
  }

  /** The bytes of a blob's uncommitted blocks (0 when it is gone meanwhile). */
  private async stagedBytes(name: string): Promise<number> {
    try {
      const list = await this.container.getBlockBlobClient(name).getBlockList("uncommitted");
      return (list.uncommittedBlocks ?? []).reduce((sum, block) => sum + block.size, 0);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return 0;
      throw err;
    }
  }
}

/** Block n's id: the same length for every block of a blob, as Azure requires. */
function blockId(index: number): string {
  return Buffer.from(String(index).padStart(6, "0")).toString("base64");
}

class AzureWriter implements BlobWriter {
  private readonly driver: AzureBlobDriver;
  private readonly key: string;
  private parts: AzureParts;
  /** Its commit found another writer's blob under the key: that blob is not this writer's to cancel. */
  private refused = false;

  constructor(driver: AzureBlobDriver, key: string, parts: AzureParts) {
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

  async write(source: AsyncIterable<Uint8Array>, options: PartOptions = {}): Promise<number> {
    const blob = this.driver.blob(this.key);
    let blocks = this.parts.blocks;
    const stage = async (body: Buffer) => {
      if (blocks >= MAX_BLOCKS) throw new Error(`an Azure blob holds at most ${MAX_BLOCKS} blocks`);
      const id = blockId(blocks++);
      await blob.stageBlock(id, body, body.length, { abortSignal: options.signal });
    };
    const { read, rest, release } = await cutParts(source, this.driver.blockSize, stage, { signal: options.signal });
    try {
      if (rest.length > 0) await stage(rest); // no minimum block size: the rest is a block of its own
    } finally {
      release();
    }
    this.parts = { blocks, size: this.parts.size + read };
    return read;
  }

  async commit(): Promise<string | undefined> {
    const blob = this.driver.blob(this.key);
    try {
      return (await blob.commitBlockList(Array.from({ length: this.parts.blocks }, (_, i) => blockId(i)), { conditions: { ifNoneMatch: "*" } })).etag;
    } catch (err) {
      if (isTaken(err)) {
        // Committed already by a try whose answer was lost: the blob holds every byte the handle
        // records (the caller reads it back, not knowing which blob is there now). Otherwise
        // another writer's blob, which stays; this writer's staged blocks stay with it until Azure
        // drops them (a week): they cannot be dropped without a commit.
        if ((await this.driver.stat(this.key))?.size === this.parts.size) return undefined;
        this.refused = true;
        throw alreadyExists(this.key, err);
      }
      if ((err as RestError).code !== "InvalidBlockList") throw err;
      // The blocks the handle names are gone (cancelled, purged): drop whatever a stale writer staged.
      await this.driver.dropUncommitted(this.key);
      throw Object.assign(new Error(`the staged blocks of ${this.key} are gone`), { code: "ENOENT", cause: err });
    }
  }

  async cancel(): Promise<void> {
    if (this.refused) return;
    await this.driver.delete(this.key);
  }
}

function azurePartsOf(handle: UploadHandle): AzureParts {
  const parsed = JSON.parse(handle) as Partial<AzureParts>;
  if (!Number.isSafeInteger(parsed.blocks) || !Number.isSafeInteger(parsed.size) || parsed.blocks! < 0 || parsed.size! < 0) throw new Error(`not an Azure upload handle: ${handle.slice(0, 100)}`);
  return { blocks: parsed.blocks!, size: parsed.size! };
}

/** A create-only commit refused: a blob is committed under the key (BlobAlreadyExists, or ConditionNotMet). */
function isTaken(err: unknown): boolean {
  return err instanceof RestError && ((err.statusCode === 409 && err.code === "BlobAlreadyExists") || err.statusCode === 412);
}

function isMissing(err: unknown): boolean {
  return err instanceof RestError && err.statusCode === 404;
}

function missingAsEnoent(err: unknown, key: string): unknown {
  if (!isMissing(err)) return err;
  return Object.assign(new Error(`nothing stored under ${key} (${(err as RestError).code ?? 404})`), { code: "ENOENT", cause: err });
}

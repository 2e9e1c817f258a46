import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Where a blob's bytes live, when not under its digest's key (blobs/<alg>/<xx>/<hex>): on S3 and
 * Azure a chunked upload's committed object (uploads/<id>) becomes the blob by the metadata
 * transaction alone, without the copy to the digest's key that cost as long as the upload's parts
 * (docs/design/s3-publish-without-copy.md). Null: the digest's key, as every row before this and
 * always on the filesystem (where publishing is a rename). The index answers gc's stray rule: an
 * object under uploads/ that a blob row names is no stray.
 */
export const blobObjectKeys: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema.alterTable("blobs").addColumn("object_key", "text", key((c) => c)).execute();
    await db.schema.createIndex("blobs_object_key").on("blobs").column("object_key").execute();
  },
};

import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * `uploads.hash_state`: on a blob driver that cannot read an upload's parts back (S3, Azure), the
 * running digest's saved state after the parts the row records (blobs/hashing.ts SavedHash, about
 * 150 characters), written in the same UPDATE as the offset and handle, so any instance can
 * continue or finish the upload (docs/scale.md, "Uploads across instances"). Null on the
 * filesystem, which re-reads its parts instead.
 */
export const uploadHashState: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("uploads").addColumn("hash_state", "text").execute();
  },
};

import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Uploads as parts and leases, gc by rows (blobs/README.md, services/gc.ts):
 * - `uploads.handle`: the blob driver's record of the parts written (a file's part count and total, S3's
 *   multipart id and part ETags, Azure's block ids), saved with the offset it belongs to;
 * - `uploads.lease_owner` / `lease_until`: the request writing to the upload now, in whichever
 *   process, so a second writer is refused and gc or the purge never drop an upload being written;
 * - `uploads.writer`: a name the blob store gave the part the row records last (random per part), so a
 *   running hash kept in memory is trusted only for exactly the parts it saw (blobs/blob-store.ts);
 * - `uploads.verified`: the digest the upload's bytes were verified as, written before they are moved
 *   to that digest's path, so a closing PUT retried after a crash between the move and the commit may
 *   take the published file as this upload's bytes, and no other upload may;
 * - `storage_strays`: keys gc found in storage with no row naming them, and since when (by the
 *   database's clock), so a stray is deleted only once it was seen unchanged for the whole grace
 *   period, never by a file's own time.
 */
export const uploadParts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("uploads").addColumn("handle", "text").execute();
    await db.schema.alterTable("uploads").addColumn("lease_owner", "text").execute();
    await db.schema.alterTable("uploads").addColumn("lease_until", "bigint", (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable("uploads").addColumn("writer", "text").execute();
    await db.schema.alterTable("uploads").addColumn("verified", "text").execute();
    await db.schema
      .createTable("storage_strays")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("size", "bigint", (c) => c.notNull())
      .addColumn("first_seen", "bigint", (c) => c.notNull())
      .addColumn("last_seen", "bigint", (c) => c.notNull())
      .execute();
  },
};

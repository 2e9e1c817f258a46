import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered } from "./portable.ts";

/**
 * Each signature's verification outcome against the trust in force (services/provenance/
 * signature-verdicts.ts), so `GET /api/v1/search?unverified=true` is a query, not a verification
 * per manifest: verified or not, until when (ms; null: nothing ages it) and the fingerprint of the
 * trust it was computed with. The search counts a signature as verified only when computed with
 * the current fingerprint, `verified` is 1 and `until` is null or later than now: one index range
 * per manifest on (repository, subject, verified, trust, until). `signature_verdicts_trust` finds
 * the outcomes a changed trust leaves to recompute. Existing signatures have no row: the start
 * computes them (a row missing counts as not verified meanwhile).
 */
export const signatureVerdicts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const key = byteOrdered(db);
    await db.schema
      .createTable("signature_verdicts")
      .addColumn("repository", "text", key((c) => c.notNull()))
      .addColumn("digest", "text", key((c) => c.notNull()))
      .addColumn("subject", "text", key((c) => c.notNull()))
      .addColumn("verified", "integer", (c) => c.notNull())
      .addColumn("until", "bigint")
      .addColumn("trust", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("signature_verdicts_pk", ["repository", "digest"])
      .execute();
    await db.schema.createIndex("signature_verdicts_subject").on("signature_verdicts").columns(["repository", "subject", "verified", "trust", "until"]).execute();
    await db.schema.createIndex("signature_verdicts_trust").on("signature_verdicts").columns(["trust"]).execute();
  },
};

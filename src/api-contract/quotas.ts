// Storage quotas (docs/lifecycle.md#quotas): a limit per scope, with what the scope holds now.
import { z } from "zod";
import { Time } from "./common.ts";

export const QuotaView = z.strictObject({
  /** "*" (the whole registry), "team/*" (team and below) or one repository. */
  scope: z.string(),
  /** Bytes. */
  limit: z.number().int().nonnegative(),
  /**
   * Bytes the scope holds now: each distinct blob and manifest of its repositories once, deleted
   * ones kept restorable (soft delete) included until their record is purged.
   */
  used: z.number().int().nonnegative(),
  /** Of `used`, the bytes only deleted content kept restorable holds: what purging the records (or their expiry and gc) frees. */
  restorable: z.number().int().nonnegative(),
  /** used / limit × 100, one decimal (null for a limit of 0). */
  percent: z.number().nullable(),
  created: Time,
  createdBy: z.string(),
});
export type QuotaView = z.infer<typeof QuotaView>;

export const QuotaList = z.strictObject({ quotas: z.array(QuotaView) });
export type QuotaList = z.infer<typeof QuotaList>;

/** `limit`: bytes, or a size with a unit ("10GiB", "500 MB"; KiB = 1024, KB = 1000). */
export const QuotaBody = z.strictObject({ scope: z.string(), limit: z.union([z.number(), z.string().max(40)]) });

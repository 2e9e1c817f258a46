// Pieces every part of the contract shares: times, the two error bodies, "deleted".
import { z } from "zod";

/** A moment as the server writes it: Date.toISOString(). */
export const Time = z.iso.datetime();

/** Berth's error body (the OCI spec's shape), for every /api/v1 refusal. */
export const ErrorBody = z.strictObject({
  errors: z.array(z.strictObject({ code: z.string(), message: z.string(), detail: z.unknown() })).min(1),
});

/** ChartMuseum's error body: its clients print `error`. */
export const MuseumErrorBody = z.strictObject({ error: z.string() });

export const Deleted = z.strictObject({ deleted: z.literal(true) });

/** A request that takes no body, or an empty JSON object. */
export const Empty = z.strictObject({});

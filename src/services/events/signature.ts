// How every webhook delivery is signed: HMAC-SHA256, keyed with the webhook's secret, over
// `<timestamp>.<body>`, sent as `Berth-Signature: sha256=<hex>` with the timestamp (Unix seconds)
// in `Berth-Timestamp`. The timestamp is inside the signed text, so a receiver that refuses
// timestamps more than 300 s off (docs/lifecycle.md, "Signatures") cannot be fed a recorded
// delivery again.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "berth-signature";
export const TIMESTAMP_HEADER = "berth-timestamp";

export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** What a receiver does (the tests do it too): recompute and compare in constant time. */
export function verifySignature(secret: string, timestamp: number, body: string, header: string): boolean {
  const expected = Buffer.from(signature(secret, timestamp, body));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// Each signature's verification outcome, stored (migration 030) so a search for images without a
// verified signature is an indexed query (catalog-search.ts SearchIndex.find, `unverified`):
//
//   push of a signature ─▶ its outcome against its subject, in the push transaction
//   push of any manifest ─▶ the outcomes of the signatures already referring to it (a referrer
//                           may come first: until its subject exists it verifies nothing)
//   start ─▶ every outcome not computed with the trust in force (its fingerprint,
//            signature-trust.ts) is computed again, in the background
//
// In the background, not before the server listens: verification costs about a millisecond a
// signature (certificate parsing, chain and signature checks), so 100,000 signatures would hold
// the start for minutes. Meanwhile nothing wrong is claimed: the search counts only outcomes whose
// fingerprint is the current one, so a signature not yet recomputed counts as not verified, and
// the answer only shrinks towards the right one. Time is not part of the outcome: `until` is
// stored and the search compares it with now, so an expiring certificate needs no recompute.
import type { Logger } from "../../observability/logger.ts";
import type { Digest } from "../../domain/digest.ts";
import type { ProvenanceRecord, SignatureVerdict } from "../../metadata/provenance-types.ts";
import type { MetadataParts, MetadataStore } from "../../metadata/types.ts";
import type { SignatureTrust } from "./signature-trust.ts";

const BATCH = 200;

/** The outcome of one signature row as `trust` sees it now. */
async function verdictOf(parts: MetadataParts, trust: SignatureTrust, row: ProvenanceRecord): Promise<SignatureVerdict | null> {
  if (row.facts.kind !== "signature" || !row.subject) return null;
  const subject = await parts.manifests.summary(row.repository, row.subject);
  if (!subject) return { verified: false, until: null, trust: trust.fingerprint };
  const verification = trust.verify(row.repository, { digest: subject.digest, mediaType: subject.mediaType, size: subject.size }, row.facts, new Date());
  return { verified: verification.verified === true, until: verification.verified === true ? (verification.until ?? null) : null, trust: trust.fingerprint };
}

async function store(parts: MetadataParts, trust: SignatureTrust, row: ProvenanceRecord): Promise<void> {
  const verdict = await verdictOf(parts, trust, row);
  if (verdict) await parts.provenance.setVerdict(row.repository, row.digest, row.subject!, verdict);
}

/** Inside the push transaction, after the manifest's provenance row is recorded. */
export async function recordVerdicts(tx: MetadataParts, trust: SignatureTrust, pushed: ProvenanceRecord): Promise<void> {
  await store(tx, trust, pushed);
  for (const row of await tx.provenance.referring(pushed.repository, pushed.digest as Digest)) await store(tx, trust, row);
}

/** Computes again every outcome not computed with `trust` (until `stop` is aborted); returns how many it computed. */
export async function recomputeVerdicts(metadata: MetadataStore, trust: SignatureTrust, stop?: AbortSignal): Promise<number> {
  let after: { repository: string; digest: string } | null = null;
  let done = 0;
  for (;;) {
    if (stop?.aborted) return done;
    const rows = await metadata.provenance.staleVerdicts(trust.fingerprint, after, BATCH);
    for (const row of rows) await store(metadata, trust, row);
    done += rows.length;
    if (rows.length < BATCH) return done;
    after = { repository: rows.at(-1)!.repository, digest: rows.at(-1)!.digest };
  }
}

/** Starts recomputeVerdicts without waiting for it; logs what it did or why it stopped. Close: abort `stop`, then await. */
export function recomputeInBackground(metadata: MetadataStore, trust: SignatureTrust, logger: Logger, stop: AbortSignal): Promise<void> {
  const started = Date.now();
  return recomputeVerdicts(metadata, trust, stop).then(
    (n) => { if (n > 0) logger.info({ signatures: n, ms: Date.now() - started, trust: trust.fingerprint.slice(0, 12) }, "signature verification outcomes computed for the trust in force"); },
    (err: unknown) => logger.error({ err }, "computing signature verification outcomes failed: the search counts those not computed as not verified"),
  );
}

// Storage quotas at the moment content would enter a scope (domain/quotas.ts says what they
// count). Called inside the transaction that makes the content visible (commitBlob's link, a
// mount's link, a manifest's record), before it writes, so a refusal rolls everything back and
// nothing partial is ever visible:
//
//   for each quota over the repository, in scope order (after the blob locks; locks.ts):
//     hold quota:<scope>                 // PostgreSQL: the next writer to this scope waits here
//     needed = Σ size of what enters and the scope does not hold yet
//     if needed > 0 and usage(scope) + needed > limit: DENIED (used, limit, needed)
//     (the registry's scope first asks a cheap upper bound: far from the limit it decides alone)
//
// The count runs under the lock and sees this transaction's own writes (a classic chart push's
// package and config before its manifest), so two pushes that fit only one at a time never both
// pass: the second counts after the first committed. SQLite runs one writer at a time anyway.
import type { Digest } from "../domain/digest.ts";
import { matchesPattern, type RepositoryName } from "../domain/names.ts";
import { QuotaRefusal, quotasOver, type Quota } from "../domain/quotas.ts";
import type { MetadataParts, MetadataStore } from "../metadata/types.ts";

export interface Entering {
  digest: Digest;
  size: number;
}

/** Throws a PolicyRefusal (DENIED) when `entering` would take `repository` past one of its quotas. */
export async function admitToQuotas(tx: MetadataParts, repository: RepositoryName, entering: readonly Entering[], reference: string | null): Promise<void> {
  const quotas = quotasOver(await tx.quotas.list(), repository);
  if (quotas.length === 0) return;
  const unique = [...new Map(entering.map((e) => [e.digest, e])).values()];
  for (const quota of quotas) {
    await tx.quotas.hold(quota.scope);
    let needed = 0;
    for (const e of unique) if (!(await tx.quotas.holds(quota.scope, e.digest))) needed += e.size;
    if (needed === 0) continue;
    // Far from the limit, a bound decides at a fraction of the count's cost (the whole registry's
    // exact count is a distinct over every link: seconds on a large store, docs/lifecycle.md).
    const ceiling = await tx.quotas.ceiling(quota.scope);
    if (ceiling !== null && ceiling + needed <= quota.limit) continue;
    const used = await tx.quotas.usage(quota.scope);
    if (used + needed > quota.limit) {
      throw new QuotaRefusal(quota, { used, needed }, { repository, reference });
    }
  }
}

/**
 * How long a usage counted for the staging bound is trusted to admit a chunk. A refusal is never
 * decided on it: only on a count taken for that request (see StagingBound).
 */
const COUNT_TRUSTED_MS = 5_000;

/**
 * The staging bound: bytes an upload writes before it closes (a PATCH, the body of a closing PUT
 * or of a single-request push) are real bytes on disk, so they must fit in what the quotas over
 * the repository leave, with what the scope's other open uploads staged already counted:
 *
 *   room(quota) = limit - usage(scope) - staged(scope)      // staged: Σ offsets of open uploads
 *   a body of declared length > room: DENIED before a byte is read
 *   a body of unknown length (chunked): counted as it streams, DENIED once past the room
 *
 * Cheap on purpose (a PATCH may come every few megabytes): the quota list and the staged sum are
 * a query each (the uploads table holds only open uploads); the usage, the costly count, is
 * remembered per scope for COUNT_TRUSTED_MS and used only to admit. Anything that does not fit
 * the remembered count is counted again before it is refused, so a refusal is as exact as the
 * close-time check; what may slip through is content other instances, manifests or mounts added
 * within those seconds (this process's blobs are added as they enter: entered), which the close-time check (admitToQuotas, exact, the one that decides what becomes visible)
 * still refuses. Content a quota's scope holds already (a digest known before the body) adds
 * nothing there and is not bounded by it.
 */
export class StagingBound {
  private readonly metadata: MetadataStore;
  private readonly now: () => number;
  private readonly counted = new Map<string, { used: number; at: number }>();

  constructor(metadata: MetadataStore, now: () => number = Date.now) {
    this.metadata = metadata;
    this.now = now;
  }

  /**
   * `body`, bounded by the room the quotas over `repository` leave (the same iterable when no
   * quota covers it). Throws a QuotaRefusal at once when `declared` bytes do not fit.
   */
  async bound(repository: RepositoryName, body: AsyncIterable<Uint8Array>, options: { declared?: number; digest?: Digest; reference?: string | null } = {}): Promise<AsyncIterable<Uint8Array>> {
    if (options.declared === 0) return body;
    const all = quotasOver(await this.metadata.quotas.list(), repository);
    const quotas: Quota[] = [];
    for (const quota of all) if (!options.digest || !(await this.metadata.quotas.holds(quota.scope, options.digest))) quotas.push(quota);
    if (quotas.length === 0) return body;
    const refusal = { repository, reference: options.reference ?? options.digest ?? null };
    const rooms = new Map<Quota, number>();
    // The room left now, or a refusal for `needed` bytes decided on a fresh count.
    const roomFor = async (quota: Quota, needed: number): Promise<number> => {
      const staged = await this.metadata.quotas.staged(quota.scope);
      const kept = this.counted.get(quota.scope);
      if (kept && this.now() - kept.at < COUNT_TRUSTED_MS && kept.used + staged + needed <= quota.limit) return quota.limit - kept.used - staged;
      const used = await this.metadata.quotas.usage(quota.scope);
      this.counted.set(quota.scope, { used, at: this.now() });
      if (used + staged + needed > quota.limit) throw new QuotaRefusal(quota, { used: used + staged, needed, staged }, refusal);
      return quota.limit - used - staged;
    };
    // A body of unknown length brings at least a byte.
    for (const quota of quotas) rooms.set(quota, await roomFor(quota, options.declared ?? 1));
    if (this.counted.size > 1_000) this.counted.clear(); // scopes are few; a bound all the same
    return (async function* bounded() {
      let seen = 0;
      for await (const chunk of body) {
        seen += chunk.length;
        for (const [quota, room] of rooms) {
          // Past the room it was given: asked again (others may have freed room), refused if still past.
          if (seen > room) rooms.set(quota, await roomFor(quota, seen));
        }
        yield chunk;
      }
    })();
  }

  /**
   * A blob of `size` bytes entered `repository` in this process: the remembered counts of the
   * scopes over it grow by it (at most: the scope may have held it), so uploads that close one after
   * another here are admitted on what they left, not on the count from before them. Too much only
   * costs a count: a refusal is always counted afresh.
   */
  entered(repository: RepositoryName, size: number): void {
    for (const [scope, kept] of this.counted) if (matchesPattern(scope, repository)) kept.used += size;
  }
}

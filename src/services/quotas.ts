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
import { RegistryError } from "../domain/errors.ts";
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
 * How far ahead of what it has streamed a body of unknown length reserves room, so that it asks
 * (a query) once per this many bytes rather than once per chunk. Others see it as taken meanwhile.
 */
const RESERVE_AHEAD = 1 << 20;

/** How often an admission counts again when a body released its room while it counted (below). */
const RECOUNTS = 3;

/**
 * The staging bound: bytes an upload writes before it closes (a PATCH, the body of a closing PUT
 * or of a single-request push) are real bytes on disk, so they must fit in what the quotas over
 * the repository leave, with what the scope's other open uploads staged already counted, and what
 * the bodies streaming in this process right now were admitted for:
 *
 *   room(quota) = limit - usage(scope) - staged(scope) - reserved(scope)
 *       staged: Σ offsets of open uploads (grows when a PATCH ends)
 *       reserved: Σ what the bodies streaming here were admitted for (released when each ends)
 *   a body of declared length > room: DENIED before a byte is read; else its length is reserved
 *   a body of unknown length (chunked): reserves as it streams, DENIED once what it sent passes the room
 *
 * The reservation is what keeps N PATCHes started together from each seeing the whole room (the
 * staged sum grows only when they end; an outside attack staged 5× a quota that way): the check
 * and the reservation run in one synchronous step after the counts were read, so two admissions
 * never both take the same room. It lives in this process only: across instances, each admits on
 * the staged sum and its own reservations, and the close-time check (admitToQuotas) still decides
 * what becomes visible. A body that releases its room while another admission counts may or may
 * not be in that count yet (its PATCH's offset, its blob's link): it is counted as still
 * reserved, and an admission it alone would refuse counts again.
 *
 * Cheap on purpose (a PATCH may come every few megabytes): the quota list and the staged sum are
 * a query each (the uploads table holds only open uploads); the usage, the costly count, is
 * remembered per scope for COUNT_TRUSTED_MS and used only to admit. Anything that does not fit
 * the remembered count is counted again before it is refused, so a refusal is as exact as the
 * close-time check; what may slip through is content other instances, manifests or mounts added
 * within those seconds (this process's blobs are added as they enter: entered), which the close-time check (admitToQuotas, exact, the one that decides what becomes visible)
 * still refuses.
 *
 * Content a quota's scope holds already (a digest known before the body) adds nothing there, so
 * that quota does not bound it; the blob's known size does instead (a body of another length
 * cannot match the digest): a declared length that differs is refused at once, a streamed body
 * once it passes the size, both with DIGEST_INVALID, the spec's answer to a body that does not
 * match its digest (found by an outside attack: any body sent with a held digest was written to
 * disk in full before the digest check refused it).
 */
export class StagingBound {
  private readonly metadata: MetadataStore;
  private readonly now: () => number;
  private readonly counted = new Map<string, { used: number; at: number }>();
  /** Per scope: bytes the bodies streaming in this process hold (were admitted for). */
  private readonly reserved = new Map<string, number>();
  /** Per scope: bytes released so far (only grows), to tell a release that raced a count. */
  private readonly released = new Map<string, number>();

  constructor(metadata: MetadataStore, now: () => number = Date.now) {
    this.metadata = metadata;
    this.now = now;
  }

  /**
   * Runs `work` with `body` bounded by the room the quotas over `repository` leave (the same
   * iterable when no quota covers it), that room reserved until `work` ends, however it ends.
   * Throws a QuotaRefusal at once when `declared` bytes do not fit. `offset`: where in the blob
   * the body starts (a closing PUT after chunks), for the bound of a held digest's size.
   */
  async bound<T>(
    repository: RepositoryName,
    body: AsyncIterable<Uint8Array>,
    options: { declared?: number; digest?: Digest; offset?: number; reference?: string | null },
    work: (bounded: AsyncIterable<Uint8Array>) => Promise<T>,
  ): Promise<T> {
    if (options.declared === 0) return work(body);
    const all = quotasOver(await this.metadata.quotas.list(), repository);
    let quotas: Quota[] = [];
    let held = false;
    for (const quota of all) {
      if (options.digest && (await this.metadata.quotas.holds(quota.scope, options.digest))) held = true;
      else quotas.push(quota);
    }
    if (held && options.digest) {
      const size = await this.metadata.blobs.size(options.digest);
      if (size === null) quotas = all; // held, but not as a blob (a manifest's digest): bounded as any body
      else body = asLongAs(body, options.digest, size - (options.offset ?? 0), options.declared);
    }
    if (quotas.length === 0) return work(body);
    const refusal = { repository, reference: options.reference ?? options.digest ?? null };
    const holding = new Map<string, number>(); // scope → bytes this body holds
    const release = () => {
      for (const [scope, bytes] of holding) {
        const left = (this.reserved.get(scope) ?? 0) - bytes;
        if (left > 0) this.reserved.set(scope, left);
        else this.reserved.delete(scope);
        this.released.set(scope, (this.released.get(scope) ?? 0) + bytes);
      }
      holding.clear();
    };
    try {
      // A body of unknown length brings at least a byte.
      const first = options.declared ?? 1;
      for (const quota of quotas) await this.reserve(quota, holding, first, options.declared ?? RESERVE_AHEAD, refusal);
      if (this.counted.size > 1_000) this.counted.clear(); // scopes are few; a bound all the same
      const reserve = (quota: Quota, seen: number) => this.reserve(quota, holding, seen, seen + RESERVE_AHEAD, refusal);
      const bounded = (async function* () {
        let seen = 0;
        for await (const chunk of body) {
          seen += chunk.length;
          // Past what it holds (a body of unknown length, or longer than declared): more, or refused.
          for (const quota of quotas) if (seen > (holding.get(quota.scope) ?? 0)) await reserve(quota, seen);
          yield chunk;
        }
      })();
      return await work(bounded);
    } finally {
      release();
    }
  }

  /**
   * Makes `holding` hold at least `need` bytes of the quota's room (up to `want` when there is
   * room for it), or throws its refusal, decided on a fresh count.
   */
  private async reserve(quota: Quota, holding: Map<string, number>, need: number, want: number, refusal: { repository: RepositoryName; reference: string | null }): Promise<void> {
    const scope = quota.scope;
    let fresh = false; // `used` was counted for this admission (a refusal is decided only on such a count)
    let trustKept = true;
    for (let recount = 0; ; ) {
      const releasedBefore = this.released.get(scope) ?? 0;
      const staged = await this.metadata.quotas.staged(scope);
      const kept = this.counted.get(scope);
      let used: number;
      if (trustKept && kept && this.now() - kept.at < COUNT_TRUSTED_MS) used = kept.used;
      else {
        used = await this.metadata.quotas.usage(scope);
        this.counted.set(scope, { used, at: this.now() });
        fresh = true;
      }
      // From here to the reservation nothing waits: no other admission runs in between.
      const mine = holding.get(scope) ?? 0;
      const others = (this.reserved.get(scope) ?? 0) - mine;
      const racing = (this.released.get(scope) ?? 0) - releasedBefore; // maybe counted in staged/used, maybe not
      const room = quota.limit - used - staged - others - racing;
      if (need <= room) {
        const take = Math.max(mine, Math.min(want, room));
        this.reserved.set(scope, (this.reserved.get(scope) ?? 0) + take - mine);
        holding.set(scope, take);
        return;
      }
      if (!fresh) {
        trustKept = false; // refused only on a count taken now
        continue;
      }
      if (racing > 0 && recount++ < RECOUNTS) {
        trustKept = false;
        continue;
      }
      throw new QuotaRefusal(quota, { used: used + staged + others + racing, needed: need, staged: staged + others + racing }, refusal);
    }
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

/**
 * `body`, refused with DIGEST_INVALID as soon as it is known not to be `length` bytes long: at
 * once when `declared` differs, else once it streams past (a shorter body is the digest check's).
 */
function asLongAs(body: AsyncIterable<Uint8Array>, digest: Digest, length: number, declared: number | undefined): AsyncIterable<Uint8Array> {
  const wrong = () => new RegistryError("DIGEST_INVALID", "the uploaded content does not match the digest: its length differs from the blob's", { expected: digest });
  if (declared !== undefined && declared !== length) throw wrong();
  return (async function* () {
    let seen = 0;
    for await (const chunk of body) {
      seen += chunk.length;
      if (seen > length) throw wrong();
      yield chunk;
    }
  })();
}

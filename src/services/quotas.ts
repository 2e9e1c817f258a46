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
import { PolicyRefusal } from "../domain/errors.ts";
import type { RepositoryName } from "../domain/names.ts";
import { quotasOver, quotaText } from "../domain/quotas.ts";
import type { MetadataParts } from "../metadata/types.ts";

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
      throw new PolicyRefusal({ reason: "quota", repository, reference, rule: quota.scope }, quotaText(quota, used, needed), { quota: quota.scope, used, limit: quota.limit, needed });
    }
  }
}

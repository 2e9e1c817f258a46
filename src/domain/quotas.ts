// Storage quotas (issue 17): a limit in bytes on what a scope of repositories holds, counted on
// unique content (a layer shared by two repositories counts once per quota that holds both, as
// Harbor counts). A scope is written as scope maps write repositories: "*" (the whole registry),
// "team/*" (team and everything below it) or one repository. Only these three, not a general
// glob: each is a byte range of the repository column ("team/" ≤ name < "team0"), so usage is one
// indexed SQL sum, exact at every moment (metadata/quota-store.ts), where a glob would have to be
// matched name by name in the process.
import { PolicyRefusal } from "./errors.ts";
import { coversPattern, matchesPattern } from "./names.ts";

export interface Quota {
  /** "*", "team/*" or a repository name: the quota's name too (one quota per scope). */
  scope: string;
  /** Bytes. */
  limit: number;
  created: Date;
  createdBy: string;
}

/** A quota with what its scope holds now. */
export interface QuotaUsage extends Quota {
  used: number;
  /** Of `used`, what only deleted content kept restorable holds (soft delete's records), until purged. */
  restorable: number;
}

export const REGISTRY_SCOPE = "*";

/** The quotas that count `repository`, in scope order (the order their locks are taken in). */
export function quotasOver(quotas: readonly Quota[], repository: string): Quota[] {
  return quotas.filter((q) => matchesPattern(q.scope, repository)).sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0));
}

const UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40,
};

/** "10GiB", "512 MiB", "1.5GB", "1000": bytes, or null when the text is no size. */
export function parseSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return null;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const exact = Number(match[1]) * unit;
  const bytes = Math.round(exact);
  // Rounding may settle 1.1 GB's float error, never make a size of its own: "0.4" is not 0 bytes
  // (found by attack: such a limit became a 0-byte quota that refused every push).
  if (Math.abs(exact - bytes) >= 0.5 - 1e-9 || (exact > 0 && bytes === 0) || Math.abs(exact - bytes) > 1e-6 * Math.max(1, exact)) return null;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Bytes for people: 1023 B, 9.8 GiB (binary units, one decimal). */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1).replace(/\.0$/, "")} ${units[unit]}`;
}

/** The refusal's words: which quota, what it holds, its limit, and what the push needed. */
export function quotaText(quota: Quota, used: number, needed: number): string {
  return `quota "${quota.scope}" exceeded: used ${formatSize(used)} of ${formatSize(quota.limit)}, this push needs ${formatSize(needed)} more`;
}

/** The refusal's words for whoever may not read the quota's usage: which quota, and what the push needed. */
export function closedQuotaText(quota: Quota, needed: number): string {
  const which = quota.scope === REGISTRY_SCOPE ? "the registry's storage quota" : `the storage quota of "${quota.scope}"`;
  return `${which} is full: this push needs ${formatSize(needed)} more`;
}

/** A refusal's figures, in bytes. `staged`: of `used`, what open uploads of the scope hold (a refusal while a body streams; in the detail when not 0). */
export interface QuotaFigures {
  used: number;
  needed: number;
  staged?: number;
}

/**
 * Who may read a quota's figures in a refusal (the one rule; docs/lifecycle.md#quotas): usage of
 * a scope tells about every repository in it, so `used` and `limit` go only to a reader who may see
 * every repository the quota counts. `sees(scope)` answers that for the reader: a client, whether
 * its grants let it pull everywhere in the scope (http/route.ts); an event, whether the quota
 * counts only its own repository (a webhook that receives it sees at least that one).
 * Everyone else learns the quota's scope and what the push needed.
 *
 * A QuotaRefusal says the closed words unless `disclosedTo` opened it: forgetting to ask leaks nothing.
 */
export class QuotaRefusal extends PolicyRefusal {
  readonly quota: Quota;
  readonly figures: QuotaFigures;

  constructor(quota: Quota, figures: QuotaFigures, refusal: { repository: string; reference: string | null }, open = false) {
    super(
      { reason: "quota", repository: refusal.repository, reference: refusal.reference, rule: quota.scope },
      open ? quotaText(quota, figures.used, figures.needed) : closedQuotaText(quota, figures.needed),
      open ? { quota: quota.scope, used: figures.used, limit: quota.limit, needed: figures.needed, ...(figures.staged && { staged: figures.staged }) } : { quota: quota.scope, needed: figures.needed },
    );
    this.quota = quota;
    this.figures = figures;
  }

  /** This refusal as a reader who may see every repository `sees` covers is told it. */
  disclosedTo(sees: (scope: string) => boolean): QuotaRefusal {
    return sees(this.quota.scope) ? new QuotaRefusal(this.quota, this.figures, this.refusal, true) : this;
  }

  /** The words the event stream records: the figures only of a quota over the event's repository alone. */
  eventMessage(): string {
    return this.disclosedTo((scope) => coversPattern(this.refusal.repository, scope)).message;
  }
}

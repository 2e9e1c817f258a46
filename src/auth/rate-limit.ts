// Failed sign-ins are limited per name from one client address, and per client address, over a
// sliding minute: a password guesser is slowed to a crawl, and the answer says when to try again.
//
// Never per name alone: then anyone without the password could lock its holder out by failing
// under that name (every exchanged-token sign-in shares the zero-GUID name, so one loop would
// lock out every `berth login --expose-token` user). A guesser only ever locks out itself.
// A key that keeps reaching its limit waits longer each time: 1, 2, 4 … at most 15 minutes.
//
// The counts live in the database (metadata signInFailures), so instances behind one load
// balancer count one limit: a guesser spreading attempts over them is stopped at the same
// attempt as against one. Each attempt is counted before its password is checked (one write under
// each key's lock) and taken back when it succeeds, so guesses in flight count too. Only real
// sign-ins pay it (remembered ones and tokens do not come here).
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { RegistryError } from "../domain/errors.ts";
import type { SignInFailureRows, SignInState } from "../metadata/identity-types.ts";

const WINDOW_MS = 60_000;
const MAX_BLOCK_MS = 15 * 60_000;
/** Keys are pruned at most this often (each process, on a failure). */
const PRUNE_EVERY_MS = 60_000;

export interface RateLimitOptions {
  /** Failures of one name from one address per minute. */
  perIdentity: number;
  /** Failures from one address per minute, whatever the names. */
  perAddress: number;
}

export class SignInLimiter {
  private readonly options: RateLimitOptions;
  private readonly rows: SignInFailureRows;
  private prunedAt = 0;

  constructor(rows: SignInFailureRows, options: RateLimitOptions) {
    this.rows = rows;
    this.options = options;
  }

  /**
   * Counts a sign-in attempt before its password is checked, as a failure to be taken back if it
   * succeeds (succeeded()). Throws TOOMANYREQUESTS (429 + Retry-After) while this name from this
   * address, or this address, is blocked, or when the attempts of the last minute (those still
   * being checked included) already reach the limit. Counting first is what makes the limit hold
   * for guesses sent at once: a check that only read the count let every attempt in flight through
   * before the first failure was written (30 parallel guesses, 30 checked).
   * Returns the attempt's time, for failed() or succeeded().
   */
  async attempt(name: string, address: string): Promise<number> {
    const now = Date.now();
    const limits = this.limits(name, address);
    const states = await this.rows.get(limits.map(([key]) => key));
    for (const state of states.values()) if (state.blockedUntil > now) throw tooMany(state.blockedUntil - now);
    const counted: string[] = [];
    try {
      for (const [key, limit] of limits) {
        await this.rows.update(key, (current): SignInState => {
          const state = current ?? { failures: [], blockedUntil: 0, strikes: 0 };
          if (state.blockedUntil > now) throw tooMany(state.blockedUntil - now);
          const failures = state.failures.filter((t) => t > now - WINDOW_MS);
          // Full with attempts still in flight: refused until one of them is taken back or ages out.
          if (failures.length >= limit) throw tooMany(Math.max(0, failures[0]! + WINDOW_MS - now));
          return { ...state, failures: [...failures, now] };
        });
        counted.push(key);
      }
    } catch (err) {
      await this.takeBack(counted, now);
      throw err;
    }
    return now;
  }

  /** The attempt begun at `at` failed: already counted; blocks the keys it brought to their limit. */
  async failed(name: string, address: string, at: number): Promise<void> {
    const now = Date.now();
    for (const [key, limit] of this.limits(name, address)) {
      await this.rows.update(key, (current): SignInState => {
        const state = current ?? { failures: [at], blockedUntil: 0, strikes: 0 };
        // A key quiet for longer than the longest block starts over.
        const strikes = state.blockedUntil + MAX_BLOCK_MS < now ? 0 : state.strikes;
        const failures = state.failures.filter((t) => t > now - WINDOW_MS);
        if (failures.length < limit) return { failures, blockedUntil: state.blockedUntil, strikes };
        return { failures: [], blockedUntil: now + Math.min(WINDOW_MS * 2 ** strikes, MAX_BLOCK_MS), strikes: strikes + 1 };
      });
    }
    if (now - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await this.rows.prune(now - MAX_BLOCK_MS);
    }
  }

  /** The attempt begun at `at` signed in: it is not a failure. */
  async succeeded(name: string, address: string, at: number): Promise<void> {
    await this.takeBack(this.limits(name, address).map(([key]) => key), at);
  }

  /** Removes one attempt counted at `at` from each key (gone already when a block cleared the count). */
  private async takeBack(keys: string[], at: number): Promise<void> {
    for (const key of keys) {
      await this.rows.update(key, (current): SignInState => {
        const state = current ?? { failures: [], blockedUntil: 0, strikes: 0 };
        const index = state.failures.indexOf(at);
        return index < 0 ? state : { ...state, failures: state.failures.filter((_, i) => i !== index) };
      });
    }
  }

  private limits(name: string, address: string): [string, number][] {
    const from = addressKey(address);
    return [
      // The name as a digest: bounded in length, and a password typed into the name field is
      // never stored (as in the audit trail).
      [`n:${from} ${createHash("sha256").update(name).digest("hex")}`, this.options.perIdentity],
      [`a:${from}`, this.options.perAddress],
    ];
  }
}

function tooMany(waitMs: number): RegistryError {
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  return new RegistryError("TOOMANYREQUESTS", `too many failed sign-ins: try again in ${retryAfter} s`, { retryAfter });
}

/**
 * Who an address counts as: an IPv4 address itself (also when IPv4-mapped), an IPv6 address by
 * its /64, the smallest block a host is usually given, so one host cannot step around the limits
 * by cycling through its own addresses.
 */
export function addressKey(address: string): string {
  const bare = address.split("%")[0]!;
  if (!isIPv6(bare)) return bare;
  if (/^::ffff:/i.test(bare) && isIPv4(bare.slice(7))) return bare.slice(7);
  const [head = "", tail = ""] = bare.split("::");
  const first = head ? head.split(":") : [];
  const last = tail ? tail.split(":") : [];
  const groups = bare.includes("::") ? [...first, ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill("0"), ...last] : first;
  return `${groups.slice(0, 4).map((g) => parseInt(g || "0", 16).toString(16)).join(":")}::/64`;
}

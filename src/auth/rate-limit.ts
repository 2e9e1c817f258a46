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
// attempt as against one. Each attempt is counted before its password is checked (one write per
// key under the key's lock), so parallel guesses cannot slip past a limit none of them has yet
// reached; a success takes its count back. A blocked key is refused on one read.
// Only real sign-ins pay it (remembered ones and tokens do not come here).
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { RegistryError } from "../domain/errors.ts";
import type { SignInFailureRows, SignInState } from "../metadata/identity-types.ts";

const WINDOW_MS = 60_000;
const MAX_BLOCK_MS = 15 * 60_000;
/** Keys are pruned at most this often (each process, on an attempt). */
const PRUNE_EVERY_MS = 60_000;

export interface RateLimitOptions {
  /** Failures of one name from one address per minute. */
  perIdentity: number;
  /** Failures from one address per minute, whatever the names. */
  perAddress: number;
}

/** A counted sign-in attempt (SignInLimiter.attempt): the keys it counts under, and when. */
export interface SignInAttempt {
  keys: string[];
  at: number;
}

function refuseBlocked(states: ReadonlyMap<string, SignInState>, now: number): void {
  for (const state of states.values()) {
    if (state.blockedUntil > now) {
      const retryAfter = Math.max(1, Math.ceil((state.blockedUntil - now) / 1000));
      throw new RegistryError("TOOMANYREQUESTS", `too many failed sign-ins: try again in ${retryAfter} s`, { retryAfter });
    }
  }
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
   * Counts a sign-in attempt before its password is checked, and throws TOOMANYREQUESTS (429 +
   * Retry-After) while this name from this address, or this address, is blocked or has used up its
   * attempts. Counting first is what makes the limit hold against parallel guesses: a check that
   * only read the failures would let a burst of a thousand requests all pass it before the first of
   * them had failed. The attempt stays counted as a failure unless `succeeded` takes it back.
   */
  async attempt(name: string, address: string): Promise<SignInAttempt> {
    const now = Date.now();
    const limits = this.limits(name, address);
    // A blocked key is refused on a read, without a write: a guesser that keeps knocking costs little.
    refuseBlocked(await this.rows.get(limits.map(([key]) => key)), now);
    const counted: string[] = [];
    for (const [key, limit] of limits) {
      const state = await this.rows.update(key, (current): SignInState => {
        const state = current ?? { failures: [], blockedUntil: 0, strikes: 0 };
        if (state.blockedUntil > now) return state;
        // A key quiet for longer than the longest block starts over.
        const strikes = state.blockedUntil + MAX_BLOCK_MS < now ? 0 : state.strikes;
        const failures = state.failures.filter((t) => t > now - WINDOW_MS);
        if (failures.length < limit) return { failures: [...failures, now], blockedUntil: state.blockedUntil, strikes };
        return { failures: [], blockedUntil: now + Math.min(WINDOW_MS * 2 ** strikes, MAX_BLOCK_MS), strikes: strikes + 1 };
      });
      if (state.blockedUntil > now) {
        // This attempt is refused unchecked: the keys it was already counted under take it back.
        await this.forgive(counted, now);
        refuseBlocked(new Map([[key, state]]), now);
      }
      counted.push(key);
    }
    if (now - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await this.rows.prune(now - MAX_BLOCK_MS);
    }
    return { keys: counted, at: now };
  }

  /** The attempt's credentials were right: it no longer counts as a failure. */
  async succeeded(attempt: SignInAttempt): Promise<void> {
    await this.forgive(attempt.keys, attempt.at);
  }

  private async forgive(keys: readonly string[], at: number): Promise<void> {
    for (const key of keys) {
      await this.rows.update(key, (current): SignInState => {
        if (!current) return { failures: [], blockedUntil: 0, strikes: 0 };
        const i = current.failures.indexOf(at);
        return i < 0 ? current : { ...current, failures: current.failures.filter((_, j) => j !== i) };
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

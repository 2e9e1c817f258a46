// Failed sign-ins are limited per name from one client address, and per client address, over a
// sliding minute: a password guesser is slowed to a crawl, and the answer says when to try again.
//
// Never per name alone: then anyone without the password could lock its holder out by failing
// under that name (every exchanged-token sign-in shares the zero-GUID name, so one loop would
// lock out every `berth login --expose-token` user). A guesser only ever locks out itself.
// A key that keeps reaching its limit waits longer each time: 1, 2, 4 … at most 15 minutes.
import { isIPv4, isIPv6 } from "node:net";
import { RegistryError } from "../domain/errors.ts";

const WINDOW_MS = 60_000;
const MAX_BLOCK_MS = 15 * 60_000;
const MAX_KEYS = 10_000;

export interface RateLimitOptions {
  /** Failures of one name from one address per minute. */
  perIdentity: number;
  /** Failures from one address per minute, whatever the names. */
  perAddress: number;
}

interface KeyState {
  failures: number[];
  blockedUntil: number;
  /** How many times in a row this key reached its limit (doubles the next block). */
  strikes: number;
}

export class SignInLimiter {
  private readonly options: RateLimitOptions;
  private readonly keys = new Map<string, KeyState>();

  constructor(options: RateLimitOptions) {
    this.options = options;
  }

  /** Throws TOOMANYREQUESTS (429 + Retry-After) while this name from this address, or this address, is blocked. */
  check(name: string, address: string): void {
    const now = Date.now();
    for (const [key] of this.limits(name, address)) {
      const blockedUntil = this.keys.get(key)?.blockedUntil ?? 0;
      if (blockedUntil > now) {
        const retryAfter = Math.max(1, Math.ceil((blockedUntil - now) / 1000));
        throw new RegistryError("TOOMANYREQUESTS", `too many failed sign-ins: try again in ${retryAfter} s`, { retryAfter });
      }
    }
  }

  fail(name: string, address: string): void {
    const now = Date.now();
    for (const [key, limit] of this.limits(name, address)) {
      const state = this.keys.get(key) ?? { failures: [], blockedUntil: 0, strikes: 0 };
      // A key quiet for longer than the longest block starts over.
      if (state.blockedUntil + MAX_BLOCK_MS < now) state.strikes = 0;
      state.failures = [...state.failures.filter((t) => t > now - WINDOW_MS), now];
      if (state.failures.length >= limit) {
        state.strikes++;
        state.blockedUntil = now + Math.min(WINDOW_MS * 2 ** (state.strikes - 1), MAX_BLOCK_MS);
        state.failures = [];
      }
      this.keys.set(key, state);
    }
    if (this.keys.size > MAX_KEYS) this.prune(now);
  }

  private limits(name: string, address: string): [string, number][] {
    const from = addressKey(address);
    return [
      [`n:${from}\0${name}`, this.options.perIdentity],
      [`a:${from}`, this.options.perAddress],
    ];
  }

  private prune(now: number): void {
    for (const [key, state] of this.keys) {
      if (state.blockedUntil + MAX_BLOCK_MS < now && !state.failures.some((t) => t > now - WINDOW_MS)) this.keys.delete(key);
    }
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

// Failed sign-ins are limited per identity name and per client address, over a sliding minute:
// a password guesser is slowed to a crawl, and the answer says when to try again.
import { RegistryError } from "../domain/errors.ts";

const WINDOW_MS = 60_000;

export interface RateLimitOptions {
  perIdentity: number;
  perAddress: number;
}

export class SignInLimiter {
  private readonly options: RateLimitOptions;
  private readonly failures = new Map<string, number[]>();

  constructor(options: RateLimitOptions) {
    this.options = options;
  }

  /** Throws TOOMANYREQUESTS (429 + Retry-After) when either key has failed too often lately. */
  check(name: string, address: string): void {
    const now = Date.now();
    for (const [key, limit] of [[`n:${name}`, this.options.perIdentity], [`a:${address}`, this.options.perAddress]] as const) {
      const recent = this.recent(key, now);
      if (recent.length >= limit) {
        const retryAfter = Math.max(1, Math.ceil((recent[0]! + WINDOW_MS - now) / 1000));
        throw new RegistryError("TOOMANYREQUESTS", `too many failed sign-ins: try again in ${retryAfter} s`, { retryAfter });
      }
    }
  }

  fail(name: string, address: string): void {
    const now = Date.now();
    for (const key of [`n:${name}`, `a:${address}`]) this.failures.set(key, [...this.recent(key, now), now]);
    if (this.failures.size > 10_000) this.prune(now);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
  }

  private prune(now: number): void {
    for (const [key, times] of this.failures) if (!times.some((t) => t > now - WINDOW_MS)) this.failures.delete(key);
  }
}

// HTTP Basic for the admin user. Verifying scrypt costs ~50 ms, and clients send credentials on
// every request, so a successful check is remembered briefly under a keyed hash of the header
// (never the password itself).
import { createHmac, randomBytes } from "node:crypto";
import type { UserRows } from "../metadata/types.ts";
import { verifyPassword } from "./passwords.ts";
import type { Identity } from "./identity.ts";

export const ADMIN_USER = "admin";
const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 1000;

export class Authenticator {
  private readonly users: UserRows;
  private readonly cacheKey = randomBytes(32);
  private readonly remembered = new Map<string, { identity: Identity; until: number }>();

  constructor(users: UserRows) {
    this.users = users;
  }

  /** The identity behind an Authorization header; anonymous without one; null for bad credentials. */
  async authenticate(authorization: string | undefined): Promise<Identity | null> {
    if (!authorization) return { kind: "anonymous" };
    const key = createHmac("sha256", this.cacheKey).update(authorization).digest("base64");
    const hit = this.remembered.get(key);
    if (hit && hit.until > Date.now()) return hit.identity;
    const identity = await this.check(authorization);
    if (identity) {
      if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
      this.remembered.set(key, { identity, until: Date.now() + REMEMBER_MS });
    }
    return identity;
  }

  /** Forget remembered checks (after a password change). */
  forget(): void {
    this.remembered.clear();
  }

  private async check(authorization: string): Promise<Identity | null> {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (!match) return null;
    const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return null;
    const name = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const stored = await this.users.passwordHash(name);
    if (!stored || !(await verifyPassword(password, stored))) return null;
    return { kind: "admin", name };
  }
}

// Authorization as a function over data: an identity and the accesses a route declared give a
// grant or a RegistryError carrying the challenge.
import { RegistryError } from "../domain/errors.ts";
import type { Access, Identity } from "./identity.ts";

export interface AuthorizerOptions {
  anonymousPull: boolean;
  realm: string;
}

export class Authorizer {
  private readonly options: AuthorizerOptions;

  constructor(options: AuthorizerOptions) {
    this.options = options;
  }

  get challenge(): string {
    return `Basic realm="${this.options.realm}", charset="UTF-8"`;
  }

  may(who: Identity, access: Access): boolean {
    if (who.kind === "admin") return true;
    return this.options.anonymousPull && access.type === "repository" && access.action === "pull";
  }

  /** Whether the identity may pull every repository (lets callers use shared, cached views). */
  mayReadAll(who: Identity): boolean {
    return who.kind === "admin" || this.options.anonymousPull;
  }

  /** Throws UNAUTHORIZED (anonymous: log in) or DENIED (known identity lacking rights). */
  authorize(who: Identity, wanted: readonly Access[]): void {
    const refused = wanted.filter((access) => !this.may(who, access));
    if (refused.length === 0) return;
    const detail = refused.map((a) => ({ type: a.type, name: a.name, action: a.action }));
    if (who.kind === "anonymous") {
      throw new RegistryError("UNAUTHORIZED", "authentication required: log in with your Berth credentials", detail, this.challenge);
    }
    throw new RegistryError("DENIED", "requested access to the resource is denied", detail);
  }

  /** Whether the bare API (GET /v2/) answers this identity without credentials. */
  mayPing(who: Identity): boolean {
    return who.kind !== "anonymous" || this.options.anonymousPull;
  }
}

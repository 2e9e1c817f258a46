// Who asks, before any handler runs: bad credentials are a 401 with the challenge, never a
// silent fall back to anonymous.
import type { FastifyRequest } from "fastify";
import type { Authenticator } from "../auth/authenticator.ts";
import type { Authorizer } from "../auth/authorizer.ts";
import type { Access, Identity } from "../auth/identity.ts";
import { RegistryError } from "../domain/errors.ts";

export class Guard {
  private readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;

  constructor(authenticator: Authenticator, authorizer: Authorizer) {
    this.authenticator = authenticator;
    this.authorizer = authorizer;
  }

  async identify(request: FastifyRequest): Promise<Identity> {
    const who = await this.authenticator.authenticate(request.headers.authorization);
    if (!who) throw new RegistryError("UNAUTHORIZED", "invalid username or password", null, this.authorizer.challenge);
    return who;
  }

  /** Identifies the caller and checks the accesses the route declared. */
  async check(request: FastifyRequest, wanted: readonly Access[]): Promise<Identity> {
    const who = await this.identify(request);
    this.authorizer.authorize(who, wanted);
    return who;
  }
}

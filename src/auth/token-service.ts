// Signed tokens (Docker registry token protocol): short-lived access tokens whose `access` claim
// is exactly what was granted, and refresh tokens that stand for a principal (from a login,
// `offline_token`, or the exchange). ES256; key id = RFC 7638 thumbprint; keys in the database,
// so every instance verifies what any instance signed. Rotation adds a signing key; retired keys
// stop verifying.
//
// Both kinds carry `cred`, the stamp of the password or secret that signed in (see
// credentialStamp): the authenticator refuses a token whose credential was reset, rotated or
// expired since, so a token never outlives the credential it came from.
import { createHash, randomUUID } from "node:crypto";
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from "jose";
import type { MetadataStore } from "../metadata/types.ts";
import type { SigningKey } from "../metadata/identity-types.ts";
import { ACTIONS, type Access, type Action } from "./identity.ts";

const ALGORITHM = "ES256";
/**
 * Clock skew allowed on exp and nbf. Berth verifies only tokens it (or a peer instance on the
 * same clock source) signed, so a few seconds suffice: distribution's 60 s would let a 5-minute
 * token live 6.
 */
const LEEWAY_SECONDS = 5;

export interface TokenServiceOptions {
  /** Issuer claim; audience is the service the client names. */
  issuer: string;
  accessLifetimeSeconds: number;
  refreshLifetimeSeconds: number;
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** The claim distribution defines: one entry per resource, its actions as a list. */
interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

/** The store's parts the token service uses: keys, and the change log a new key is announced in. */
export type SigningKeyStore = Pick<MetadataStore, "signingKeys" | "transaction">;

export class TokenService {
  private readonly store: SigningKeyStore;
  private readonly options: TokenServiceOptions;
  private loaded: LoadedKey[] = [];
  /** The reload an unknown key id started (one at a time), and when the last one started. */
  private reloading: Promise<void> | null = null;
  private reloadedAt = 0;

  constructor(store: SigningKeyStore, options: TokenServiceOptions) {
    this.store = store;
    this.options = options;
  }

  get accessLifetime(): number {
    return this.options.accessLifetimeSeconds;
  }

  get refreshLifetime(): number {
    return this.options.refreshLifetimeSeconds;
  }

  /** Loads the active keys, creating the first one on a new registry. */
  async load(): Promise<void> {
    // Processes starting together on one empty database make one first key: whether one is
    // needed is decided in the transaction that adds it (SigningKeyRows.addFirst).
    if ((await this.store.signingKeys.active()).length === 0) {
      const key = await newSigningKey();
      await this.store.transaction(async (tx) => {
        if (await tx.signingKeys.addFirst(key)) await tx.changes.append({ kind: "signing-key.added", kid: key.kid });
      });
    }
    await this.reload();
  }

  /** Adds a new signing key, announced in the change log; earlier ones keep verifying until retired. */
  async rotate(): Promise<string> {
    const key = await newSigningKey();
    await this.store.transaction(async (tx) => {
      await tx.signingKeys.add(key);
      await tx.changes.append({ kind: "signing-key.added", kid: key.kid });
    });
    await this.reload();
    return key.kid;
  }

  /** Re-reads the active keys (on `signing-key.added`, from whichever process added one). */
  async reload(): Promise<void> {
    const rows = await this.store.signingKeys.active();
    this.loaded = await Promise.all(
      rows.map(async (row) => ({
        kid: row.kid,
        privateKey: (await importJWK(JSON.parse(row.privateJwk) as JWK, ALGORITHM)) as CryptoKey,
        publicKey: (await importJWK(JSON.parse(row.publicJwk) as JWK, ALGORITHM)) as CryptoKey,
      })),
    );
  }

  async issueAccess(subject: string, name: string, service: string, access: readonly Access[], credential: string | null): Promise<string> {
    const claims: AccessClaim[] = [];
    for (const a of access) {
      const existing = claims.find((c) => c.type === a.type && c.name === a.name);
      if (existing) {
        if (!existing.actions.includes(a.action)) existing.actions.push(a.action);
      } else {
        claims.push({ type: a.type, name: a.name, actions: [a.action] });
      }
    }
    return this.sign({ access: claims, name, token_use: "access", ...credentialClaim(credential) }, subject, service, this.options.accessLifetimeSeconds);
  }

  /**
   * A refresh token for the principal signed in with `credential`. `notAfter` (seconds since the
   * epoch) is the end of the chain it continues: a refresh token minted from another never lives
   * longer than that one, so a chain of re-exchanges has an absolute end.
   */
  async issueRefresh(subject: string, service: string, credential: string, options: { lifetimeSeconds?: number; notAfter?: number } = {}): Promise<string> {
    const lifetime = options.lifetimeSeconds ?? this.options.refreshLifetimeSeconds;
    const now = Math.floor(Date.now() / 1000);
    const end = Math.min(now + lifetime, options.notAfter ?? Infinity);
    return this.sign({ token_use: "refresh", cred: credential }, subject, service, Math.max(0, end - now));
  }

  /** The access an access token grants, or null for anything not valid here and now. */
  async verifyAccess(token: string, service: string): Promise<{ subject: string; name: string; access: Access[]; credential: string | null } | null> {
    const payload = await this.verify(token, service, "access");
    if (!payload || !Array.isArray(payload.access)) return null;
    const access: Access[] = [];
    for (const claim of payload.access as AccessClaim[]) {
      if ((claim.type !== "repository" && claim.type !== "registry") || typeof claim.name !== "string" || !Array.isArray(claim.actions)) return null;
      for (const action of claim.actions) if (ACTIONS.includes(action as Action)) access.push({ type: claim.type, name: claim.name, action: action as Action });
    }
    const credential = typeof payload.cred === "string" ? payload.cred : null;
    return { subject: payload.sub!, name: typeof payload.name === "string" ? payload.name : payload.sub!, access, credential };
  }

  /** The principal a refresh token stands for, the credential it came from and when it ends; or null. */
  async verifyRefresh(token: string, service: string): Promise<{ subject: string; credential: string; expiresAt: number } | null> {
    const payload = await this.verify(token, service, "refresh");
    // Refresh tokens from before credentials were stamped are refused: their holder signs in again.
    if (!payload || typeof payload.cred !== "string") return null;
    return { subject: payload.sub!, credential: payload.cred, expiresAt: payload.exp! };
  }

  private async sign(claims: Record<string, unknown>, subject: string, service: string, lifetime: number): Promise<string> {
    const key = this.loaded[0];
    if (!key) throw new Error("no signing key loaded");
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: "JWT" })
      .setIssuer(this.options.issuer)
      .setAudience(service)
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetime)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /**
   * A key another instance added a moment ago, before its announcement reached this one: the keys
   * are read again, at most once a second, so tokens naming made-up key ids cannot turn every
   * request into a database read.
   */
  private async reloadFor(kid: string | undefined): Promise<LoadedKey | undefined> {
    if (kid === undefined) return undefined;
    if (!this.reloading && Date.now() - this.reloadedAt >= 1000) {
      this.reloadedAt = Date.now();
      this.reloading = this.reload().finally(() => (this.reloading = null));
    }
    await this.reloading;
    return this.loaded.find((k) => k.kid === kid);
  }

  private async verify(token: string, service: string, use: "access" | "refresh"): Promise<JWTPayload | null> {
    if (token.split(".").length !== 3) return null;
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = this.loaded.find((k) => k.kid === header.kid) ?? (await this.reloadFor(header.kid));
          if (!key) throw new Error("unknown key");
          return key.publicKey;
        },
        { algorithms: [ALGORITHM], issuer: this.options.issuer, audience: service, clockTolerance: LEEWAY_SECONDS, requiredClaims: ["exp", "sub"] },
      );
      return payload.token_use === use && typeof payload.sub === "string" ? payload : null;
    } catch {
      return null;
    }
  }
}

function credentialClaim(credential: string | null): { cred?: string } {
  return credential === null ? {} : { cred: credential };
}

/**
 * The stamp of a stored secret: a short digest of its hash (which holds a fresh salt each time a
 * password is set), so a reset, a rotation or a new secret changes it and the secret itself never
 * appears in a token.
 */
export function credentialStamp(secretHash: string): string {
  return createHash("sha256").update(secretHash).digest("base64url").slice(0, 22);
}

/** A fresh key pair, its id the public key's JWK thumbprint. */
async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, algorithm: ALGORITHM, privateJwk: JSON.stringify(await exportJWK(privateKey)), publicJwk: JSON.stringify({ ...publicJwk, kid, alg: ALGORITHM }), createdAt: new Date(), retiredAt: null };
}

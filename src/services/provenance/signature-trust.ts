// The trust in force for signatures (notation trust policy and stores, cosign public keys, the
// registry name policies' scopes name), in one place: the provenance report verifies with it
// when read, and the stored outcomes the search reads (signature-verdicts.ts) are computed with
// it at push and again when its fingerprint changes.
import { createHash } from "node:crypto";
import type { RepositoryName } from "../../domain/names.ts";
import type { SignatureFacts } from "../../metadata/provenance-types.ts";
import { verifyCosign, type CosignKey } from "./cosign-verify.ts";
import type { NotationTrust } from "./notation-trust.ts";
import { verifyNotation, type Subject, type Verification } from "./notation-verify.ts";

const UNVERIFIED = "verification not configured";

export class SignatureTrust {
  readonly notation: NotationTrust | null;
  readonly registryName: string | undefined;
  readonly cosignKeys: readonly CosignKey[];
  /**
   * What every outcome depends on besides the signature and the clock: the policies as parsed,
   * each store's certificates (bytes), the cosign keys (their SPKI hashes) and the registry name.
   * Equal fingerprints, equal outcomes; a file edited to the same meaning keeps it.
   */
  readonly fingerprint: string;

  constructor(options: { notation?: NotationTrust | null; registryName?: string; cosignKeys?: readonly CosignKey[] } = {}) {
    this.notation = options.notation ?? null;
    this.registryName = options.registryName;
    this.cosignKeys = options.cosignKeys ?? [];
    const stores = this.notation ? [...this.notation.stores.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, certs]) => [name, certs.map((c) => c.fingerprint256)]) : null;
    const canonical = JSON.stringify({
      notation: this.notation ? { policies: this.notation.policies, stores } : null,
      cosign: this.cosignKeys.map((k) => k.hint).sort(),
      registryName: this.registryName ?? null,
    });
    this.fingerprint = createHash("sha256").update(canonical).digest("hex");
  }

  /** One signature of `subject` in `repository`, at `now`: verified true, false, or null (not evaluated). */
  verify(repository: RepositoryName, subject: Subject, facts: SignatureFacts, now: Date): Verification {
    if (facts.scheme !== "notation") {
      return this.cosignKeys.length > 0 ? verifyCosign(this.cosignKeys, subject, facts) : { verified: null, reason: "no cosign public keys configured (provenance.cosignKeys)" };
    }
    if (!this.notation) return { verified: null, reason: UNVERIFIED };
    const scope = this.registryName ? `${this.registryName}/${repository}` : null;
    return verifyNotation(this.notation, scope, subject, facts, now);
  }
}

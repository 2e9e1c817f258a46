// Pull policies: per repository pattern, refuse `GET/HEAD /v2/<repo>/manifests/<ref>` of an image
// that has no notation signature verifying against the configured trust policy and store, with a
// 403 DENIED that says why. Cheap: it reads the signature rows recorded at push and verifies the
// envelopes kept there (no blob is read), for the manifest and for the indexes naming it.
//
// What counts as signed: an index when the index itself is signed; a platform manifest when it is
// signed or an index of the same repository naming it is signed (`notation sign` of a multi-arch
// tag signs the index, and clients then pull each platform manifest by digest). Signatures,
// attestations and other artifacts (charts, SBOMs) are never refused: verifiers must read them.
// Callers that may push to the repository are not refused either: `notation sign` resolves the
// unsigned manifest before it can sign it.
import type { Digest } from "../../domain/digest.ts";
import { RegistryError } from "../../domain/errors.ts";
import type { RepositoryName } from "../../domain/names.ts";
import type { MetadataStore } from "../../metadata/types.ts";
import type { NotationTrust } from "./notation-trust.ts";
import { verifyNotation, type Subject } from "./notation-verify.ts";
import { matches } from "./push-policy.ts";

export interface PullPolicy {
  name: string;
  /** `team/app`, `team/*` (team and below) or `*`, as push policies. */
  repositories: string[];
}

export interface PullPolicyOptions {
  policies: readonly PullPolicy[];
  notation: NotationTrust | null;
  /** host[:port] that trust policy registryScopes name. */
  registryName?: string;
}

const EXEMPT = new Set(["signature", "attestation", "artifact"]);

export class PullPolicies {
  private readonly metadata: MetadataStore;
  private readonly options: PullPolicyOptions;

  constructor(metadata: MetadataStore, options: PullPolicyOptions) {
    if (options.policies.length > 0 && !options.notation) {
      throw new Error("provenance.pullPolicies need provenance.trustPolicy (and trustStore): a pull policy admits only images with a verified notation signature");
    }
    this.metadata = metadata;
    this.options = options;
  }

  /** The policy covering a repository, or null. */
  policyFor(repository: RepositoryName): PullPolicy | null {
    return this.options.policies.find((p) => p.repositories.some((pattern) => matches(pattern, repository))) ?? null;
  }

  /** Throws 403 DENIED when a policy covers the repository and the manifest has no verified notation signature. */
  async enforce(repository: RepositoryName, manifest: Subject): Promise<void> {
    const policy = this.policyFor(repository);
    if (!policy) return;
    const digest = manifest.digest as Digest;
    const row = await this.metadata.provenance.get(repository, digest);
    if (row && EXEMPT.has(row.facts.kind)) return;
    const subjects: Subject[] = [manifest];
    if (row?.facts.kind !== "index") {
      for (const parent of await this.metadata.provenance.parents(repository, digest)) {
        const summary = await this.metadata.manifests.summary(repository, parent);
        if (summary) subjects.push({ digest: summary.digest, mediaType: summary.mediaType, size: summary.size });
      }
    }
    const scope = this.options.registryName ? `${this.options.registryName}/${repository}` : null;
    const reasons: string[] = [];
    const now = new Date();
    for (const subject of subjects) {
      for (const referrer of await this.metadata.provenance.referring(repository, subject.digest as Digest)) {
        if (referrer.facts.kind !== "signature" || referrer.facts.scheme !== "notation") continue;
        const result = verifyNotation(this.options.notation!, scope, subject, referrer.facts, now);
        if (result.verified === true) return;
        const on = subject.digest === digest ? "" : ` (on index ${subject.digest})`;
        reasons.push(`${referrer.digest}${on}: ${result.reason}`);
      }
    }
    const what = `${repository}@${digest}`;
    const message =
      reasons.length === 0
        ? `pull refused by policy "${policy.name}": ${what} has no notation signature${subjects.length > 1 ? ", nor has an index naming it" : ""}; sign it (notation sign) and pull again`
        : `pull refused by policy "${policy.name}": ${what} has no verified notation signature: signature not verified: ${reasons.join("; ")}`;
    throw new RegistryError("DENIED", message, { policy: policy.name, digest, signatures: reasons.length });
  }
}

// Verifies a notation JWS signature against the trust configuration, at report time, from the
// envelope kept at push (no blob is read). The steps of notaryproject's signature-specification.md
// and trust-store-trust-policy.md, in order:
//
//   policy   the one for <registryName>/<repository>, else the global "*" one; level skip → not evaluated
//   integrity (always enforced)  JWS alg allowed and implied by the leaf key; crit holds the signing
//            scheme and nothing unknown; the signature verifies over protected.payload; the payload's
//            targetArtifact is exactly the manifest being verified (mediaType, digest, size)
//   authenticity  the x5c chain links leaf → root, each signed by the next, CA certs above the leaf,
//            the leaf's EKU not server/client/timestamping; a chain certificate is byte-equal to one in
//            the policy's trust stores; the leaf subject matches trustedIdentities
//   expiry   io.cncf.notary.expiry not passed
//   authentic timestamp  without a TSA countersignature the chain must be valid now
//   revocation  not checked yet (no OCSP/CRL): reported as skipped
//
// Checks a level marks "log" are reported but do not fail the signature. Not checked yet, and said
// so in the result: COSE envelopes, RFC 3161 timestamps, keyUsage bits and basicConstraints
// criticality (node's X509Certificate exposes neither), revocation.
import { constants, verify as verifySignature, type X509Certificate, X509Certificate as Certificate } from "node:crypto";
import type { SignatureFacts } from "../../metadata/provenance-types.ts";
import { actionsOf, identityTrusted, policyFor, type Action, type Check, type NotationTrust } from "./notation-trust.ts";

export type CheckResult = "pass" | "fail" | "logged" | "skipped";

export interface Verification {
  verified: boolean | null;
  reason: string;
  policy?: string;
  level?: string;
  checks?: Partial<Record<"integrity" | Check, CheckResult>>;
  /**
   * A verified signature stops verifying at this time (ms), with nothing else changing: the
   * earliest notAfter of the chain when the authentic timestamp check is enforced (there is no
   * timestamp countersignature), or the signature's own expiry when that check is enforced.
   * Absent: nothing ages it. Stored with the outcome (signature-verdicts.ts) so a search compares it with now.
   */
  until?: number;
}

export interface Subject {
  mediaType: string;
  digest: string;
  size: number;
}

const KNOWN_CRITICAL = new Set(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry", "io.cncf.notary.authenticSigningTime"]);
const BAD_LEAF_EKU = new Set(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.8", "2.5.29.37.0"]);
const HASH = { 256: "sha256", 384: "sha384", 512: "sha512" } as const;

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});

class Failure extends Error {}

/** The JWS alg a leaf key implies (RSA 2048/3072/4096 → PS256/384/512; P-256/384/521 → ES256/384/512). */
function algorithmFor(leaf: X509Certificate): string | null {
  const key = leaf.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss") {
    return ({ 2048: "PS256", 3072: "PS384", 4096: "PS512" } as Record<number, string>)[details.modulusLength ?? 0] ?? null;
  }
  if (key.asymmetricKeyType === "ec") return ({ "prime256v1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512" } as Record<string, string>)[details.namedCurve ?? ""] ?? null;
  return null;
}

/** Integrity: parses and checks the envelope; returns the chain and the protected header. */
function integrity(envelope: Buffer, subject: Subject): { chain: X509Certificate[]; header: Json } {
  let jws: Json;
  let header: Json;
  try {
    jws = obj(JSON.parse(envelope.toString("utf8")));
    header = obj(JSON.parse(Buffer.from(String(jws.protected ?? ""), "base64url").toString("utf8")));
  } catch {
    throw new Failure("the envelope is not a JWS JSON serialization");
  }
  if (header.cty !== "application/vnd.cncf.notary.payload.v1+json") throw new Failure("the protected header's cty is not application/vnd.cncf.notary.payload.v1+json");
  const crit = Array.isArray(header.crit) ? header.crit : [];
  if (!crit.includes("io.cncf.notary.signingScheme")) throw new Failure("crit does not list io.cncf.notary.signingScheme");
  const unknown = crit.filter((c) => typeof c !== "string" || !KNOWN_CRITICAL.has(c));
  if (unknown.length > 0) throw new Failure(`unknown critical header ${String(unknown[0])}`);
  if (header["io.cncf.notary.signingScheme"] !== "notary.x509") throw new Failure(`signing scheme ${String(header["io.cncf.notary.signingScheme"])} is not supported yet (only notary.x509)`);
  const x5c = Array.isArray(obj(jws.header).x5c) ? (obj(jws.header).x5c as unknown[]) : [];
  if (x5c.length === 0) throw new Failure("the envelope carries no certificate chain (x5c)");
  let chain: X509Certificate[];
  try {
    chain = x5c.map((c) => new Certificate(Buffer.from(String(c), "base64")));
  } catch {
    throw new Failure("a certificate in x5c is not DER");
  }
  const leaf = chain[0]!;
  const alg = algorithmFor(leaf);
  if (!alg || header.alg !== alg) throw new Failure(`alg ${String(header.alg)} is not the one the signing key implies (${alg ?? "an unsupported key"})`);
  const hash = HASH[Number(alg.slice(2)) as 256 | 384 | 512];
  const input = Buffer.from(`${String(jws.protected)}.${String(jws.payload)}`, "ascii");
  const signature = Buffer.from(String(jws.signature ?? ""), "base64url");
  const options = alg.startsWith("PS")
    ? { key: leaf.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }
    : { key: leaf.publicKey, dsaEncoding: "ieee-p1363" as const };
  if (!verifySignature(hash, input, options, signature)) throw new Failure("the signature does not verify: the envelope was altered or signed by another key");
  let target: Json;
  try {
    target = obj(obj(JSON.parse(Buffer.from(String(jws.payload), "base64url").toString("utf8"))).targetArtifact);
  } catch {
    throw new Failure("the signed payload is not JSON");
  }
  if (target.digest !== subject.digest || target.mediaType !== subject.mediaType || target.size !== subject.size) {
    throw new Failure(`the signature is for ${String(target.digest)}, not for this manifest`);
  }
  return { chain, header };
}

/** Authenticity: the reason it fails, or null. */
function authenticity(trust: NotationTrust, policy: NonNullable<ReturnType<typeof policyFor>>, chain: X509Certificate[]): string | null {
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return `certificate ${i} of the chain is not issued by the next one`;
    if (!chain[i + 1]!.ca) return `certificate ${i + 1} of the chain is not a CA`;
  }
  const root = chain.at(-1)!;
  // Not checkIssued(root): a lone self-signed leaf (notation cert generate-test) has no keyCertSign.
  if (root.subject !== root.issuer || !root.verify(root.publicKey)) return "the chain does not end in a self-signed root";
  const eku = chain[0]!.keyUsage ?? [];
  const bad = eku.find((oid) => BAD_LEAF_EKU.has(oid));
  if (bad) return `the signing certificate's extended key usage ${bad} is not allowed for code signing`;
  const trusted = policy.trustStores.filter((s) => s.startsWith("ca:")).flatMap((s) => trust.stores.get(s) ?? []);
  if (!chain.some((cert) => trusted.some((t) => t.raw.equals(cert.raw)))) {
    return `no certificate of the chain is in the trust stores of policy "${policy.name}" (${policy.trustStores.join(", ") || "none"})`;
  }
  const subject = chain[0]!.subject.split("\n").join(", ");
  if (!identityTrusted(policy, subject)) return `the signer ${subject} is not among the trusted identities of policy "${policy.name}"`;
  return null;
}

/** Verifies one notation signature of `subject` in `scope` (registryName/repository, null when unknown). */
export function verifyNotation(trust: NotationTrust, scope: string | null, subject: Subject, facts: SignatureFacts, now: Date): Verification {
  const policy = policyFor(trust, scope);
  if (!policy) return { verified: false, reason: `no trust policy covers ${scope ?? "this repository"} (and there is no global "*" policy)` };
  const base = { policy: policy.name, level: policy.signatureVerification.level };
  const actions = actionsOf(policy);
  if (!actions) return { ...base, verified: null, reason: `trust policy "${policy.name}" skips verification` };
  if (facts.envelope !== "jws") return { ...base, verified: null, reason: `${facts.envelope} envelopes are not verified yet (JWS only)` };
  if (!facts.envelopeData) return { ...base, verified: false, reason: "the envelope was not readable at push", checks: { integrity: "fail" } };
  const checks: Verification["checks"] = {};
  let chain: X509Certificate[];
  let header: Json;
  try {
    ({ chain, header } = integrity(Buffer.from(facts.envelopeData, "base64"), subject));
    checks.integrity = "pass";
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    return { ...base, verified: false, reason: `integrity: ${err.message}`, checks: { integrity: "fail" } };
  }
  const failures: string[] = [];
  const logged: string[] = [];
  const apply = (check: Check, problem: string | null) => {
    const action: Action = actions[check];
    if (action === "skip") checks[check] = "skipped";
    else if (problem === null) checks[check] = "pass";
    else {
      checks[check] = action === "enforce" ? "fail" : "logged";
      (action === "enforce" ? failures : logged).push(`${check}: ${problem}`);
    }
  };
  apply("authenticity", authenticity(trust, policy, chain));
  const expiry = typeof header["io.cncf.notary.expiry"] === "string" ? Date.parse(header["io.cncf.notary.expiry"]) : Number.NaN;
  apply("expiry", !Number.isNaN(expiry) && expiry < now.getTime() ? `the signature expired at ${String(header["io.cncf.notary.expiry"])}` : null);
  const invalid = chain.find((c) => Date.parse(c.validFrom) > now.getTime() || Date.parse(c.validTo) < now.getTime());
  apply("authenticTimestamp", invalid ? `certificate ${invalid.subject.split("\n").join(", ")} is not valid now (${invalid.validFrom} – ${invalid.validTo}) and there is no timestamp countersignature` : null);
  checks.revocation = "skipped";
  if (failures.length > 0) return { ...base, verified: false, reason: failures.join("; "), checks };
  const notes = [...logged.map((l) => `logged ${l}`), "revocation not checked"];
  const ends = [
    ...(actions.authenticTimestamp === "enforce" ? chain.map((c) => Date.parse(c.validTo)) : []),
    ...(actions.expiry === "enforce" && !Number.isNaN(expiry) ? [expiry] : []),
  ];
  return { ...base, verified: true, reason: `trusted by policy "${policy.name}" (level ${policy.signatureVerification.level}); ${notes.join("; ")}`, checks, ...(ends.length > 0 ? { until: Math.min(...ends) } : {}) };
}

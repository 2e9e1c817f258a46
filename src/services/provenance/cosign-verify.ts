// Verifies a cosign v3 signature (a Sigstore bundle v0.3 referrer holding a DSSE envelope) against
// the public keys configured in provenance.cosignKeys (PEM files, as `cosign generate-key-pair`
// writes cosign.pub), with node:crypto, from the bundle kept at push (no blob is read):
//
//   the bundle's key hint (base64 SHA-256 of the key's DER SubjectPublicKeyInfo) picks the keys to try;
//   a DSSE signature verifies over PAE(payloadType, payload) with one of them (SHA-256; ECDSA DER,
//   RSA PKCS#1 v1.5, Ed25519);
//   the payload is an in-toto statement whose subject names this manifest's sha256 digest.
//
// No transparency log (Rekor) entry and no signed timestamp are checked, and keyless bundles
// (a Fulcio certificate instead of a key) and legacy `.sig` signatures are not verified yet: each
// says so in its reason. Spec: sigstore/cosign specs/BUNDLE_SPEC.md; research/provenance.md §2.6.
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SignatureFacts } from "../../metadata/provenance-types.ts";
import type { Subject, Verification } from "./notation-verify.ts";

export interface CosignKey {
  file: string;
  key: KeyObject;
  /** What cosign writes as verificationMaterial.publicKey.hint. */
  hint: string;
}

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});

/** Reads each PEM public key file; throws naming the file to fix. */
export function loadCosignKeys(files: readonly string[]): CosignKey[] {
  return files.map((file) => {
    try {
      const key = createPublicKey(readFileSync(file));
      return { file, key, hint: createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("base64") };
    } catch (err) {
      throw new Error(`cosign public key ${file}: ${(err as Error).message}`);
    }
  });
}

/** DSSE's pre-authentication encoding. */
function pae(payloadType: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${body.length} `), body]);
}

function verifies(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(key.asymmetricKeyType === "ed25519" ? null : "sha256", data, key, signature);
  } catch {
    return false;
  }
}

/** Verifies one cosign signature of `subject` against the configured keys. */
export function verifyCosign(keys: readonly CosignKey[], subject: Subject, facts: SignatureFacts): Verification {
  if (facts.scheme !== "cosign-bundle") return { verified: null, reason: "legacy cosign signatures (.sig tags) are not verified yet" };
  if (!facts.envelopeData) return { verified: false, reason: "the bundle was not readable at push" };
  let bundle: Json;
  try {
    bundle = obj(JSON.parse(Buffer.from(facts.envelopeData, "base64").toString("utf8")));
  } catch {
    return { verified: false, reason: "the bundle is not JSON" };
  }
  const material = obj(bundle.verificationMaterial);
  const envelope = obj(bundle.dsseEnvelope);
  if (Object.keys(envelope).length === 0) return { verified: null, reason: "bundles without a DSSE envelope (message signatures) are not verified yet" };
  const hint = typeof obj(material.publicKey).hint === "string" ? (obj(material.publicKey).hint as string) : undefined;
  if (!hint && (material.certificate || material.x509CertificateChain)) return { verified: null, reason: "keyless (certificate) cosign signatures are not verified yet" };
  const candidates = hint ? keys.filter((k) => k.hint === hint) : keys;
  if (candidates.length === 0) return { verified: false, reason: `signed with key ${hint ?? "?"}, which is not among the configured cosign keys` };
  const payloadType = typeof envelope.payloadType === "string" ? envelope.payloadType : "";
  if (payloadType !== "application/vnd.in-toto+json") return { verified: false, reason: `the DSSE payload type is ${payloadType || "missing"}, not application/vnd.in-toto+json` };
  const body = Buffer.from(typeof envelope.payload === "string" ? envelope.payload : "", "base64");
  const signatures = (Array.isArray(envelope.signatures) ? envelope.signatures : []).map((s) => Buffer.from(String(obj(s).sig ?? ""), "base64"));
  const signedData = pae(payloadType, body);
  const signer = candidates.find((k) => signatures.some((sig) => verifies(k.key, signedData, sig)));
  if (!signer) return { verified: false, reason: "the signature does not verify with the configured cosign key: the bundle was altered or signed by another key" };
  let statement: Json;
  try {
    statement = obj(JSON.parse(body.toString("utf8")));
  } catch {
    return { verified: false, reason: "the signed payload is not JSON" };
  }
  const hex = subject.digest.replace(/^sha256:/, "");
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  if (!subjects.some((s) => obj(obj(s).digest).sha256 === hex)) return { verified: false, reason: "the signed statement does not name this manifest" };
  return { verified: true, reason: `verified with cosign key ${signer.file}; no transparency log checked` };
}

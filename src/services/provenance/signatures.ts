// What a signature artifact says about its signer, read without any cryptography: the notation
// JWS envelope's protected header and x5c chain (subject, SHA-256 thumbprints), the thumbprint
// annotation (COSE envelopes are not decoded yet), a cosign bundle's certificate or key hint, a
// legacy cosign layer's certificate annotation. Verification against a trust policy is a later
// step (../shared/research/provenance.md §2.5-2.6, §3); nothing here says "trusted".
import { X509Certificate } from "node:crypto";
import type { SignatureFacts } from "../../metadata/provenance-types.ts";

export const NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature";
export const COSIGN_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
export const COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
export const JWS_ENVELOPE = "application/jose+json";
export const COSE_ENVELOPE = "application/cose";
const THUMBPRINT_ANNOTATION = "io.cncf.notary.x509chain.thumbprint#S256";
const CREATED = "org.opencontainers.image.created";
/** JWS envelopes are a few KiB; one this size is kept whole for verification at report time. */
const MAX_KEPT_ENVELOPE = 64 * 1024;

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

/** A certificate's subject, issuer and thumbprint; undefined when the bytes are not a certificate. */
function certificate(bytes: Buffer | string): { subject: string; issuer: string; thumbprint: string } | undefined {
  try {
    const cert = new X509Certificate(bytes);
    return { subject: oneLine(cert.subject), issuer: oneLine(cert.issuer), thumbprint: cert.fingerprint256.replaceAll(":", "").toUpperCase() };
  } catch {
    return undefined;
  }
}

/** node prints RDNs one per line; notation's trusted identities write them comma-separated. */
const oneLine = (dn: string) => dn.split("\n").filter((p) => p !== "").join(", ");

function thumbprintsAnnotation(annotations: Record<string, string>): string[] {
  try {
    const parsed: unknown = JSON.parse(annotations[THUMBPRINT_ANNOTATION] ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === "string").map((t) => t.toUpperCase()).slice(0, 10) : [];
  } catch {
    return [];
  }
}

/** A notation signature manifest; `envelope` is the layer's bytes (null when not read). */
export function notationFacts(annotations: Record<string, string>, layerMediaType: string | undefined, envelope: Buffer | null): SignatureFacts {
  const facts: SignatureFacts = {
    kind: "signature",
    scheme: "notation",
    envelope: layerMediaType === JWS_ENVELOPE ? "jws" : layerMediaType === COSE_ENVELOPE ? "cose" : "unknown",
    annotations,
    signingTime: annotations[CREATED],
    signer: { thumbprints: thumbprintsAnnotation(annotations) },
  };
  if (facts.envelope !== "jws" || envelope === null) return facts;
  if (envelope.length <= MAX_KEPT_ENVELOPE) facts.envelopeData = envelope.toString("base64");
  try {
    const jws = obj(JSON.parse(envelope.toString("utf8")));
    const header = obj(JSON.parse(Buffer.from(str(jws.protected) ?? "", "base64url").toString("utf8")));
    facts.signingTime = str(header["io.cncf.notary.signingTime"]) ?? facts.signingTime;
    facts.signingScheme = str(header["io.cncf.notary.signingScheme"]);
    const chain = (Array.isArray(obj(jws.header).x5c) ? (obj(jws.header).x5c as unknown[]) : []).slice(0, 10);
    const certs = chain.map((c) => (typeof c === "string" ? certificate(Buffer.from(c, "base64")) : undefined));
    const leaf = certs[0];
    if (leaf) facts.signer = { subject: leaf.subject, issuer: leaf.issuer, thumbprints: certs.map((c) => c?.thumbprint ?? "?") };
  } catch {
    // Not readable as JWS: listed with what the manifest said; verification will call it invalid.
  }
  return facts;
}

/** A cosign v3 bundle referrer; `bundle` is the layer's bytes (null when not read). */
export function cosignBundleFacts(annotations: Record<string, string>, bundle: Buffer | null): SignatureFacts {
  const facts: SignatureFacts = {
    kind: "signature",
    scheme: "cosign-bundle",
    envelope: "sigstore-bundle",
    annotations,
    signingTime: annotations[CREATED],
    signer: { thumbprints: [] },
    predicateType: annotations["dev.sigstore.bundle.predicateType"],
  };
  if (bundle === null) return facts;
  if (bundle.length <= MAX_KEPT_ENVELOPE) facts.envelopeData = bundle.toString("base64");
  try {
    const material = obj(obj(JSON.parse(bundle.toString("utf8"))).verificationMaterial);
    const raw = str(obj(material.certificate).rawBytes) ?? str(obj((obj(material.x509CertificateChain).certificates as unknown[] | undefined)?.[0]).rawBytes);
    const cert = raw ? certificate(Buffer.from(raw, "base64")) : undefined;
    if (cert) facts.signer = { subject: cert.subject, issuer: cert.issuer, thumbprints: [cert.thumbprint] };
    const hint = str(obj(material.publicKey).hint);
    if (hint) facts.signer.keyHint = hint;
  } catch {
    // listed with what the manifest said
  }
  return facts;
}

/** A legacy cosign `.sig` manifest: the certificate, when keyless, is a layer annotation. */
export function cosignLegacyFacts(annotations: Record<string, string>, layerAnnotations: Record<string, string>): SignatureFacts {
  const pem = layerAnnotations["dev.sigstore.cosign/certificate"];
  const cert = pem ? certificate(pem) : undefined;
  return {
    kind: "signature",
    scheme: "cosign-legacy",
    envelope: "simplesigning",
    annotations,
    signingTime: annotations[CREATED],
    signer: cert ? { subject: cert.subject, issuer: cert.issuer, thumbprints: [cert.thumbprint] } : { thumbprints: [] },
  };
}

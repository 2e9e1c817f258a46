// Notation-shaped signatures made in the test: a self-signed RSA-2048 code-signing certificate
// (openssl, as `notation cert generate-test` would make one), a JWS envelope signed with PS256
// over the payload notation signs ({targetArtifact: descriptor}), the signature manifest with the
// thumbprint annotation, and the trust policy and store folder in notation's own layout.
// ../shared/research/provenance.md §2.5, §3.1.
import { execFileSync } from "node:child_process";
import { constants, createPrivateKey, sign, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digestOf, MEDIA, type Blob, type Built } from "./provenance-images.ts";

export interface SigningCertificate {
  keyPem: string;
  certPem: string;
  cert: X509Certificate;
}

/** A self-signed leaf (and root), or null when openssl is missing. */
export function generateTestCertificate(dir: string, name: string, days = 2): SigningCertificate | null {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", String(days), "-sha256",
      "-subj", `/C=US/ST=WA/L=Seattle/O=Berth Test/CN=${name}`,
      "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=codeSigning",
    ], { stdio: "pipe" });
  } catch {
    return null;
  }
  const certPem = readFileSync(crt, "utf8");
  return { keyPem: readFileSync(key, "utf8"), certPem, cert: new X509Certificate(certPem) };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A notation JWS envelope over `subject`; `tamper` changes the payload after signing. */
export function jwsEnvelope(signer: SigningCertificate, subject: { mediaType: string; digest: string; size: number }, options: { tamper?: boolean; expiry?: string } = {}): Buffer {
  const header = {
    alg: "PS256",
    cty: "application/vnd.cncf.notary.payload.v1+json",
    crit: ["io.cncf.notary.signingScheme", ...(options.expiry ? ["io.cncf.notary.expiry"] : [])],
    "io.cncf.notary.signingScheme": "notary.x509",
    "io.cncf.notary.signingTime": "2026-11-24T05:00:00Z",
    ...(options.expiry ? { "io.cncf.notary.expiry": options.expiry } : {}),
  };
  const protectedHeader = b64url(header);
  const payload = b64url({ targetArtifact: subject });
  const signature = sign("sha256", Buffer.from(`${protectedHeader}.${payload}`), { key: createPrivateKey(signer.keyPem), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  const signedPayload = options.tamper ? b64url({ targetArtifact: { ...subject, size: subject.size + 1 } }) : payload;
  return Buffer.from(JSON.stringify({
    payload: signedPayload,
    protected: protectedHeader,
    header: { x5c: [signer.cert.raw.toString("base64")], "io.cncf.notary.signingAgent": "berth-test" },
    signature: signature.toString("base64url"),
  }));
}

/** The signature manifest notation pushes: empty config, the envelope as its one layer, subject, thumbprints. */
export function notationJwsSignature(envelope: Buffer, signer: SigningCertificate, subject: Blob): Built & { signature: Blob } {
  const blob = (mediaType: string, bytes: Buffer): Blob => ({ mediaType, digest: digestOf(bytes), size: bytes.length, bytes });
  const empty = blob(MEDIA.empty, Buffer.from("{}"));
  const layer = blob("application/jose+json", envelope);
  const d = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const signature = blob(MEDIA.manifest, Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: MEDIA.notation, config: d(empty), layers: [d(layer)], subject: d(subject),
    annotations: { "io.cncf.notary.x509chain.thumbprint#S256": JSON.stringify([signer.cert.fingerprint256.replaceAll(":", "")]), "org.opencontainers.image.created": "2026-11-24T05:00:00Z" },
  })));
  return { blobs: [empty, layer], manifests: [signature], signature };
}

/** Writes trustpolicy.oci.json and the store folder x509/ca/<store>/ holding `certs`. */
export function writeTrust(dir: string, store: string, certs: SigningCertificate[], policy: Record<string, unknown> = {}): { policyFile: string; storeDir: string } {
  const storeDir = join(dir, "trust-store");
  mkdirSync(join(storeDir, "x509/ca", store), { recursive: true });
  certs.forEach((c, i) => writeFileSync(join(storeDir, "x509/ca", store, `cert-${i}.pem`), c.certPem));
  const policyFile = join(dir, "trustpolicy.oci.json");
  writeFileSync(policyFile, JSON.stringify({
    version: "1.0",
    trustPolicies: [{ name: "berth-test", registryScopes: ["*"], signatureVerification: { level: "strict" }, trustStores: [`ca:${store}`], trustedIdentities: ["*"], ...policy }],
  }));
  return { policyFile, storeDir };
}

// Digests: `algorithm:hex` over exact bytes. Berth verifies sha256 and sha512 (image-spec
// descriptor.md "Registered algorithms"); any other algorithm is refused as DIGEST_INVALID.
import { createHash, type Hash } from "node:crypto";
import { RegistryError } from "./errors.ts";

export type Digest = string & { readonly brand: "Digest" };
export type DigestAlgorithm = "sha256" | "sha512";

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_PATTERN = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(text: string): text is Digest {
  return DIGEST_PATTERN.test(text);
}

export function parseDigest(text: string): Digest {
  if (!isDigest(text)) throw new RegistryError("DIGEST_INVALID", "invalid or unsupported digest", { digest: text.slice(0, 200) });
  return text;
}

export function parseAlgorithm(text: string): DigestAlgorithm {
  if (text === "sha256" || text === "sha512") return text;
  throw new RegistryError("DIGEST_INVALID", "unsupported digest algorithm: use sha256 or sha512", { algorithm: text.slice(0, 50) });
}

export function algorithmOf(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

export function hexOf(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOfHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
  return `${algorithm}:${hash.digest("hex")}` as Digest;
}

export function digestBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): Digest {
  return digestOfHash(algorithm, createHash(algorithm).update(bytes));
}

export function hexLength(algorithm: DigestAlgorithm): number {
  return HEX_LENGTH[algorithm];
}

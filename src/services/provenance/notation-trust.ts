// Notation's trust configuration, in notation's own formats so one file serves both `notation
// verify` and Berth: a trust policy document (trustpolicy.oci.json: registryScopes, verification
// level with overrides, trustStores, trustedIdentities) and a trust store folder laid out as
// notation's (<dir>/x509/{ca,signingAuthority,tsa}/<name>/*.pem|.crt|.cer). Loaded once at start.
// Spec: notaryproject/specifications specs/trust-store-trust-policy.md; research/provenance.md §3.1.
import { X509Certificate } from "node:crypto";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

export type Check = "authenticity" | "authenticTimestamp" | "expiry" | "revocation";
export type Action = "enforce" | "log" | "skip";

const LevelName = z.enum(["strict", "permissive", "audit", "skip"]);
const TrustPolicy = z.strictObject({
  name: z.string().min(1),
  registryScopes: z.array(z.string().min(1)).min(1),
  signatureVerification: z.strictObject({
    level: LevelName,
    override: z.partialRecord(z.enum(["authenticity", "authenticTimestamp", "expiry", "revocation"]), z.enum(["enforce", "log", "skip"])).optional(),
  }),
  trustStores: z.array(z.string().regex(/^(ca|signingAuthority|tsa):[A-Za-z0-9_.-]+$/, "type:name, e.g. ca:acme")).default([]),
  trustedIdentities: z.array(z.string()).default([]),
});
const TrustPolicyDocument = z.strictObject({ version: z.literal("1.0"), trustPolicies: z.array(TrustPolicy).min(1) });
export type TrustPolicy = z.infer<typeof TrustPolicy>;

const LEVELS: Record<Exclude<z.infer<typeof LevelName>, "skip">, Record<Check, Action>> = {
  strict: { authenticity: "enforce", authenticTimestamp: "enforce", expiry: "enforce", revocation: "enforce" },
  permissive: { authenticity: "enforce", authenticTimestamp: "enforce", expiry: "log", revocation: "log" },
  audit: { authenticity: "log", authenticTimestamp: "log", expiry: "log", revocation: "log" },
};

export interface NotationTrust {
  policies: TrustPolicy[];
  /** "ca:acme" → the certificates of that named store. */
  stores: Map<string, X509Certificate[]>;
}

/** What each check does under a policy (null: level skip, nothing is verified). */
export function actionsOf(policy: TrustPolicy): Record<Check, Action> | null {
  const level = policy.signatureVerification.level;
  if (level === "skip") return null;
  return { ...LEVELS[level], ...(policy.signatureVerification.override ?? {}) };
}

/** The policy for `host/repository`: one naming it exactly, else the global "*" one, else none. */
export function policyFor(trust: NotationTrust, scope: string | null): TrustPolicy | null {
  return (scope ? trust.policies.find((p) => p.registryScopes.includes(scope)) : undefined) ?? trust.policies.find((p) => p.registryScopes.includes("*")) ?? null;
}

function certificatesIn(bytes: Buffer, file: string): X509Certificate[] {
  const text = bytes.toString("latin1");
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  try {
    return blocks ? blocks.map((b) => new X509Certificate(b)) : [new X509Certificate(bytes)];
  } catch (err) {
    throw new Error(`trust store file ${file} is not a PEM or DER certificate: ${(err as Error).message}`);
  }
}

/** Reads the policy document and every named store it uses; throws with the file to fix. */
export function loadNotationTrust(policyFile: string, storeDir: string | undefined): NotationTrust {
  let document: z.infer<typeof TrustPolicyDocument>;
  try {
    const parsed = TrustPolicyDocument.safeParse(JSON.parse(readFileSync(policyFile, "utf8")));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    document = parsed.data;
  } catch (err) {
    throw new Error(`notation trust policy ${policyFile}: ${(err as Error).message}`);
  }
  const global = document.trustPolicies.filter((p) => p.registryScopes.includes("*"));
  if (global.length > 1) throw new Error(`notation trust policy ${policyFile}: more than one policy has registryScopes "*"`);
  if (global[0]?.signatureVerification.level === "skip") throw new Error(`notation trust policy ${policyFile}: the global "*" policy may not use level skip`);
  const stores = new Map<string, X509Certificate[]>();
  for (const name of new Set(document.trustPolicies.flatMap((p) => p.trustStores))) {
    const [type, store] = name.split(":") as [string, string];
    if (!storeDir) throw new Error(`notation trust policy ${policyFile} names trust store ${name}: set provenance.trustStore to the folder that holds x509/${type}/${store}/`);
    const dir = join(storeDir, "x509", type, store);
    const certs: X509Certificate[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      files = []; // an absent store is an empty one: nothing verifies against it
    }
    for (const file of files.filter((f) => /\.(pem|crt|cer)$/i.test(f)).sort()) {
      const path = join(dir, file);
      const info = lstatSync(path);
      if (info.isSymbolicLink()) throw new Error(`trust store file ${path} is a symbolic link: notation refuses those, so does Berth`);
      if (info.isFile()) certs.push(...certificatesIn(readFileSync(path), path));
    }
    stores.set(name, certs);
  }
  return { policies: document.trustPolicies, stores };
}

/** "C=US, ST=WA, O=Acme" (or node's one-per-line form) → attribute map; ST and S are one attribute. */
export function parseDn(text: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const part of text.split(/(?<!\\)[,\n]/)) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toUpperCase();
    result.set(key === "S" ? "ST" : key, part.slice(eq + 1).trim().replace(/\\(.)/g, "$1"));
  }
  return result;
}

/** Whether the leaf's subject satisfies trustedIdentities: "*", or an x509.subject whose attributes it all has. */
export function identityTrusted(policy: TrustPolicy, leafSubject: string): boolean {
  if (policy.trustedIdentities.includes("*")) return true;
  const subject = parseDn(leafSubject);
  return policy.trustedIdentities.some((entry) => {
    if (!entry.startsWith("x509.subject:")) return false;
    const wanted = parseDn(entry.slice("x509.subject:".length));
    return wanted.size > 0 && [...wanted].every(([k, v]) => subject.get(k) === v);
  });
}

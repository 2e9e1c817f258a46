// What a provenance row makes searchable (catalog-types.ts SearchEntry), from the facts the
// provenance indexer read at push (services/provenance/indexer.ts): nothing is read again.
//
//   image ─────── its config labels (label) and manifest annotations (annotation)
//   index ─────── its annotations, and its platform children's labels, so the tag finds it;
//                 the SLSA builders of its BuildKit attestation entries, for the index and the
//                 image each describes
//   signature ─── signer subject and issuer, scheme (signature), for the manifest it signs
//   attestation ─ SLSA builder id, config source, VCS source/revision (provenance), for its subject
//   artifact ──── annotations
import type { Digest } from "../domain/digest.ts";
import type { SearchEntry } from "./catalog-types.ts";
import type { ProvenanceFacts, ProvenanceRecord } from "./provenance-types.ts";

/** Bounds what one manifest adds to the index (labels are capped at 500 by the indexer). */
const MAX_ENTRIES = 2000;

const pairs = (digest: Digest, source: SearchEntry["source"], record: Record<string, string> | undefined): SearchEntry[] =>
  Object.entries(record ?? {}).map(([key, value]) => ({ digest, source, key, value }));

function provenanceEntries(digest: Digest, facts: ProvenanceFacts): SearchEntry[] {
  if (facts.kind !== "attestation") return [];
  const entries: SearchEntry[] = [];
  const add = (key: string, value: string | undefined) => value && entries.push({ digest, source: "provenance", key, value });
  for (const statement of facts.statements) {
    const slsa = statement.slsa;
    if (!slsa) continue;
    add("builder.id", slsa.builderId);
    add("build.type", slsa.buildType);
    add("config.source", slsa.configSource?.uri);
    add("vcs.source", slsa.vcs?.source);
    add("vcs.revision", slsa.vcs?.revision);
  }
  return entries;
}

/**
 * The entries a provenance row adds. `lookup` reads another row of the same repository (an
 * index's children and attestation manifests were pushed before it).
 */
export async function searchEntries(record: ProvenanceRecord, lookup: (digest: Digest) => Promise<ProvenanceRecord | null>): Promise<SearchEntry[]> {
  const { digest, facts } = record;
  let entries: SearchEntry[] = [];
  switch (facts.kind) {
    case "image":
      entries = [...pairs(digest, "label", facts.config.labels), ...pairs(digest, "annotation", facts.annotations)];
      break;
    case "artifact":
      entries = pairs(digest, "annotation", facts.annotations);
      break;
    case "index": {
      entries = pairs(digest, "annotation", facts.annotations);
      for (const child of facts.platforms.slice(0, 64)) {
        const row = await lookup(child.digest);
        if (row?.facts.kind === "image") entries.push(...pairs(digest, "label", row.facts.config.labels));
      }
      for (const attestation of facts.attestations.slice(0, 64)) {
        const row = await lookup(attestation.digest);
        if (!row) continue;
        entries.push(...provenanceEntries(digest, row.facts));
        if (attestation.target) entries.push(...provenanceEntries(attestation.target, row.facts));
      }
      break;
    }
    case "signature":
      if (record.subject) {
        const add = (key: string, value: string | undefined) => value && entries.push({ digest: record.subject!, source: "signature", key, value });
        add("scheme", facts.scheme);
        add("signer.subject", facts.signer.subject);
        add("signer.issuer", facts.signer.issuer);
      }
      break;
    case "attestation":
      if (record.subject) entries = provenanceEntries(record.subject, facts);
      break;
  }
  const seen = new Set<string>();
  return entries.filter((e) => {
    const key = JSON.stringify([e.digest, e.source, e.key, e.value]);
    return !seen.has(key) && (seen.add(key), true);
  }).slice(0, MAX_ENTRIES);
}

/** A value of hex digits in lower case, for the 7-digit prefix rule; null for any other value. */
export function foldedHex(value: string): string | null {
  return /^[0-9a-fA-F]+$/.test(value) ? value.toLowerCase() : null;
}

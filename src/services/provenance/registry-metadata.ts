// Registry-side metadata: mutable key/value facts on a repository or one of its manifests
// (approved-by, scan-status, owner), kept apart from the image's own labels, which are immutable.
// Every change appends a history row (who, when, old, new) in the same transaction as the value;
// history is never rewritten. A manifest is never rewritten either: that would change its digest.
// (SteveLasker/drafts meta-data-services.md; ../shared/research/provenance.md §4.1.)
import { RegistryError } from "../../domain/errors.ts";
import type { MetadataChange, MetadataTarget, MetadataValue } from "../../metadata/provenance-types.ts";
import type { MetadataStore } from "../../metadata/types.ts";

/** Keys are short names; `_history` and `_values` are reserved for the API's own paths. */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MAX_VALUE_BYTES = 16 * 1024;

export function checkKey(key: string): string {
  if (!KEY.test(key)) {
    throw new RegistryError("INVALID_REQUEST", "a metadata key is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", { key: key.slice(0, 200) });
  }
  return key;
}

export class RegistryMetadata {
  private readonly metadata: MetadataStore;

  constructor(metadata: MetadataStore) {
    this.metadata = metadata;
  }

  async list(target: MetadataTarget): Promise<MetadataValue[]> {
    await this.checkTarget(target);
    return this.metadata.metadataValues.list(target);
  }

  async get(target: MetadataTarget, key: string): Promise<MetadataValue> {
    await this.checkTarget(target);
    const found = await this.metadata.metadataValues.get(target, checkKey(key));
    if (!found) throw new RegistryError("METADATA_UNKNOWN", `no metadata key ${key} on ${describe(target)}`, { key });
    return found;
  }

  /** Sets a value; null when it already had this value (no history row then). */
  async set(actor: string, target: MetadataTarget, key: string, value: string): Promise<MetadataChange | null> {
    checkKey(key);
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES) throw new RegistryError("INVALID_REQUEST", `a metadata value is at most ${MAX_VALUE_BYTES / 1024} KiB`);
    await this.checkTarget(target);
    return this.metadata.transaction((tx) => tx.metadataValues.change(target, key, value, actor, new Date()));
  }

  async delete(actor: string, target: MetadataTarget, key: string): Promise<MetadataChange> {
    checkKey(key);
    await this.checkTarget(target);
    const change = await this.metadata.transaction((tx) => tx.metadataValues.change(target, key, null, actor, new Date()));
    if (!change) throw new RegistryError("METADATA_UNKNOWN", `no metadata key ${key} on ${describe(target)}`, { key });
    return change;
  }

  /** The history outlives the manifest: only the repository must still exist. */
  async history(target: MetadataTarget, key?: string): Promise<MetadataChange[]> {
    await this.checkTarget({ repository: target.repository, digest: null });
    return this.metadata.metadataValues.history(target, key === undefined ? undefined : checkKey(key));
  }

  /** The repository must exist; a digest must be a manifest in it. */
  private async checkTarget(target: MetadataTarget): Promise<void> {
    if (!(await this.metadata.repositories.exists(target.repository))) {
      throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: target.repository });
    }
    if (target.digest && !(await this.metadata.manifests.summary(target.repository, target.digest))) {
      throw new RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry", { digest: target.digest });
    }
  }
}

function describe(target: MetadataTarget): string {
  return target.digest ? `${target.repository}@${target.digest}` : target.repository;
}

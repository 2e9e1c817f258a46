// What a delete may not take away, read inside the delete's transaction so that no lock or rule
// set after the caller was authorized is missed. One place for manifests, tags and blobs alike:
// a blob deleted from a repository breaks every image there that names it, so it is protected by
// the same locks and rules as those images.
import { PolicyRefusal, RegistryError } from "../domain/errors.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import { immutableBy, immutableText } from "../domain/tag-rules.ts";
import type { MetadataParts } from "../metadata/types.ts";

/**
 * The authorizer's delete rule (auth/authorizer.ts: a delete-locked repository, or a
 * delete-locked tag on the content, refuses whoever asks). `tags`: those the delete removes or
 * breaks (the tag itself, or every tag covering a digest).
 */
export async function refuseDeleteLocked(tx: MetadataParts, repository: RepositoryName, tags: readonly Tag[]): Promise<void> {
  for (const tag of ["", ...tags]) {
    const attributes = await tx.attributes.get(repository, tag);
    if (attributes && !attributes.deleteEnabled) {
      throw new RegistryError("DENIED", `${tag ? `${repository}:${tag}` : repository} cannot be deleted (deleteEnabled is false)`, { type: "repository", name: repository, action: "delete" });
    }
  }
}

/**
 * The authorizer's push rule for a write that no guard checked per tag: a restore of deleted
 * content (trash.ts), which needs delete on the repository, still may not write where writes are
 * locked (writeEnabled false on the repository or a tag it puts back).
 */
export async function refuseWriteLocked(tx: MetadataParts, repository: RepositoryName, tags: readonly Tag[], verb: string): Promise<void> {
  for (const tag of ["", ...tags]) {
    const attributes = await tx.attributes.get(repository, tag);
    if (attributes && !attributes.writeEnabled) {
      throw new RegistryError("DENIED", `${tag ? `${repository}:${tag}` : repository} cannot be ${verb} (writeEnabled is false)`, { type: "repository", name: repository, action: "push" });
    }
  }
}

/** DENIED naming the rule when a tag rule makes one of `tags` immutable (moved, deleted, or its content deleted). */
export async function refuseImmutable(tx: MetadataParts, repository: RepositoryName, tags: readonly Tag[]): Promise<void> {
  if (tags.length === 0) return;
  const rules = await tx.tagRules.list();
  for (const tag of tags) {
    const rule = immutableBy(rules, repository, tag);
    if (rule) throw new PolicyRefusal({ reason: "immutable", repository, reference: tag, rule: rule.id }, immutableText(repository, tag, rule), { repository, tag, rule: rule.id });
  }
}

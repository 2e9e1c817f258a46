// Push policies: per repository pattern, the labels (config.Labels) and annotations (the image
// manifest's) an image must carry, checked at push on what the indexer read, so a CI pipeline
// that forgot its --build-arg gets a 400 naming the missing keys instead of an anonymous image.
// Only images are checked: an index's platform images were each checked when pushed (children
// come first), and attestations, signatures and other artifacts carry no build labels.
import { RegistryError } from "../../domain/errors.ts";
import type { RepositoryName } from "../../domain/names.ts";
import type { ProvenanceFacts } from "../../metadata/provenance-types.ts";

export interface PushPolicy {
  name: string;
  /** `team/app`, `team/*` (team and below) or `*`: the rule auth/identity.ts matchesPattern uses. */
  repositories: string[];
  requireLabels: string[];
  requireAnnotations: string[];
}

export function matches(pattern: string, repository: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("/*")) return repository.startsWith(pattern.slice(0, -1)) || repository === pattern.slice(0, -2);
  return pattern === repository;
}

/** Throws MANIFEST_INVALID naming the first policy the image breaks and every key it lacks. */
export function enforcePushPolicies(policies: readonly PushPolicy[], repository: RepositoryName, facts: ProvenanceFacts): void {
  if (facts.kind !== "image") return;
  for (const policy of policies) {
    if (!policy.repositories.some((p) => matches(p, repository))) continue;
    const missingLabels = policy.requireLabels.filter((k) => !(facts.config.labels[k] ?? "").trim());
    const missingAnnotations = policy.requireAnnotations.filter((k) => !(facts.annotations[k] ?? "").trim());
    if (missingLabels.length === 0 && missingAnnotations.length === 0) continue;
    const parts = [
      missingLabels.length > 0 ? `labels ${missingLabels.join(", ")}` : "",
      missingAnnotations.length > 0 ? `annotations ${missingAnnotations.join(", ")}` : "",
    ].filter(Boolean);
    const unread = facts.config.read ? "" : " (its config could not be read: missing, larger than 4 MiB or not JSON)";
    throw new RegistryError(
      "MANIFEST_INVALID",
      `push refused by policy "${policy.name}": the image lacks required ${parts.join(" and ")}${unread}; set them (LABEL in the Dockerfile, --label or --annotation) and push again`,
      { policy: policy.name, missingLabels, missingAnnotations },
    );
  }
}

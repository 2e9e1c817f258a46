// Soft delete (docs/lifecycle.md#soft-delete). With deletion.restorableFor > 0, every delete
// (by tag, by digest, a chart either way, a whole repository, /api/v1, retention) goes through
// ManifestService, which removes the live rows exactly as before and, in the same transaction,
// keeps a trash record here: the manifest's bytes, the tags that went, a chart's way of storage,
// and the blobs it names. No read of the registry looks at the trash, so clients see the delete
// at once (404, gone from tag lists and index.yaml); gc counts the records' blobs as referenced
// (and keeps their links) until the record expires and is purged (gc, or the maintenance job).
//
//   restore(repository, tag | digest, force):
//     records = the repository's unexpired records for it (a digest: all of them, every tag they
//               hold; a tag: the newest record holding it, that tag)
//     refuse  a repository or tag locked for writes (writeEnabled false)              403
//             a tag that names other content now (pushed again since) unless force   409
//             (judged where put sets the tag, under its row lock)
//             content the manifest needs that is gone (a child deleted, a blob unlinked) 409
//     put     through ManifestService.put, as a push by digest with those tags: tag rules,
//             locks on content, the chart index both ways, the change log (manifest.pushed with
//             restored: true) all apply; the records are updated in put's transaction, so a
//             restore happens once, and a purge racing it leaves nothing half-restored.
import { randomUUID } from "node:crypto";
import { tagToVersion, versionToTag } from "../domain/chart.ts";
import type { ChangeActor } from "../domain/changes.ts";
import type { Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { parseManifest } from "../domain/manifest.ts";
import { isIndexMediaType } from "../domain/media-types.ts";
import type { Reference, RepositoryName, Tag } from "../domain/names.ts";
import type { MetadataParts, MetadataStore, StoredAs, TrashRecord } from "../metadata/types.ts";
import type { ManifestService, PushedManifest } from "./manifest-service.ts";
import { refuseWriteLocked } from "./protection.ts";

/** What a delete removes, as it calls keepDeleted. */
export interface Deletion {
  repository: RepositoryName;
  digest: Digest;
  kind: TrashRecord["kind"];
  tags: readonly Tag[];
}

/**
 * Inside a delete's transaction, before the rows go: keeps the manifest restorable for `seconds`
 * (nothing when 0: soft delete is off).
 */
export async function keepDeleted(tx: MetadataParts, seconds: number, deletion: Deletion, actor: ChangeActor | null): Promise<void> {
  if (seconds <= 0) return;
  const manifest = await tx.manifests.get(deletion.repository, deletion.digest);
  if (!manifest) return; // the delete finds nothing either, and says so
  let blobs: Digest[] = [];
  try {
    blobs = parseManifest(manifest.body, manifest.mediaType).blobs;
  } catch {
    // Stored at push, so it parsed then; a record without references still restores (if its blobs stay).
  }
  let storedAs: StoredAs | null = null;
  for (const tag of deletion.tags) {
    const chart = await tx.charts.get(deletion.repository, tagToVersion(tag));
    if (chart && chart.manifestDigest === deletion.digest && versionToTag(chart.version) === tag) storedAs = chart.storedAs;
  }
  const now = new Date();
  await tx.trash.put(
    {
      id: randomUUID(),
      repository: deletion.repository,
      digest: deletion.digest,
      kind: deletion.kind,
      tags: [...deletion.tags],
      mediaType: manifest.mediaType,
      artifactType: manifest.artifactType,
      body: manifest.body,
      storedAs,
      deletedAt: now,
      expiresAt: new Date(now.getTime() + seconds * 1000),
      deletedBy: actor,
    },
    blobs,
  );
}

/** What a record holds, in words a list shows: a chart, an index, an image or another artifact. */
export function contentOf(record: Pick<TrashRecord, "storedAs" | "mediaType" | "artifactType">): "chart" | "index" | "image" | "artifact" {
  if (record.storedAs) return "chart";
  if (isIndexMediaType(record.mediaType)) return "index";
  const type = record.artifactType;
  if (type === null || type === "application/vnd.oci.image.config.v1+json" || type === "application/vnd.docker.container.image.v1+json") return "image";
  return "artifact";
}

export interface RestoreOptions {
  /** Point tags back at the restored content even where they were pushed again since. */
  force?: boolean;
  actor?: ChangeActor | null;
}

export class DeletedContent {
  private readonly metadata: MetadataStore;
  private readonly manifests: ManifestService;

  constructor(metadata: MetadataStore, manifests: ManifestService) {
    this.metadata = metadata;
    this.manifests = manifests;
  }

  /** The repository's restorable records, newest first. */
  list(repository: RepositoryName): Promise<TrashRecord[]> {
    return this.metadata.trash.list(repository, new Date());
  }

  async restore(repository: RepositoryName, reference: Reference, options: RestoreOptions = {}): Promise<PushedManifest> {
    const now = new Date();
    const chosen = pick(await this.metadata.trash.list(repository, now), reference);
    if (chosen === null) {
      const named = reference.kind === "tag" ? `${repository}:${reference.tag}` : `${repository}@${reference.digest}`;
      throw new RegistryError("DELETED_UNKNOWN", `nothing deleted as ${named} can be restored (it was never deleted, was restored already, or its window has passed): see berth repository deleted ${repository}`, reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest });
    }
    const { newest, digest, tags } = chosen;
    return this.manifests.put(repository, { kind: "digest", digest }, newest.body, newest.mediaType, {
      extraTags: tags,
      storedAs: newest.storedAs ?? "oci",
      actor: options.actor ?? null,
      restored: true,
      // Judged where put sets each tag, under the tag row's lock: a push racing the restore either
      // committed first (and is refused here) or waits and moves the tag after it.
      onTagMove: options.force ? undefined : (tag, from) => refuseNewer(repository, tag, from, digest),
      // First in put's transaction (after its blob locks): the checks see what the push will change.
      alongside: async (tx) => {
        const records = (await tx.trash.list(repository, now)).filter((r) => r.digest === digest);
        if (!records.some((r) => r.id === newest.id)) throw new RegistryError("DELETED_UNKNOWN", `${repository}@${digest} was restored or purged meanwhile`, { digest });
        await refuseWriteLocked(tx, repository, tags, "restored");
        await refuseMissing(tx, repository, newest);
        for (const record of records) await tx.trash.update(record.id, "tag", record.tags.filter((t) => !tags.includes(t)));
      },
    });
  }
}

/** The records a reference restores: a digest, all of its (every tag); a tag, the newest holding it. */
function pick(records: readonly TrashRecord[], reference: Reference): { newest: TrashRecord; digest: Digest; tags: Tag[] } | null {
  if (reference.kind === "digest") {
    const of = records.filter((r) => r.digest === reference.digest);
    if (of.length === 0) return null;
    return { newest: of[0]!, digest: reference.digest, tags: [...new Set(of.flatMap((r) => r.tags))] };
  }
  const newest = records.find((r) => r.tags.includes(reference.tag));
  return newest ? { newest, digest: newest.digest, tags: [reference.tag] } : null;
}

/** A tag pushed again since its delete is not moved back without force. */
function refuseNewer(repository: RepositoryName, tag: Tag, current: Digest, restoring: Digest): never {
  throw new RegistryError(
    "RESTORE_CONFLICT",
    `${repository}:${tag} was pushed again after it was deleted (it names ${current} now); restore with --force ("force": true) to point it back at ${restoring}`,
    { tag, current, restoring },
  );
}

/** The content a manifest needs must still be in the repository (a restore never makes a broken image). */
async function refuseMissing(tx: MetadataParts, repository: RepositoryName, record: TrashRecord): Promise<void> {
  const parsed = parseManifest(record.body, record.mediaType);
  const missing: string[] = [];
  for (const child of parsed.children) {
    if (!(await tx.manifests.summary(repository, child))) missing.push(`manifest ${child} (deleted too? restore it first)`);
  }
  for (const blob of parsed.blobs) if (!(await tx.blobLinks.isLinked(repository, blob))) missing.push(`blob ${blob}`);
  if (missing.length > 0) {
    throw new RegistryError("RESTORE_CONFLICT", `${repository}@${record.digest} cannot be restored: it needs ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}, which ${missing.length === 1 ? "is" : "are"} no longer in ${repository}`, { missing: missing.slice(0, 20) });
  }
}

// Soft delete (docs/lifecycle.md#soft-delete). With deletion.restorableFor > 0, every delete
// (by tag, by digest, a chart either way, a whole repository, /api/v1, retention) goes through
// ManifestService, which removes the live rows exactly as before and, in the same transaction,
// keeps a trash record here: the manifest's bytes, the tags that went, a chart's way of storage,
// and the blobs it names. No read of the registry looks at the trash, so clients see the delete
// at once (404, gone from tag lists and index.yaml). gc keeps the files of the records' blobs
// until the record expires and is purged (gc, the maintenance job, or `purge` here, at once), but
// not their links: once gc has run, a blob only a record names is 404 by digest and cannot be
// mounted, as after a final delete; a restore links it again.
//
//   restore(repository, tag | digest, force):
//     records = the repository's unexpired records for it (a digest: all of them, every tag they
//               hold; a tag: the newest record holding it, that tag), read without their bytes;
//               then the one body put back
//     refuse  a repository or tag locked for writes (writeEnabled false)              403
//             a tag that names other content now (pushed again since) unless force   409
//             (judged where put sets the tag, under its row lock)
//             content the manifest needs that is gone (a child deleted, a blob deleted 409
//             from the repository on its own)
//     put     through ManifestService.put, as a push by digest with those tags: tag rules,
//             locks on content, quotas, the chart index both ways, the change log
//             (manifest.pushed with restored: true) all apply; in put's transaction, under its
//             blob locks, the blobs gc unlinked are linked again (admitted to quotas as a mount
//             is) and the records updated, so a restore happens once, and a purge or gc racing
//             it leaves nothing half-restored.
//   purge(repository, [tag | digest]): forgets the records now (all of the repository's, or those
//             a reference names), one `deleted.purged` change each; gc then frees what only they kept.
import { randomUUID } from "node:crypto";
import { tagToVersion, versionToTag } from "../domain/chart.ts";
import type { ChangeActor } from "../domain/changes.ts";
import type { Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { parseManifest } from "../domain/manifest.ts";
import { isIndexMediaType } from "../domain/media-types.ts";
import type { Reference, RepositoryName, Tag } from "../domain/names.ts";
import type { MetadataParts, MetadataStore, StoredAs, TrashCursor, TrashEntry, TrashRecord, TrashRows } from "../metadata/types.ts";
import type { ManifestService, PushedManifest } from "./manifest-service.ts";
import { refuseWriteLocked } from "./protection.ts";
import { admitToQuotas } from "./quotas.ts";

/** What a delete removes, as it calls keepDeleted. */
export interface Deletion {
  repository: RepositoryName;
  digest: Digest;
  kind: TrashRecord["kind"];
  tags: readonly Tag[];
  /** How the chart it was stored as, when its chart row names other content already (a replaced version). */
  storedAs?: StoredAs | null;
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
  let storedAs: StoredAs | null = deletion.storedAs ?? null;
  if (deletion.storedAs === undefined) for (const tag of deletion.tags) {
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
      size: manifest.body.length,
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
export function contentOf(record: Pick<TrashEntry, "storedAs" | "mediaType" | "artifactType">): "chart" | "index" | "image" | "artifact" {
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

/** Records read per query where all of a reference's are needed (a digest deleted under many tags). */
const PAGE = 1000;

export class DeletedContent {
  private readonly metadata: MetadataStore;
  private readonly manifests: ManifestService;

  constructor(metadata: MetadataStore, manifests: ManifestService) {
    this.metadata = metadata;
    this.manifests = manifests;
  }

  /** A page of the repository's restorable records, newest first, without their manifests' bytes. */
  list(repository: RepositoryName, page: { limit: number; after?: TrashCursor }): Promise<TrashEntry[]> {
    return this.metadata.trash.list(repository, new Date(), page);
  }

  async restore(repository: RepositoryName, reference: Reference, options: RestoreOptions = {}): Promise<PushedManifest> {
    const now = new Date();
    const chosen = await pick(this.metadata.trash, repository, reference, now);
    const body = chosen && (await this.metadata.trash.body(chosen.newest.id));
    if (!chosen || !body) throw deletedUnknown(repository, reference);
    const { newest, digest, tags } = chosen;
    return this.manifests.put(repository, { kind: "digest", digest }, body, newest.mediaType, {
      extraTags: tags,
      storedAs: newest.storedAs ?? "oci",
      actor: options.actor ?? null,
      restored: true,
      // Judged where put sets each tag, under the tag row's lock: a push racing the restore either
      // committed first (and is refused here) or waits and moves the tag after it.
      onTagMove: options.force ? undefined : (tag, from) => refuseNewer(repository, tag, from, digest),
      // A classic version restored over its newer package (--force) replaces it as a forced push
      // would: the version is one thing, so the package it held does not stay live by digest.
      replaces: newest.storedAs === "classic",
      // First in put's transaction, after its locks on the manifest's blobs: gc's unlinking and
      // sweeping of those blobs waits for this commit, or ran before and is seen here.
      alongside: async (tx) => {
        // Their rows held first, in one order (TrashRows.hold), before anything is decided on
        // them: a purge of them either committed (and the restore refuses) or waits for this.
        // Before the quota locks, which no holder of a record's row waits for (locks.ts).
        const records = await every(tx.trash, repository, now, { digest });
        const held = new Set(await tx.trash.hold(records.map((r) => r.id)));
        if (!held.has(newest.id)) throw takenMeanwhile(repository, digest);
        await refuseWriteLocked(tx, repository, tags, "restored");
        // gc dropped the links only the record held; its files stayed (trash_refs). Back in the
        // repository they count in its quotas as a mount's would.
        const unlinked = await tx.trash.unlinked(newest.id);
        if (unlinked.length > 0) {
          await admitToQuotas(tx, repository, unlinked, tags[0] ?? digest);
          for (const blob of unlinked) await tx.blobLinks.link(repository, blob.digest);
        }
        await refuseMissing(tx, repository, newest, body);
        for (const record of records) if (held.has(record.id)) await tx.trash.update(record.id, "tag", record.tags.filter((t) => !tags.includes(t)));
      },
    });
  }

  /**
   * Forgets records now (a leaked secret need not wait for the window): every restorable record
   * of the repository, or those a reference names (a digest: all of its; a tag: every record
   * holding it, with the other tags deleted alongside). One `deleted.purged` change per record,
   * in the same transaction. DELETED_UNKNOWN when a reference names none.
   */
  async purge(repository: RepositoryName, reference: Reference | null, actor: ChangeActor | null = null): Promise<TrashEntry[]> {
    return this.metadata.transaction(async (tx) => {
      const records = await every(tx.trash, repository, new Date(), reference === null ? undefined : reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest });
      if (reference !== null && records.length === 0) throw deletedUnknown(repository, reference);
      // Only those still there: a restore or purge that held them first took the rest.
      const forgotten = new Set(await tx.trash.forget(records.map((r) => r.id)));
      const purged = records.filter((r) => forgotten.has(r.id));
      if (reference !== null && purged.length === 0) throw deletedUnknown(repository, reference);
      for (const r of purged) await tx.changes.append({ kind: "deleted.purged", repository, digest: r.digest, tags: r.tags });
      return purged;
    }, { actor });
  }
}

/** Every restorable record of the repository (or of a digest, or holding a tag), newest first, a page at a time. */
async function every(trash: TrashRows, repository: RepositoryName, now: Date, reference?: { digest: Digest } | { tag: Tag }): Promise<TrashEntry[]> {
  const found: TrashEntry[] = [];
  for (let after: TrashCursor | undefined; ;) {
    const page = await trash.list(repository, now, { limit: PAGE, after, reference });
    found.push(...page);
    if (page.length < PAGE) return found;
    after = page.at(-1)!;
  }
}

/** The records a reference restores: a digest, all of its (every tag); a tag, the newest holding it. */
async function pick(trash: TrashRows, repository: RepositoryName, reference: Reference, now: Date): Promise<{ newest: TrashEntry; digest: Digest; tags: Tag[] } | null> {
  if (reference.kind === "digest") {
    const of = await every(trash, repository, now, { digest: reference.digest });
    if (of.length === 0) return null;
    return { newest: of[0]!, digest: reference.digest, tags: [...new Set(of.flatMap((r) => r.tags))] };
  }
  const [newest] = await trash.list(repository, now, { limit: 1, reference: { tag: reference.tag } });
  return newest ? { newest, digest: newest.digest, tags: [reference.tag] } : null;
}

export function deletedUnknown(repository: RepositoryName, reference: Reference): RegistryError {
  const named = reference.kind === "tag" ? `${repository}:${reference.tag}` : `${repository}@${reference.digest}`;
  return new RegistryError("DELETED_UNKNOWN", `nothing deleted as ${named} can be restored (it was never deleted, was restored or purged already, or its window has passed): see berth repository deleted ${repository}`, reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest });
}

function takenMeanwhile(repository: RepositoryName, digest: Digest): RegistryError {
  return new RegistryError("DELETED_UNKNOWN", `${repository}@${digest} was restored or purged meanwhile`, { digest });
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
async function refuseMissing(tx: MetadataParts, repository: RepositoryName, record: TrashEntry, body: Buffer): Promise<void> {
  const parsed = parseManifest(body, record.mediaType);
  const missing: string[] = [];
  for (const child of parsed.children) {
    if (!(await tx.manifests.summary(repository, child))) missing.push(`manifest ${child} (deleted too? restore it first)`);
  }
  for (const blob of parsed.blobs) if (!(await tx.blobLinks.isLinked(repository, blob))) missing.push(`blob ${blob}`);
  if (missing.length > 0) {
    throw new RegistryError("RESTORE_CONFLICT", `${repository}@${record.digest} cannot be restored: it needs ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}, which ${missing.length === 1 ? "is" : "are"} no longer in ${repository}`, { missing: missing.slice(0, 20) });
  }
}

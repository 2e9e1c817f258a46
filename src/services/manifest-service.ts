// Manifests, tags and referrers. A manifest is stored as the exact bytes received, with the
// references it makes recorded beside it, in one transaction with its tags.
import { algorithmOf, digestBytes, isDigest, type Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { tagToVersion, versionToTag, type ChartMetadata } from "../domain/chart.ts";
import { parseManifest, type DescriptorSummary, type ParsedManifest } from "../domain/manifest.ts";
import { OCI_INDEX } from "../domain/media-types.ts";
import type { Reference, RepositoryName, Tag } from "../domain/names.ts";
import type { ChangeActor } from "../domain/changes.ts";
import type { ChartRecord, ManifestRecord, ManifestSummary, MetadataParts, MetadataStore, Page, StoredAs } from "../metadata/types.ts";
import type { ChartIndex, ChartPrecondition } from "./charts/chart-index.ts";
import { refuseDeleteLocked, refuseImmutable } from "./protection.ts";
import type { ProvenanceIndexer } from "./provenance/indexer.ts";
import { keepDeleted } from "./trash.ts";
import { RefusalLog } from "./policy-refusals.ts";
import { admitToQuotas } from "./quotas.ts";

export interface ManifestServiceOptions {
  /** Accept manifests whose layers or index children were never pushed. */
  allowSparse: boolean;
  /** Records Helm charts as their manifests come and go. */
  charts?: ChartIndex;
  /** Records what a manifest says about its provenance (small blobs read once, here). */
  provenance?: ProvenanceIndexer;
  /** Soft delete: seconds a deleted tag or manifest stays restorable (trash.ts); 0 or absent: deletes are final. */
  restorableFor?: number;
  /** Records refusals by quota or tag rule as events (policy-refusals.ts); one is made if absent. */
  refusals?: RefusalLog;
}

export interface PutOptions {
  extraTags?: readonly Tag[];
  /** Which way a chart came: the classic API passes "classic". */
  storedAs?: StoredAs;
  /** For a chart: what its version must be, checked in the transaction (no overwrite, no lost update). */
  chartPrecondition?: ChartPrecondition;
  /** For a chart: what its config says, when the pusher built the config itself (not read back from the blob). */
  chartConfig?: ChartMetadata;
  /**
   * Writes the pusher's own blobs first, in the manifest's transaction (a classic push: the
   * package and the config), so the whole push commits or none of it does.
   */
  alsoStore?: (tx: MetadataParts) => Promise<void>;
  /**
   * Whether the push may name this blob or manifest (false: a tag's read lock covers it). Such a
   * reference is answered as missing, so a new manifest or index can neither lift a read lock by
   * covering the content with an unlocked tag nor tell the pusher the content exists.
   */
  mayReference?: (digest: Digest) => Promise<boolean>;
  /** Who pushes: recorded with the change (the event's actor). */
  actor?: ChangeActor | null;
  /** A restore of deleted content (trash.ts): the change log says so. */
  restored?: boolean;
  /** Runs first in the push's transaction, after the blobs' locks: a restore's checks and its trash rows. */
  alongside?: (tx: MetadataParts) => Promise<void>;
  /**
   * Called when the push would move a tag off other content, with the tag's row locked (TagRows.set),
   * so no concurrent push slips in between; throwing refuses the whole push (a restore's conflict).
   */
  onTagMove?: (tag: Tag, from: Digest) => void;
  /**
   * The content a tag of this push moves off is deleted in its transaction, as a delete by digest
   * would (soft delete's trash, delete locks): a chart version stored the classic way is one thing,
   * so replacing its package (a forced push) or its .prov leaves no older manifest live, untagged
   * and served by digest after the version's delete. Content another tag still covers stays.
   */
  replaces?: boolean;
}

/** Conditions a planned delete (retention) adds, checked in the delete's transaction. */
export interface DeleteOptions {
  /** A digest: refuse when a tag covers it now (tagged since the plan). */
  untagged?: boolean;
  /** A tag: refuse when it points at another digest now (pushed again since the plan). */
  pointingAt?: Digest;
  /**
   * A tag that is a classic chart version's: the version goes, its manifest with it, as a delete
   * through the chart APIs does (a classic version is one thing), unless anything else keeps the
   * manifest (another tag, an index); then only the tag goes, as for any other tag.
   */
  version?: boolean;
  /**
   * Refuse when the tag, or the manifest by digest, was pushed since the plan read this push time
   * (its push time is later now): a push of the same bytes names the same digest and is still a
   * push, which the plan's age, grace or keep-newest order did not count.
   */
  pushedAsOf?: Date;
}

/** A push prepared outside its transaction (ManifestService.push). */
interface Push {
  repository: RepositoryName;
  digest: Digest;
  body: Buffer;
  parsed: ParsedManifest;
  tags: Tag[];
  chart: Awaited<ReturnType<ChartIndex["chartOf"]>>;
  provenance: Awaited<ReturnType<ProvenanceIndexer["prepare"]>> | null;
}

export interface PushedManifest {
  digest: Digest;
  subject: Digest | null;
  tags: Tag[];
  /** The chart version the push recorded, if it made one (chart-version.ts). */
  chart: ChartRecord | null;
}

export class ManifestService {
  private readonly metadata: MetadataStore;
  private readonly options: ManifestServiceOptions;
  private readonly refusals: RefusalLog;

  constructor(metadata: MetadataStore, options: ManifestServiceOptions) {
    this.metadata = metadata;
    this.options = options;
    this.refusals = options.refusals ?? new RefusalLog(metadata);
  }

  private get restorableFor(): number {
    return this.options.restorableFor ?? 0;
  }

  async put(repository: RepositoryName, reference: Reference, body: Buffer, contentType: string | undefined, options: PutOptions = {}): Promise<PushedManifest> {
    const { extraTags = [], storedAs = "oci" } = options;
    const parsed = parseManifest(body, contentType);
    const digest = digestBytes(body, reference.kind === "digest" ? algorithmOf(reference.digest) : "sha256");
    if (reference.kind === "digest" && reference.digest !== digest) {
      throw new RegistryError("DIGEST_INVALID", "the manifest does not match the digest in the URL", { expected: reference.digest, actual: digest });
    }
    const tags = [...new Set([...(reference.kind === "tag" ? [reference.tag] : []), ...extraTags])];
    const charts = this.options.charts;
    const chart = charts ? await charts.chartOf({ repository, manifestDigest: digest, parsed, storedAs, tags }, options.chartConfig) : null;
    const provenance = this.options.provenance ? await this.options.provenance.prepare(repository, digest, parsed, body) : null;
    const hidden = new Set<Digest>();
    if (options.mayReference) for (const d of [...parsed.blobs, ...parsed.children]) if (!(await options.mayReference(d))) hidden.add(d);
    if (hidden.size > 0) throw new RegistryError("MANIFEST_BLOB_UNKNOWN", "the manifest references blobs or manifests this repository does not hold; push them first", { missing: [...hidden].slice(0, 20) });
    const recorded = await this.push({ repository, digest, body, parsed, tags, chart, provenance }, options);
    return { digest, subject: parsed.subject, tags, chart: recorded };
  }

  /** put()'s transaction, for what it read and prepared before. */
  private async push(push: Push, options: PutOptions): Promise<ChartRecord | null> {
    const { repository, digest, body, parsed, tags, chart, provenance } = push;
    const charts = this.options.charts;
    return this.refusals.watch(this.metadata.transaction(async (tx) => {
      // The blobs' locks, first and in one order, so no two pushes wait on each other in a cycle
      // (alsoStore's commits of some of these blobs take them again, as already held): gc's
      // re-check of a blob then sees this manifest's references, or this check sees gc's delete.
      for (const blob of [...new Set(parsed.blobs)].sort()) await tx.blobs.hold(blob);
      // Then its tags' and the manifests' (locks.ts): its own, so a delete of it decides on what
      // this push commits or this push writes after the delete (never a tag left naming a deleted
      // manifest); what it names (children, subject), so their delete waits too; and what a
      // replacing push deletes, its tags' targets, which no other push or delete moves now.
      await tx.tags.hold(repository, tags);
      const replacing: Digest[] = [];
      if (options.replaces) {
        for (const tag of tags) {
          const target = await tx.tags.resolve(repository, tag);
          if (target !== null && target !== digest) replacing.push(target);
        }
      }
      await tx.manifests.hold(repository, [digest, ...parsed.children, ...(parsed.subject ? [parsed.subject] : []), ...replacing]);
      await options.alongside?.(tx);
      await options.alsoStore?.(tx);
      const missing: Digest[] = [];
      for (const blob of parsed.blobs) {
        if (!(await tx.blobLinks.isLinked(repository, blob))) missing.push(blob);
      }
      const childSizes = new Map<Digest, number>();
      for (const child of parsed.children) {
        const summary = await tx.manifests.summary(repository, child);
        if (summary) childSizes.set(child, summary.size);
        else missing.push(child);
      }
      const configMissing = parsed.blobs[0] !== undefined && missing.includes(parsed.blobs[0]) && parsed.children.length === 0;
      if (missing.length > 0 && (!this.options.allowSparse || configMissing)) {
        throw new RegistryError("MANIFEST_BLOB_UNKNOWN", "the manifest references blobs or manifests this repository does not hold; push them first", { missing: missing.slice(0, 20) });
      }
      await checkSizes(tx, parsed, missing, childSizes);
      // The manifest's own bytes count in its quotas; its blobs are linked already (pushed or
      // mounted, each admitted then), so only what is new to a scope counts (quotas.ts).
      await admitToQuotas(tx, repository, [{ digest, size: body.length }], tags[0] ?? digest);
      const record: ManifestRecord = {
        repository,
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        body,
        subject: parsed.subject,
        artifactType: parsed.artifactType,
        annotations: parsed.annotations,
        pushedAt: new Date(),
      };
      await tx.repositories.ensure(repository);
      // Sparse manifests record only what is here, so every recorded reference must resolve.
      const present = (d: Digest) => !missing.includes(d);
      await tx.manifests.put(record, { blobs: parsed.blobs.filter(present), children: parsed.children.filter(present) });
      await tx.changes.append({ kind: "manifest.pushed", repository, digest, mediaType: parsed.mediaType, size: body.length, tag: tags[0] ?? null, artifactType: parsed.artifactType, subject: parsed.subject, ...(options.restored && { restored: true }) });
      const replaced: { digest: Digest; tag: Tag; storedAs: StoredAs }[] = [];
      await tx.tags.lockRows(repository, tags);
      for (const tag of tags) {
        const previous = await tx.tags.set(repository, tag, digest);
        // Moving an immutable tag is refused; the whole push rolls back with it.
        if (previous !== null && previous !== digest) {
          options.onTagMove?.(tag, previous);
          await refuseImmutable(tx, repository, [tag]);
        }
        await tx.changes.append({ kind: "tag.set", repository, tag, digest, previous });
        if (options.replaces && previous !== null && previous !== digest) {
          const own = await ownChartManifest(tx, chart, tag, previous);
          if (own) replaced.push({ digest: previous, tag, storedAs: own.storedAs });
        }
        // A tag moved off a chart version takes that version with it (unless this push records it anew).
        if (previous !== null && previous !== digest && !(chart && versionToTag(chart.version) === tag)) await charts?.forgetTag(tx, repository, tag, previous);
      }
      const recordedChart = chart ? await charts!.record(tx, chart, options.chartPrecondition) : null;
      if (provenance) await this.options.provenance!.record(tx, provenance);
      // After the version is recorded anew, so deleting what it held forgets no chart row.
      for (const r of replaced) await this.deleteReplaced(tx, repository, r, options.actor ?? null);
      return recordedChart;
    }, { actor: options.actor ?? null }), options.actor);
  }

  async get(repository: RepositoryName, reference: Reference): Promise<ManifestRecord> {
    const record = await this.metadata.manifests.get(repository, keyOf(reference));
    return record ?? this.unknown(repository, reference);
  }

  async head(repository: RepositoryName, reference: Reference): Promise<ManifestSummary> {
    const summary = await this.metadata.manifests.summary(repository, keyOf(reference));
    return summary ?? this.unknown(repository, reference);
  }

  /** Why a reference found nothing: the repository does not exist, or the manifest does not. */
  private async unknown(repository: RepositoryName, reference: Reference): Promise<never> {
    if (reference.kind === "tag" && !(await this.metadata.repositories.exists(repository))) {
      throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
    }
    throw manifestUnknown(reference);
  }

  /** A tag: removes only the tag. A digest: removes the manifest and every tag on it. */
  async delete(repository: RepositoryName, reference: Reference, actor: ChangeActor | null = null, options: DeleteOptions = {}): Promise<void> {
    await this.refusals.watch(this.metadata.transaction((tx) => this.deleteLocked(tx, repository, reference, actor, options), { actor }), actor);
  }

  /** delete()'s transaction. */
  private async deleteLocked(tx: MetadataParts, repository: RepositoryName, reference: Reference, actor: ChangeActor | null, options: DeleteOptions): Promise<void> {
    // The locks a push of the same tag or manifest takes (locks.ts), before anything is read: the
    // delete decides on what such a push committed, or the push writes after the delete did. Under
    // the tag's lock no push moves the tag, so what it names is the manifest to lock.
    if (reference.kind === "tag") {
      await tx.tags.hold(repository, [reference.tag]);
      const target = await tx.tags.resolve(repository, reference.tag);
      await tx.manifests.hold(repository, target === null ? [] : [target]);
    } else await tx.manifests.hold(repository, [reference.digest]);
    // The caller was authorized against attributes cached in memory; a lock set since (here, or
    // through another process whose change has not arrived yet) must still stop the delete.
    const covering = await refuseDelete(tx, repository, reference);
    if (options.untagged && covering.length > 0) {
      throw new RegistryError("DENIED", `${repository}@${reference.kind === "digest" ? reference.digest : reference.tag} is tagged again (${covering.slice(0, 3).join(", ")})`, { repository, tags: covering.slice(0, 20) });
    }
    if (reference.kind === "tag") {
      // Read again: a delete of its manifest (by digest) may have taken it while this waited for that lock.
      const held = await tx.tags.pushed(repository, reference.tag);
      if (held === null) throw manifestUnknown(reference);
      const had = held.digest;
      if (options.pointingAt !== undefined && had !== options.pointingAt) {
        throw new RegistryError("DENIED", `${repository}:${reference.tag} was pushed again since it was planned to go (now ${had})`, { repository, tag: reference.tag, digest: had });
      }
      if (options.pushedAsOf !== undefined && held.at > options.pushedAsOf) throw pushedSince(repository, reference.tag, held.at);
      if (options.version && (await classicVersionAlone(tx, repository, reference.tag, had))) {
        await refuseDelete(tx, repository, { kind: "digest", digest: had });
        await this.deleteDigest(tx, repository, had, actor);
        return;
      }
      await keepDeleted(tx, this.restorableFor, { repository, digest: had, kind: "tag", tags: [reference.tag] }, actor);
      if (!(await tx.tags.delete(repository, reference.tag))) throw manifestUnknown(reference);
      await tx.changes.append({ kind: "tag.deleted", repository, tag: reference.tag, digest: had, ...described(await tx.manifests.summary(repository, had)) });
      await this.options.charts?.forgetTag(tx, repository, reference.tag, had);
      return;
    }
    if (options.pushedAsOf !== undefined) {
      const pushed = await tx.manifests.summary(repository, reference.digest);
      if (pushed !== null && pushed.pushedAt > options.pushedAsOf) throw pushedSince(repository, reference.digest, pushed.pushedAt);
    }
    if (!(await this.deleteDigest(tx, repository, reference.digest, actor))) throw manifestUnknown(reference);
  }

  /**
   * Why a delete would be refused now (a delete lock, a tag rule), or null: the checks delete()
   * makes in its transaction, read outside one (retention's dry run and plan).
   */
  async deleteRefusal(repository: RepositoryName, reference: Reference): Promise<string | null> {
    try {
      await refuseDelete(this.metadata, repository, reference);
      return null;
    } catch (err) {
      if (err instanceof RegistryError && err.code === "DENIED") return err.message;
      throw err;
    }
  }

  /** Every manifest of a repository and every tag on them, in one transaction. */
  async deleteRepository(repository: RepositoryName, actor: ChangeActor | null = null): Promise<{ manifests: number }> {
    return this.refusals.watch(this.metadata.transaction(async (tx) => {
      // Every push and delete of a manifest in it holds this lock shared (ManifestRows.hold): the
      // digests read next are all there are until this commits.
      await tx.repositories.hold(repository);
      const digests = await tx.catalog.manifestDigests(repository);
      if (digests.length === 0) throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
      // As delete() does: the caller was authorized against cached attributes; a lock set since on
      // the repository or on any of its tags (all of them go) refuses the whole delete, read here,
      // inside the transaction. Attribute rows are few (one per locked name), so all() is cheap.
      const locked = (await tx.attributes.all()).filter((row) => row.repository === repository && !row.attributes.deleteEnabled).map((row) => row.tag as Tag);
      const present: Tag[] = [];
      for (const tag of locked) if (tag !== "" && (await tx.tags.resolve(repository, tag)) !== null) present.push(tag);
      await refuseDeleteLocked(tx, repository, present);
      if ((await tx.tagRules.list()).length > 0) await refuseImmutable(tx, repository, await allTags(tx, repository));
      for (const digest of digests) await this.deleteDigest(tx, repository, digest, actor);
      return { manifests: digests.length };
    }, { actor }), actor);
  }

  /**
   * What a `replaces` push moved its tag off (PutOptions.replaces), unless another tag still covers
   * it or an index lists it. Kept restorable as the version it was: under the tag it had and the chart's way of storage,
   * so `restore <repository> <version> --force` brings the old package back.
   */
  private async deleteReplaced(tx: MetadataParts, repository: RepositoryName, replaced: { digest: Digest; tag: Tag; storedAs: StoredAs }, actor: ChangeActor | null): Promise<void> {
    if ((await tx.tags.covering(repository, replaced.digest)).length > 0) return;
    // An index that lists it (pushed by digest, so no tag covers it) would be left broken.
    if ((await tx.manifests.parents(repository, replaced.digest)).length > 0) return;
    try {
      await refuseDeleteLocked(tx, repository, [replaced.tag]);
    } catch (err) {
      if (!(err instanceof RegistryError) || err.code !== "DENIED") throw err;
      throw new RegistryError("DENIED", `${repository}:${replaced.tag} cannot be replaced: that deletes the content it holds (${replaced.digest}), and ${err.message}`, err.detail);
    }
    await this.deleteDigest(tx, repository, replaced.digest, actor, { tags: [replaced.tag], storedAs: replaced.storedAs });
  }

  /**
   * A manifest, its tags, and what was recorded about it; false when it was not there. `was`: what
   * the trash record holds when the tags that named it moved already (a replaced chart version).
   */
  private async deleteDigest(tx: MetadataParts, repository: RepositoryName, digest: Digest, actor: ChangeActor | null, was?: { tags: Tag[]; storedAs: StoredAs | null }): Promise<boolean> {
    if (this.restorableFor > 0) {
      // The tags pointing at it go with it, and come back with it.
      const tags: Tag[] = was ? was.tags : [];
      if (!was) for (const tag of await tx.tags.covering(repository, digest)) if ((await tx.tags.resolve(repository, tag)) === digest) tags.push(tag);
      await keepDeleted(tx, this.restorableFor, { repository, digest, kind: "manifest", tags, ...(was && { storedAs: was.storedAs }) }, actor);
    }
    const deleted = await tx.manifests.summary(repository, digest);
    if (!(await tx.manifests.delete(repository, digest))) return false;
    await tx.tags.deleteAllFor(repository, digest);
    await tx.changes.append({ kind: "manifest.deleted", repository, digest, ...described(deleted) });
    await this.options.charts?.forgetManifest(tx, repository, digest);
    await this.options.provenance?.forget(tx, repository, digest);
    return true;
  }

  /** Tags in byte order, at most page.limit + 1 so the caller knows whether more remain. */
  async tags(repository: RepositoryName, page: Page): Promise<Tag[]> {
    if (!(await this.metadata.repositories.exists(repository))) {
      throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
    }
    return this.metadata.tags.list(repository, page);
  }

  /** Repository names in byte order, at most page.limit. */
  repositories(page: Page): Promise<RepositoryName[]> {
    return this.metadata.repositories.list(page);
  }

  /** The referrers index of a subject (an empty one when nothing refers to it). */
  async referrers(repository: RepositoryName, subject: Digest, artifactType?: string): Promise<{ body: Buffer; filtered: boolean }> {
    let found = await this.metadata.manifests.referrers(repository, subject);
    if (artifactType !== undefined) found = found.filter((m) => m.artifactType === artifactType);
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: found.map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      })),
    };
    return { body: Buffer.from(JSON.stringify(index)), filtered: artifactType !== undefined };
  }

  private async resolve(repository: RepositoryName, reference: Reference): Promise<Digest> {
    if (reference.kind === "digest") return reference.digest;
    const digest = await this.metadata.tags.resolve(repository, reference.tag);
    if (digest) return digest;
    if (!(await this.metadata.repositories.exists(repository))) {
      throw new RegistryError("NAME_UNKNOWN", "repository name not known to registry", { name: repository });
    }
    throw manifestUnknown(reference);
  }
}

/**
 * A descriptor's size must be the size of what it names: clients read exactly `size` bytes and
 * check the digest, so a manifest that lies is refused here rather than failing every pull.
 * What is missing (a sparse manifest, a foreign layer) has nothing to compare.
 */
async function checkSizes(tx: MetadataParts, parsed: ParsedManifest, missing: readonly Digest[], childSizes: ReadonlyMap<Digest, number>): Promise<void> {
  const held = new Set(parsed.blobs.filter((d) => !missing.includes(d)));
  const found: { descriptor: DescriptorSummary; size: number | null }[] = [];
  for (const descriptor of [...(parsed.config ? [parsed.config] : []), ...parsed.layers]) {
    if (held.has(descriptor.digest)) found.push({ descriptor, size: await tx.blobs.size(descriptor.digest) });
  }
  for (const descriptor of parsed.manifests) found.push({ descriptor, size: childSizes.get(descriptor.digest) ?? null });
  for (const { descriptor: d, size } of found) {
    if (size !== null && size !== d.size) {
      throw new RegistryError("MANIFEST_INVALID", `descriptor ${d.digest} declares ${d.size} bytes, but what it names has ${size}`, { digest: d.digest, declared: d.size, stored: size });
    }
  }
}

/** The delete's refusals (locks, then tag rules); returns the tags the delete removes or breaks. */
async function refuseDelete(tx: MetadataParts, repository: RepositoryName, reference: Reference): Promise<Tag[]> {
  const covering = reference.kind === "tag" ? [reference.tag] : await tx.tags.covering(repository, reference.digest);
  await refuseDeleteLocked(tx, repository, covering);
  // An immutable tag is never deleted, nor is content one names (an index child included).
  await refuseImmutable(tx, repository, covering);
  return reference.kind === "tag" ? [] : covering;
}

async function allTags(tx: MetadataParts, repository: RepositoryName): Promise<Tag[]> {
  const tags: Tag[] = [];
  for (let page = await tx.tags.list(repository, { limit: 1000 }); page.length > 0; page = await tx.tags.list(repository, { limit: 1000, after: page.at(-1)! })) tags.push(...page);
  return tags;
}

/**
 * The chart row whose manifest a `replaces` push moved the version tag off, when that manifest is
 * the version's own: the Helm chart manifest recorded for this chart name and version. Anything
 * else the tag named (an image tagged `1.0.0`, another chart's manifest) is left untagged, as any
 * tag move leaves it: a push never deletes what only a delete may (attack s7, finding 1).
 */
async function ownChartManifest(tx: MetadataParts, chart: ChartRecord | null, tag: Tag, digest: Digest): Promise<ChartRecord | null> {
  if (!chart || versionToTag(chart.version) !== tag) return null;
  const row = await tx.charts.get(chart.repository, chart.version);
  return row && row.manifestDigest === digest && row.name === chart.name && versionToTag(row.version) === tag ? row : null;
}

/** Whether the tag is a classic chart version's and names its manifest, which nothing else keeps. */
async function classicVersionAlone(tx: MetadataParts, repository: RepositoryName, tag: Tag, digest: Digest): Promise<boolean> {
  const row = await tx.charts.get(repository, tagToVersion(tag));
  if (!row || row.storedAs !== "classic" || row.manifestDigest !== digest || versionToTag(row.version) !== tag) return false;
  const covering = await tx.tags.covering(repository, digest);
  return covering.length === 1 && covering[0] === tag && (await tx.manifests.parents(repository, digest)).length === 0;
}

function keyOf(reference: Reference): Digest | { tag: Tag } {
  return reference.kind === "digest" ? reference.digest : { tag: reference.tag };
}

function manifestUnknown(reference: Reference): RegistryError {
  return new RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry", reference.kind === "tag" ? { tag: reference.tag } : { digest: reference.digest });
}

/** A planned delete (DeleteOptions.pushedAsOf) of something pushed again since the plan: it stays. */
function pushedSince(repository: RepositoryName, target: Tag | Digest, at: Date): RegistryError {
  const name = isDigest(target) ? `${repository}@${target}` : `${repository}:${target}`;
  return new RegistryError("DENIED", `${name} was pushed again (${at.toISOString()}) since it was planned to go`, { repository, pushed: at.toISOString() });
}

/** What a delete's change entry says of the manifest, for its event (ACR's delete payload has the media type). */
function described(manifest: ManifestSummary | null): { mediaType?: string; size?: number } {
  return manifest ? { mediaType: manifest.mediaType, size: manifest.size } : {};
}

// The metadata store: names, tags, manifests, blob links, uploads, users. The single source of
// truth; blobs/ holds only bytes. Split by noun so each part stays small; every change that
// touches two nouns runs in one transaction.
import type { ChartMetadata } from "../domain/chart.ts";
import type { CatalogRows, SearchRows } from "./catalog-types.ts";
import type { Change, ChangeActor, ChangeEntry, ChangeKind } from "../domain/changes.ts";
import type { ChangeSelector } from "../domain/events.ts";
import type { WebhookRows } from "./webhook-types.ts";
import type { AttributeRows, AuditRows, PrincipalRows, ScopeMapRows, SecretRows, SessionRows, SignInFailureRows, SigningKeyRows } from "./identity-types.ts";
import type { MetadataValueRows, ProvenanceRows } from "./provenance-types.ts";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import type { TagRule } from "../domain/tag-rules.ts";
import type { Quota } from "../domain/quotas.ts";
import type { RepositoryInventory, RetentionPolicy } from "../domain/retention.ts";

export interface Page {
  /** Return at most this many. */
  limit: number;
  /** Start strictly after this value. */
  after?: string;
}

export interface ManifestRecord {
  repository: RepositoryName;
  digest: Digest;
  mediaType: string;
  size: number;
  body: Buffer;
  subject: Digest | null;
  artifactType: string | null;
  annotations: Record<string, string> | null;
  /**
   * The last push of these bytes into the repository, by any route (OCI by tag or digest, helm,
   * classic, a restore): a push of a manifest already stored is a push like the first, for
   * retention's age and grace, the repository's last push and the catalog's "pushed" alike. The
   * first push is in the change log (`manifest.pushed`), which records every one.
   */
  pushedAt: Date;
}

export type ManifestSummary = Omit<ManifestRecord, "body">;

export interface UploadRecord {
  id: string;
  repository: RepositoryName;
  offset: number;
  algorithm: string;
  startedAt: Date;
  updatedAt: Date;
  /** The blob driver's record of the parts written (blobs/blob-driver.ts UploadHandle); null before the first. */
  handle: string | null;
  /**
   * The request writing to the upload now, in whichever process, and until when it may (by the
   * database's clock; `leftMs`: how long that is from the read, negative once run out); null when none.
   */
  lease: { owner: string; until: Date; leftMs?: number } | null;
  /** The blob store's name for the last part the row records (blobs/blob-store.ts): null before the first. */
  writer?: string | null;
  /** The digest the bytes were verified as just before they were moved to its path; null before. */
  verified?: Digest | null;
}

export interface RepositoryRows {
  ensure(name: RepositoryName): Promise<void>;
  exists(name: RepositoryName): Promise<boolean>;
  list(page: Page): Promise<RepositoryName[]>;
  /**
   * The repository's lock, exclusive, until the transaction ends (locks.ts): a whole repository's
   * delete waits for every push and delete of a manifest in it (ManifestRows.hold) to commit.
   */
  hold(name: RepositoryName): Promise<void>;
}

export interface BlobRows {
  /**
   * Records that verified bytes exist under this digest: under the digest's key (blob-store.ts
   * blobKey), or under `objectKey` (an upload's committed object on S3 and Azure, published where
   * it was written: migration 032). A row already there is kept as it is.
   */
  record(digest: Digest, size: number, objectKey?: string): Promise<void>;
  size(digest: Digest): Promise<number | null>;
  /** The key the row says holds the blob's bytes: `undefined` without a row, null for the digest's own key. */
  objectKey(digest: Digest): Promise<string | null | undefined>;
  /** Makes the row name another object (its own was lost: a push brought the bytes again); under hold(). */
  relocate(digest: Digest, objectKey: string | null): Promise<void>;
  /** Whether some row names `objectKey` as where its bytes live (gc: then it is no stray). */
  names(objectKey: string): Promise<boolean>;
  /** When the row was first recorded (by the recording process's clock), or null without a row. */
  recordedAt(digest: Digest): Promise<Date | null>;
  forget(digest: Digest): Promise<void>;
  /** Whether a repository links the blob or a manifest references it. */
  isReferenced(digest: Digest): Promise<boolean>;
  /**
   * Until the transaction ends, this transaction alone decides about the digest's row, links and
   * file: commitBlob (record, link, publish), gc (re-check, delete) and a manifest's check of the
   * blobs it references take it first, so gc never deletes what a push is linking (locks.ts).
   * Only inside a transaction.
   */
  hold(digest: Digest): Promise<void>;
  /**
   * Blobs gc may collect: recorded before `before`, referenced by no manifest, and linked by no
   * repository since `before` (older links without a manifest are pruned in the same run).
   */
  collectable(before: Date, page: Page): Promise<Digest[]>;
  all(): AsyncIterable<{ digest: Digest; size: number }>;
}

export interface BlobLinkRows {
  link(repository: RepositoryName, digest: Digest): Promise<void>;
  isLinked(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /**
   * isLinked for a client's HEAD or GET: a link last written before `staleBefore` is written again
   * now (never back), as a push or mount would. A client told a blob is there skips its upload,
   * and gc's grace (counted from the link's time) must then cover the manifest that follows. A
   * link written since `staleBefore` is only read: no write on the hot path. Null: never written
   * (gc has no grace).
   */
  seen(repository: RepositoryName, digest: Digest, staleBefore: Date | null): Promise<boolean>;
  /**
   * seen(), reading in the same query where the blob's bytes are (a store that publishes in place,
   * S3 and Azure: BlobStore.keyOf), so a HEAD or GET asks the database once. Null: not linked;
   * else `objectKey` as BlobRows.objectKey answers it.
   */
  seenWithKey(repository: RepositoryName, digest: Digest, staleBefore: Date | null): Promise<{ objectKey: string | null | undefined } | null>;
  unlink(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /** Repositories that link the digest (at most `limit`), in name order. */
  linking(digest: Digest, limit: number): Promise<RepositoryName[]>;
  /** Drops links older than `before` that no manifest of their repository references. */
  pruneUnreferenced(before: Date): Promise<number>;
  all(): AsyncIterable<{ repository: RepositoryName; digest: Digest }>;
}

export interface ManifestRows {
  put(record: ManifestRecord, references: { blobs: Digest[]; children: Digest[] }): Promise<void>;
  /** By digest, or by the tag pointing at it (one query instead of two: GET by tag is the hot path). */
  get(repository: RepositoryName, at: Digest | { tag: Tag }): Promise<ManifestRecord | null>;
  summary(repository: RepositoryName, at: Digest | { tag: Tag }): Promise<ManifestSummary | null>;
  delete(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /**
   * The repository's lock shared, then each digest's lock (sorted), until the transaction ends
   * (locks.ts): a push of a manifest and its delete run one after the other, so the second
   * reads what the first committed, as SQLite's single writer gives.
   */
  hold(repository: RepositoryName, digests: readonly Digest[]): Promise<void>;
  referrers(repository: RepositoryName, subject: Digest): Promise<ManifestSummary[]>;
  /** The manifests (indexes) of the repository that list the digest as a child, tagged or not. */
  parents(repository: RepositoryName, child: Digest): Promise<Digest[]>;
  /** Every manifest with the references recorded for it: blobs (config, layers) and child manifests. */
  all(): AsyncIterable<{ repository: RepositoryName; digest: Digest; body: Buffer; references: ManifestReference[] }>;
}

export interface ManifestReference {
  target: Digest;
  kind: "blob" | "manifest";
}

export interface TagRows {
  /** Points the tag at a digest; returns the previous target. */
  set(repository: RepositoryName, tag: Tag, to: Digest): Promise<Digest | null>;
  resolve(repository: RepositoryName, tag: Tag): Promise<Digest | null>;
  /** What the tag names and its last push (moved by every push of it, never back), or null. */
  pushed(repository: RepositoryName, tag: Tag): Promise<{ digest: Digest; at: Date } | null>;
  /**
   * The repository's lock shared, then each tag's lock (sorted), until the transaction ends
   * (locks.ts): every push of a tag and every delete by tag takes it before it reads the tag, so
   * what the tag names stays put until the holder commits; taken before ManifestRows.hold.
   */
  hold(repository: RepositoryName, tags: readonly Tag[]): Promise<void>;
  /**
   * The rows of those tags that exist, locked in the tags' order until the transaction ends: a
   * push takes them before it moves any, as deleteAllFor takes the rows it deletes, so two writers
   * of several tag rows never wait on each other in a cycle (locks.ts). After ManifestRows.hold.
   */
  lockRows(repository: RepositoryName, tags: readonly Tag[]): Promise<void>;
  list(repository: RepositoryName, page: Page): Promise<Tag[]>;
  delete(repository: RepositoryName, tag: Tag): Promise<boolean>;
  /** Every tag naming the digest, its rows locked first in the tags' order (see lockRows). */
  deleteAllFor(repository: RepositoryName, digest: Digest): Promise<number>;
  /**
   * The tags whose content includes the digest: tags pointing at it, at a manifest or index
   * that references it at any depth, or at the subject of a referrer that does.
   */
  covering(repository: RepositoryName, digest: Digest): Promise<Tag[]>;
}

export interface UploadRows {
  create(upload: UploadRecord): Promise<void>;
  get(id: string): Promise<UploadRecord | null>;
  /**
   * Moves the offset (and saves the driver's handle for it) only if it is still `from`; false
   * when another request got there first. With `release`, only while that owner holds the lease,
   * which it then frees: one write at the end of a chunk.
   */
  advance(id: string, from: number, to: number, options?: { handle?: string | null; writer?: string | null; release?: string }): Promise<boolean>;
  /**
   * Takes (or renews) the writer's lease for `forMs` from now by the database's clock when no other
   * owner holds one that is still live by that clock, and answers the upload as the owner now
   * holds it; null while another owner holds it, or when the upload is gone (or, with
   * `repository`, belongs to another). Never judged by
   * anything but time: a holder that lives renews its lease. Need not be durable: a lease lost in
   * a power cut lost its holder too.
   */
  lease(id: string, owner: string, forMs: number, options?: { repository?: string }): Promise<UploadRecord | null>;
  /** Records, while `owner` holds the lease, that the upload's bytes verified as `digest` (before they are moved there). */
  markVerified(id: string, owner: string, digest: Digest): Promise<boolean>;
  /** The `writer` of each of these uploads that still exists. */
  writers(ids: string[]): Promise<Map<string, string | null>>;
  /** Frees the owner's lease, if it still holds it. */
  /** Frees the lease; `failed`: the request failed, and the row's writer is forgotten too (a part of it may still land in the store). */
  release(id: string, owner: string, options?: { failed?: boolean }): Promise<void>;
  delete(id: string): Promise<boolean>;
  /** Uploads not updated since `before` whose lease (if any) has run out by the store's clock. */
  idleSince(before: Date, limit: number): Promise<UploadRecord[]>;
  /** Deletes the upload only if it is still idle since `before` and unleased; false otherwise. */
  expire(id: string, before: Date): Promise<boolean>;
}

/**
 * Keys gc found in blob storage with no row naming them (services/gc.ts): what a crash left.
 * Times are the caller's `at`, recorded here, so whether a stray is old is decided by the
 * database's record, not by the storage's clock.
 */
export interface StrayRows {
  /**
   * Records a sighting of `key` holding `size` bytes at `at`; returns when it was first seen
   * holding that size (a key seen with another size starts again: bytes are still arriving).
   */
  sight(key: string, size: number, at: Date): Promise<Date>;
  /** When `key` was first seen holding `size` bytes, without recording anything; null if never. */
  seen(key: string, size: number): Promise<Date | null>;
  forget(key: string): Promise<void>;
  /** Forgets sightings not renewed since `before` (the key went away, or a row names it now). */
  prune(before: Date): Promise<number>;
}

export type StoredAs = "classic" | "oci" | "both";

/** A chart version, however it was pushed: an OCI chart manifest in `repository`, tag = version. */
export interface ChartRecord {
  repository: RepositoryName;
  version: string;
  /** The repository without its last component ("" for a top-level repository). */
  namespace: string;
  name: string;
  /** `<name>-<version>.tgz`, the name Helm signs and downloads under. */
  fileName: string;
  manifestDigest: Digest;
  chartDigest: Digest;
  chartSize: number;
  provDigest: Digest | null;
  metadata: ChartMetadata;
  /** What the chart says (Helm's `created`): the pusher's word. */
  created: Date;
  storedAs: StoredAs;
  /** When Berth first recorded this version, by its own clock; an overwrite keeps it. */
  published: Date;
}

export interface ChartRows {
  /** Records or replaces the chart version (repository, version). */
  record(chart: ChartRecord): Promise<void>;
  get(repository: RepositoryName, version: string): Promise<ChartRecord | null>;
  /** Forgets the versions a manifest carried; returns them. */
  forgetManifest(repository: RepositoryName, manifestDigest: Digest): Promise<ChartRecord[]>;
  /** Versions whose package file has this name in this namespace, by repository. */
  byFile(namespace: string, fileName: string): Promise<ChartRecord[]>;
  all(): Promise<ChartRecord[]>;
  /** Every version of the charts in one repository. */
  inRepository(repository: RepositoryName): Promise<ChartRecord[]>;
}

/** The change log (domain/changes.ts): appended inside the transaction that made the change. */
/** Which entries ChangeRows.events reads: those of any of the sources, of the repository when one is named. */
export interface ChangeFilter {
  sources: readonly ChangeSelector[];
  repository?: string;
}

export interface ChangeRows {
  append(change: Change): Promise<void>;
  /** Entries after the cursor, oldest first, at most `limit`. */
  since(cursor: number, limit: number): Promise<ChangeEntry[]>;
  /**
   * The entries of the filter's sources (and repository), after `after` oldest first or before
   * `before` newest first (from the newest when null), at most `limit`: the event stream of some
   * actions (domain/events.ts sourcesOf), whole pages however rare they are in the log.
   */
  events(filter: ChangeFilter, from: { after: number } | { before: number | null }, limit: number): Promise<ChangeEntry[]>;
  /** The entries of these ids still in the log (a pruned one is missing), in id order: the events a webhook's batch sends. */
  entries(ids: readonly number[]): Promise<ChangeEntry[]>;
  /** The newest entry's id (0 for an empty log); with kinds, the newest of those kinds. */
  latest(kinds?: readonly ChangeKind[]): Promise<number>;
  /**
   * For consumers that must each process every change once (webhooks): takes the consumer's lease
   * when it is free, expired or already `owner`'s, and returns the entries after its cursor; []
   * while another owner holds it. A new consumer starts at the end of the log.
   */
  claim(consumer: string, owner: string, limit: number, leaseMs: number): Promise<ChangeEntry[]>;
  /** Moves the cursor to `through` and frees the lease, if `owner` still holds it. */
  ack(consumer: string, owner: string, through: number): Promise<boolean>;
  /** Frees the lease without moving the cursor (a claim that found nothing new), if `owner` still holds it. */
  release(consumer: string, owner: string): Promise<void>;
  /** Drops entries older than `before` that every consumer has acknowledged; returns how many. */
  prune(before: Date): Promise<number>;
}

/**
 * Background work that one instance at a time does (the idle-upload purge, retention): a lease per
 * job, by the database's clock. The holder renews it each time it runs; when it is gone, the
 * lease runs out and another instance takes the job.
 */
export interface JobRows {
  /** Takes or renews the job's lease for `forMs` when it is free, run out or already `owner`'s; whether `owner` holds it now. */
  claim(job: string, owner: string, forMs: number): Promise<boolean>;
  /** Gives the lease up, if `owner` holds it (a stopping instance, so another need not wait). */
  release(job: string, owner: string): Promise<void>;
}

/** Tag immutability rules (domain/tag-rules.ts). */
export interface TagRuleRows {
  /** Every rule, oldest first. */
  list(): Promise<TagRule[]>;
  add(rule: TagRule): Promise<void>;
  /** False when no rule has the id. */
  remove(id: string): Promise<boolean>;
}

/**
 * What a delete kept restorable (soft delete, migrations 021 and 022; services/trash.ts), as lists
 * show it: everything but the manifest's bytes, which only a restore reads (TrashRows.body).
 */
export interface TrashEntry {
  id: string;
  repository: RepositoryName;
  digest: Digest;
  /** manifest: the manifest itself was deleted; tag: only tags were. */
  kind: "manifest" | "tag";
  /** The tags deleted with it. */
  tags: Tag[];
  mediaType: string;
  artifactType: string | null;
  /** The manifest's length in bytes. */
  size: number;
  /** A chart version's way of storage, or null for anything else. */
  storedAs: StoredAs | null;
  deletedAt: Date;
  expiresAt: Date;
  deletedBy: ChangeActor | null;
}

/** A record as a delete keeps it: with the manifest's exact bytes, as pushed (`size` is their length). */
export interface TrashRecord extends TrashEntry {
  body: Buffer;
}

/** Where a page of a repository's records goes on: after this record (newest first: deletedAt, then id). */
export interface TrashCursor {
  deletedAt: Date;
  id: string;
}

/**
 * Soft delete's records. gc counts the blobs a record names as referenced (their files stay)
 * until it is forgotten, but not their links: the repository links them only while a live
 * manifest needs them, and a restore links them again (`unlinked`). 11 methods, past the six
 * or so a part keeps to: each is one question the trash is asked, and splitting the noun would
 * spread one table's rules over two files.
 */
export interface TrashRows {
  /** Keeps a record with the blobs its manifest names (in the delete's transaction). */
  put(record: TrashRecord, blobs: readonly Digest[]): Promise<void>;
  /**
   * A repository's records still restorable at `now`, newest first, without their bytes: a page
   * of at most `limit` after `after`; only those of a digest, or those holding a tag, if `reference` says.
   */
  list(repository: RepositoryName, now: Date, options: { limit: number; after?: TrashCursor; reference?: { digest: Digest } | { tag: Tag } }): Promise<TrashEntry[]>;
  /** A record's manifest bytes (null: the record is gone). */
  body(id: string): Promise<Buffer | null>;
  /** The blobs a record names that are stored (a row) but no longer linked in its repository (gc unlinked them): a restore links them again. */
  unlinked(id: string): Promise<{ digest: Digest; size: number }[]>;
  /** After a restore: the record's new kind and the tags it still holds (none: the record goes). */
  update(id: string, kind: TrashRecord["kind"], tags: readonly Tag[]): Promise<void>;
  /**
   * The records' rows still there, locked until the transaction ends (PostgreSQL), several in id
   * order: every writer of a record's rows (refs, body) takes them first (locks.ts).
   */
  hold(ids: readonly string[]): Promise<string[]>;
  /** Forgets records now, with their references (an early purge), held first; those it forgot (the rest went meanwhile). */
  forget(ids: readonly string[]): Promise<string[]>;
  /** A blob deleted from a repository on its own is no longer kept for that repository's records; whether any record named it. */
  forgetBlob(repository: RepositoryName, digest: Digest): Promise<boolean>;
  /**
   * Shortens the window of records kept longer than `seconds` after their delete to that
   * (deletion.restorableFor lowered, or 0: soft delete switched off); how many changed. In a
   * transaction: it holds the records' rows as every writer of them does (hold).
   */
  limitWindow(seconds: number): Promise<number>;
  /** Forgets records expired at `now` and their references; how many went. */
  purgeExpired(now: Date): Promise<number>;
  /** How many records have expired at `now` (what a purge would forget: gc's dry run). */
  countExpired(now: Date): Promise<number>;
  /** Every (repository, blob) a record names, expired or not (fsck checks those bytes too). */
  references(): AsyncIterable<{ repository: RepositoryName; digest: Digest }>;
}

/** Storage quotas (domain/quotas.ts) and what their scopes hold, counted when asked (quota-store.ts). */
/** What a quota's scope holds: `used` in all, `restorable` the part of it only soft-deleted content keeps. */
export interface QuotaCount {
  used: number;
  restorable: number;
}

export interface QuotaRows {
  /** Every quota, in scope order. */
  list(): Promise<Quota[]>;
  /** Creates the scope's quota or changes its limit. */
  set(quota: Quota): Promise<void>;
  /** False when no quota has the scope. */
  remove(scope: string): Promise<boolean>;
  /**
   * Until the transaction ends, this transaction alone counts and adds to the scope: two pushes
   * cannot both read a usage that leaves room for only one of them (locks.ts). Only inside a transaction.
   */
  hold(scope: string): Promise<void>;
  /**
   * Bytes the scope holds: each distinct blob linked and manifest stored in its repositories, and
   * each deleted manifest and blob a soft delete record of them keeps (until purged), once.
   */
  usage(scope: string): Promise<number>;
  /** usage(scope), with the part of it only soft delete's records keep (restorable). */
  count(scope: string): Promise<QuotaCount>;
  /** Bytes staged by the open uploads of the scope's repositories (their offsets). */
  staged(scope: string): Promise<number>;
  /**
   * A quick upper bound of usage(scope), or null when there is none quicker than the count: for
   * the whole registry, the sum over every blob and manifest row (one pass each, no distinct).
   */
  ceiling(scope: string): Promise<number | null>;
  /** Whether a repository of the scope links the blob, stores the manifest or keeps either in a deleted manifest's record (then it adds nothing). */
  holds(scope: string, digest: Digest): Promise<boolean>;
}

/** Retention policies (domain/retention.ts), and what the planner reads of a repository. */
export interface RetentionRows {
  /** Every policy, oldest first. */
  list(): Promise<RetentionPolicy[]>;
  add(policy: RetentionPolicy): Promise<void>;
  /** False when no policy has the id. */
  remove(id: string): Promise<boolean>;
  /** A repository's manifests (push time, subject, child manifests) and tags (last push), in one read. */
  inventory(repository: RepositoryName): Promise<RepositoryInventory>;
}

export interface MetadataParts {
  repositories: RepositoryRows;
  blobs: BlobRows;
  blobLinks: BlobLinkRows;
  manifests: ManifestRows;
  tags: TagRows;
  uploads: UploadRows;
  strays: StrayRows;
  charts: ChartRows;
  principals: PrincipalRows;
  secrets: SecretRows;
  scopeMaps: ScopeMapRows;
  attributes: AttributeRows;
  audit: AuditRows;
  signingKeys: SigningKeyRows;
  sessions: SessionRows;
  signInFailures: SignInFailureRows;
  provenance: ProvenanceRows;
  metadataValues: MetadataValueRows;
  changes: ChangeRows;
  webhooks: WebhookRows;
  jobs: JobRows;
  tagRules: TagRuleRows;
  trash: TrashRows;
  quotas: QuotaRows;
  retention: RetentionRows;
  /** The portal's read models (catalog-types.ts). */
  catalog: CatalogRows;
  search: SearchRows;
}

export interface TransactionOptions {
  /** Who the transaction acts for: the change log records it with each entry (the event's actor). */
  actor?: ChangeActor | null;
}

export interface MetadataStore extends MetadataParts {
  /** Runs `work` in one transaction; when it appended changes, the commit listener runs before this resolves. */
  transaction<T>(work: (tx: MetadataParts) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Called after each commit that appended changes, before the writer's call returns, so the
   * writer's own process has caught up (read-your-writes) when its request answers.
   */
  onCommit(listener: () => Promise<void>): void;
  /**
   * Runs `work` unless another process runs work under the same name on this database (then
   * `ran` is false and nothing runs): one gc at a time across instances. Held for as long as
   * `work` runs, released when it ends or its process dies (locks.ts).
   */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  close(): Promise<void>;
}

// Provenance parts of the metadata store over Kysely (portable SQL, as kysely-store.ts).
import type { Kysely, Transaction } from "kysely";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import type {
  MetadataChange, MetadataTarget, MetadataValue, MetadataValueRows, ProvenanceFacts, ProvenanceRecord, ProvenanceRows, SignatureVerdict,
} from "./provenance-types.ts";
import { holdKeyLock } from "./locks.ts";
import { SearchIndex } from "./catalog-search.ts";
import type { Database } from "./schema.ts";
import { searchEntries } from "./search-entries.ts";

type Db = Kysely<Database> | Transaction<Database>;

export function toRecord(row: Database["provenance"]): ProvenanceRecord {
  return {
    repository: row.repository as RepositoryName,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    size: Number(row.size),
    subject: row.subject as Digest | null,
    facts: JSON.parse(row.facts) as ProvenanceFacts,
    recordedAt: new Date(Number(row.recorded_at)),
  };
}

export class Provenance implements ProvenanceRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async record(r: ProvenanceRecord) {
    const values = {
      repository: r.repository,
      digest: r.digest,
      kind: r.facts.kind,
      media_type: r.mediaType,
      artifact_type: r.artifactType,
      size: r.size,
      subject: r.subject,
      facts: JSON.stringify(r.facts),
      recorded_at: r.recordedAt.getTime(),
    };
    // The same bytes pushed again: the facts are the same unless a blob could not be read the first time.
    const { repository: _r, digest: _d, ...update } = values;
    await this.db.insertInto("provenance").values(values).onConflict((c) => c.columns(["repository", "digest"]).doUpdateSet(update)).execute();
    // The search index says what the facts say, in the same transaction (catalog-types.ts).
    await new SearchIndex(this.db).replace(r.repository, r.digest, await searchEntries(r, (d) => this.get(r.repository, d)));
  }
  async get(repository: RepositoryName, digest: Digest) {
    const row = await this.db.selectFrom("provenance").selectAll().where("repository", "=", repository).where("digest", "=", digest).executeTakeFirst();
    return row ? toRecord(row) : null;
  }
  async forget(repository: RepositoryName, digest: Digest) {
    await this.db.deleteFrom("provenance").where("repository", "=", repository).where("digest", "=", digest).execute();
    await this.db.deleteFrom("signature_verdicts").where("repository", "=", repository).where("digest", "=", digest).execute();
    await new SearchIndex(this.db).forget(repository, digest);
  }
  async setVerdict(repository: RepositoryName, digest: Digest, subject: Digest, verdict: SignatureVerdict) {
    const values = { repository, digest, subject, verified: verdict.verified ? 1 : 0, until: verdict.until, trust: verdict.trust };
    const { repository: _r, digest: _d, ...update } = values;
    await this.db.insertInto("signature_verdicts").values(values).onConflict((c) => c.columns(["repository", "digest"]).doUpdateSet(update)).execute();
  }
  async staleVerdicts(trust: string, after: { repository: string; digest: string } | null, limit: number) {
    let query = this.db
      .selectFrom("provenance as p")
      .leftJoin("signature_verdicts as v", (j) => j.onRef("v.repository", "=", "p.repository").onRef("v.digest", "=", "p.digest"))
      .selectAll("p")
      .where("p.kind", "=", "signature")
      .where("p.subject", "is not", null)
      .where((eb) => eb.or([eb("v.trust", "is", null), eb("v.trust", "<>", trust)]));
    if (after) query = query.where((eb) => eb.or([eb("p.repository", ">", after.repository), eb.and([eb("p.repository", "=", after.repository), eb("p.digest", ">", after.digest)])]));
    return (await query.orderBy("p.repository").orderBy("p.digest").limit(limit).execute()).map(toRecord);
  }
  async referring(repository: RepositoryName, subject: Digest) {
    // Sorted here, not by the query: asked for digest order, SQLite walks the primary key through
    // every row of the repository (recordVerdicts asks at each push) instead of the subject index.
    // Digests are ASCII, so code unit order is the byte order the database would give.
    const rows = await this.db.selectFrom("provenance").selectAll().where("repository", "=", repository).where("subject", "=", subject).execute();
    return rows.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)).map(toRecord);
  }
  async parents(repository: RepositoryName, digest: Digest) {
    const rows = await this.db
      .selectFrom("manifest_refs")
      .select("manifest_digest")
      .where("repository", "=", repository)
      .where("target_digest", "=", digest)
      .where("kind", "=", "manifest")
      .orderBy("manifest_digest")
      .execute();
    return rows.map((r) => r.manifest_digest as Digest);
  }
  async tagsOf(repository: RepositoryName, digest: Digest) {
    const rows = await this.db.selectFrom("tags").select("tag").where("repository", "=", repository).where("digest", "=", digest).orderBy("tag").execute();
    return rows.map((r) => r.tag);
  }
}

/** The repository itself is stored under digest "" (a primary key column cannot be null). */
const digestColumn = (target: MetadataTarget): string => target.digest ?? "";

export class MetadataValues implements MetadataValueRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async list(target: MetadataTarget) {
    const rows = await this.db
      .selectFrom("metadata_values")
      .selectAll()
      .where("repository", "=", target.repository)
      .where("digest", "=", digestColumn(target))
      .orderBy("key")
      .execute();
    return rows.map(toValue);
  }
  async get(target: MetadataTarget, key: string) {
    const row = await this.db
      .selectFrom("metadata_values")
      .selectAll()
      .where("repository", "=", target.repository)
      .where("digest", "=", digestColumn(target))
      .where("key", "=", key)
      .executeTakeFirst();
    return row ? toValue(row) : null;
  }
  async change(target: MetadataTarget, key: string, value: string | null, actor: string, at: Date): Promise<MetadataChange | null> {
    // Reads the current value and the last version, then writes the next: two changes of one key
    // must not both take the same version (the contract suite's concurrent-change case). So the
    // steps run in one transaction under the key's lock (locks.ts), which is also what
    // serialises them on PostgreSQL, where transactions run side by side.
    if (!this.db.isTransaction) return (this.db as Kysely<Database>).transaction().execute((trx) => new MetadataValues(trx).change(target, key, value, actor, at));
    const digest = digestColumn(target);
    await holdKeyLock(this.db, "metadata-value", target.repository, digest, key);
    const where = { repository: target.repository, digest, key };
    const current = await this.get(target, key);
    if ((current?.value ?? null) === value) return null;
    // Versions count per key and never repeat (a delete is a version too), so history rows stay unique.
    const last = await this.db
      .selectFrom("metadata_history")
      .select((eb) => eb.fn.max("version").as("version"))
      .where("repository", "=", target.repository)
      .where("digest", "=", digest)
      .where("key", "=", key)
      .executeTakeFirst();
    const version = Number(last?.version ?? 0) + 1;
    if (value === null) {
      await this.db.deleteFrom("metadata_values").where("repository", "=", where.repository).where("digest", "=", digest).where("key", "=", key).execute();
    } else {
      const row = { ...where, value, version, updated_at: at.getTime(), updated_by: actor };
      await this.db
        .insertInto("metadata_values")
        .values(row)
        .onConflict((c) => c.columns(["repository", "digest", "key"]).doUpdateSet({ value, version, updated_at: row.updated_at, updated_by: actor }))
        .execute();
    }
    const change = { ...where, version, at: at.getTime(), actor, old_value: current?.value ?? null, new_value: value };
    await this.db.insertInto("metadata_history").values(change).execute();
    return toChange(change);
  }
  async history(target: MetadataTarget, key?: string) {
    let query = this.db
      .selectFrom("metadata_history")
      .selectAll()
      .where("repository", "=", target.repository)
      .where("digest", "=", digestColumn(target))
      .orderBy("at")
      .orderBy("key")
      .orderBy("version");
    if (key !== undefined) query = query.where("key", "=", key);
    return (await query.execute()).map(toChange);
  }
}

function toValue(row: Database["metadata_values"]): MetadataValue {
  return { key: row.key, value: row.value, version: Number(row.version), updatedAt: new Date(Number(row.updated_at)), updatedBy: row.updated_by };
}

function toChange(row: Database["metadata_history"]): MetadataChange {
  return { key: row.key, version: Number(row.version), at: new Date(Number(row.at)), actor: row.actor, old: row.old_value, new: row.new_value };
}

export function provenanceParts(db: Db) {
  return { provenance: new Provenance(db), metadataValues: new MetadataValues(db) };
}

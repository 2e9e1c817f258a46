// The search index over Kysely (catalog-types.ts SearchRows; portable SQL, as kysely-store.ts):
// the entries each provenance row makes searchable (search-entries.ts), written with it, and the
// queries the portal's search and `berth search` page through. The read models beside it
// (summaries, tag and manifest pages) are catalog-store.ts, whose SQL helpers it shares.
import { sql, type Insertable, type Kysely, type Transaction } from "kysely";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import type { SearchEntry, SearchHit, SearchQuery, SearchRows, SearchSource, SearchTerm } from "./catalog-types.ts";
import { atAny, chunks, containing, inScope } from "./catalog-store.ts";
import { familyOf } from "./migrations/portable.ts";
import type { Database } from "./schema.ts";
import { foldedHex } from "./search-entries.ts";

type Db = Kysely<Database> | Transaction<Database>;

type EntryRow = Insertable<Database["search_entries"]>;

export class SearchIndex implements SearchRows {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async replace(repository: RepositoryName, origin: Digest, entries: readonly SearchEntry[]) {
    await this.forget(repository, origin);
    const rows: EntryRow[] = entries.map((e) => ({ repository, digest: e.digest, origin, source: e.source, key: e.key, value: e.value, folded: foldedHex(e.value) }));
    for (const part of chunks(rows)) if (part.length > 0) await this.db.insertInto("search_entries").values(part).execute();
  }

  async forget(repository: RepositoryName, origin: Digest) {
    await this.db.deleteFrom("search_entries").where("repository", "=", repository).where("origin", "=", origin).execute();
  }

  async entriesOf(repository: RepositoryName, digest: Digest, source: SearchSource) {
    const rows = await this.db.selectFrom("search_entries").select(["digest", "source", "key", "value"]).where("repository", "=", repository).where("digest", "=", digest).where("source", "=", source).orderBy("key").execute();
    return rows.map((r) => ({ digest: r.digest as Digest, source: r.source as SearchSource, key: r.key, value: r.value }));
  }

  async find(query: SearchQuery, after: { repository: string; digest: string } | null, limit: number): Promise<SearchHit[]> {
    // The first term drives the query (an index range), the rest are checked per hit: an equality
    // (an index range on the value) drives before a `contains` (a trigram lookup), and the longest
    // `contains` before shorter ones (fewer values hold it; under 3 characters none is indexed).
    const contains = query.terms.filter((t) => t.match !== "equals").sort((a, b) => [...b.value].length - [...a.value].length);
    const ordered = [...query.terms.filter((t) => t.match === "equals"), ...contains];
    // A `contains` term that matches a large share of the values would make the page the sort of
    // all its hits (600 ms for one matching 100,000 values): then no term drives, and the
    // manifests are walked in the page's order, each checked against every term, until the page
    // is full. An equality term always drives (it is an index range on its value).
    const drives = ordered[0] !== undefined && !(ordered[0].match === "contains" && (await this.isBroad(ordered[0], limit)));
    const [first, rest] = drives ? [ordered[0]!, ordered.slice(1)] : [null, ordered];
    // Without a driving term: the manifests in key order (joined to themselves, so `e` and `m` name
    // the same columns on every path); without any term, the images and indexes as the provenance
    // indexer classified them.
    let base = first
      ? this.db.selectFrom("search_entries as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest")).where((eb) => this.driving(eb, first))
      : ordered.length > 0
        ? this.db.selectFrom("manifests as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest"))
        : this.db.selectFrom("provenance as e").innerJoin("manifests as m", (j) => j.onRef("m.repository", "=", "e.repository").onRef("m.digest", "=", "e.digest")).where("e.kind", "in", ["image", "index"]);
    for (const term of rest) {
      base = base.where((eb) => eb.exists(eb.selectFrom("search_entries as x").select("x.digest").whereRef("x.repository", "=", "e.repository").whereRef("x.digest", "=", "e.digest").where((inner) => matching(inner, "x", term, true))));
    }
    if (query.unsigned) {
      base = base.where((eb) => eb.not(eb.exists(eb.selectFrom("provenance as s").select("s.digest").where("s.kind", "=", "signature").whereRef("s.repository", "=", "e.repository").whereRef("s.subject", "=", "e.digest"))));
    }
    if (query.unverified) {
      const { trust, now } = query.unverified;
      // One range of signature_verdicts_subject (migration 030) per manifest.
      base = base.where((eb) => eb.not(eb.exists(eb.selectFrom("signature_verdicts as v").select("v.digest")
        .whereRef("v.repository", "=", "e.repository").whereRef("v.subject", "=", "e.digest")
        .where("v.verified", "=", 1).where("v.trust", "=", trust)
        .where((w) => w.or([w("v.until", "is", null), w("v.until", ">", now)])))));
    }
    if (query.within) base = base.where((eb) => inScope(eb, "e.repository", query.within!));
    if (query.repositoryPrefix) base = base.where("e.repository", ">=", query.repositoryPrefix).where("e.repository", "<", `${query.repositoryPrefix}\u{10ffff}`);
    if (after) base = base.where((eb) => eb.or([eb("e.repository", ">", after.repository), eb.and([eb("e.repository", "=", after.repository), eb("e.digest", ">", after.digest)])]));
    const rows = await base
      .select(["e.repository", "e.digest", "m.media_type", "m.created_at"])
      .distinct()
      .orderBy("e.repository")
      .orderBy("e.digest")
      .limit(limit)
      .execute();
    return rows.map((r) => ({ repository: r.repository as RepositoryName, digest: r.digest as Digest, mediaType: r.media_type, pushed: new Date(Number(r.created_at)) }));
  }

  /**
   * Whether enough values hold the `contains` term's text for a page of `limit` to walk the
   * manifests instead (BROAD_PER_HIT × limit), counted no further than that:
   * SQLite from the trigram table (a superset, over every key, which is enough for a choice of
   * plan), PostgreSQL with the term's own condition (its trigram index serves it).
   */
  private async isBroad(term: SearchTerm, limit: number): Promise<boolean> {
    const broad = BROAD_PER_HIT * limit;
    if ([...term.value].length < 3) return false; // no trigram to count with: the LIKE drives, as before
    const hits = familyOf(this.db as Kysely<unknown>) === "sqlite"
      ? sql<{ n: number }>`select count(*) as n from (select rowid from search_trigrams where search_trigrams match ${`"${term.value.replaceAll('"', '""')}"`} limit ${broad})`
      : sql<{ n: number }>`select count(*) as n from (${this.db.selectFrom("search_entries as e").select("e.id").where((eb) => matching(eb, "e", term)).limit(broad)}) as hits`;
    const { rows } = await hits.execute(this.db);
    return Number(rows[0]?.n ?? 0) >= broad;
  }

  /**
   * The driving term's condition. A `contains` part of 3 characters or more is first looked up in
   * the trigram index: only the entries whose value holds every trigram of the part (a superset of
   * the LIKE that still follows, so the answer is the LIKE's alone). SQLite: the FTS5 trigram table
   * of migration 012, by row id; the (source, key) condition is then kept off its index (as for a
   * pinned row), or the planner walks every value of the key and only filters by the id list
   * (50 ms instead of 3 over 100,000 values). PostgreSQL needs nothing here: its GIN
   * `gin_trgm_ops` index (migration 012) serves the LIKE itself. A part under 3 characters has no
   * trigram: the LIKE scans the key's values, as before.
   */
  private driving(eb: any, term: SearchTerm) {
    if (term.match !== "contains" || [...term.value].length < 3 || familyOf(this.db as Kysely<unknown>) !== "sqlite") return matching(eb, "e", term);
    const phrase = `"${term.value.replaceAll('"', '""')}"`;
    return eb.and([matching(eb, "e", term, true), eb("e.id", "in", sql`(select rowid from search_trigrams where search_trigrams match ${phrase})`)]);
  }

  async matches(hits: readonly SearchHit[], terms: readonly SearchTerm[]) {
    const found = new Map<string, SearchEntry[]>(hits.map((h) => [`${h.repository}@${h.digest}`, []]));
    if (terms.length === 0) return found;
    // One query per 500 hits, whatever repositories they are in (one per repository cost 200 ms a page).
    for (const part of chunks(hits)) {
      const rows = await this.db
        .selectFrom("search_entries as e")
        .select(["e.repository", "e.digest", "e.source", "e.key", "e.value"])
        .distinct()
        .where((eb) => atAny(eb, "e.repository", "e.digest", part))
        .where((eb) => eb.or(terms.map((t) => matching(eb, "e", t, true))))
        .orderBy("e.source")
        .orderBy("e.key")
        .orderBy("e.value")
        .execute();
      for (const r of rows) found.get(`${r.repository}@${r.digest}`)?.push({ digest: r.digest as Digest, source: r.source as SearchSource, key: r.key, value: r.value });
    }
    return found;
  }
}

/**
 * Hits per row of the page from which a `contains` term stops driving the search. Walking the
 * manifests in order checks about limit / share of them for a page; sorting the hits costs their
 * number: the two meet near sqrt(limit × manifests), 3,000 for a page of 100 among 100,000.
 */
const BROAD_PER_HIT = 30;

/**
 * One term as a condition on the search_entries row `alias` (e or x). `ofDigest`: the row is
 * already pinned to a (repository, digest); `source || ''` then keeps the planner off the
 * (source, key, value) index, which for a `contains` term would scan every entry of the key
 * once per digest (7 s for a 100-hit page over 100,000 manifests) instead of reading ~5 rows.
 */
function matching(eb: any, alias: "e" | "x", term: SearchTerm, ofDigest = false) {
  const col = (name: string) => `${alias}.${name}`;
  const source = ofDigest ? sql`${sql.ref(col("source"))} || ''` : col("source");
  const same = [eb(source, "=", term.source), eb(col("key"), "=", term.key)];
  if (term.match === "contains") return eb.and([...same, sql<boolean>`${sql.ref(col("value"))} like ${containing(term.value)} escape '\\'`]);
  const hex = /^[0-9a-fA-F]{7,}$/.test(term.value) ? term.value.toLowerCase() : null;
  if (!hex) return eb.and([...same, eb(col("value"), "=", term.value)]);
  // As git abbreviates a commit: the stored hex value starts with the given digits.
  return eb.and([...same, eb(col("folded"), ">=", hex), eb(col("folded"), "<", `${hex}g`)]);
}

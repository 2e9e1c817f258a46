import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { byteOrdered, familyOf, serialKey } from "./portable.ts";

/**
 * A trigram index over the search entries' values, so a `contains` term (`key~part`) reads the
 * entries holding the part instead of every value of the key (catalog-search.ts SearchIndex.find).
 *
 * SQLite: an FTS5 table with the `trigram` tokenizer, external content (it stores only the index;
 * the values stay in search_entries), kept by triggers so every writer keeps it without knowing it.
 * External content is joined by rowid, and SQLite's VACUUM may renumber the implicit rowid of a
 * table without an INTEGER PRIMARY KEY: so search_entries is rebuilt here with an `id` of its own
 * (same columns, same indexes, rows copied as they are).
 *
 * PostgreSQL: `pg_trgm` and a GIN index on `value gin_trgm_ops`, which serves `value LIKE '%part%'`
 * itself; the same `id` column, so both databases hold the same table. (The metadata store has no
 * PostgreSQL dialect yet: these three statements were run by hand on PostgreSQL 15 over a table as
 * migration 010 makes it, and EXPLAIN showed the LIKE served by the GIN index.)
 */
export const searchTrigrams: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const id = serialKey(db);
    if (familyOf(db) === "postgres") {
      await sql`create extension if not exists pg_trgm`.execute(db);
      await db.schema.alterTable("search_entries").addColumn("id", id.type, (c) => c.generatedByDefaultAsIdentity().primaryKey()).execute();
      await sql`create index search_entries_value_trigrams on search_entries using gin (value gin_trgm_ops)`.execute(db);
      return;
    }
    const bytes = byteOrdered(db);
    await db.schema
      .createTable("search_entries_012")
      .addColumn("id", id.type, id.column)
      .addColumn("repository", "text", bytes((c) => c.notNull()))
      .addColumn("digest", "text", bytes((c) => c.notNull()))
      .addColumn("origin", "text", (c) => c.notNull())
      .addColumn("source", "text", (c) => c.notNull())
      .addColumn("key", "text", bytes((c) => c.notNull()))
      .addColumn("value", "text", bytes((c) => c.notNull()))
      .addColumn("folded", "text")
      .execute();
    await sql`insert into search_entries_012 (repository, digest, origin, source, key, value, folded)
      select repository, digest, origin, source, key, value, folded from search_entries order by rowid`.execute(db);
    await db.schema.dropTable("search_entries").execute();
    await db.schema.alterTable("search_entries_012").renameTo("search_entries").execute();
    // As migration 010 made them.
    await db.schema.createIndex("search_entries_value").on("search_entries").columns(["source", "key", "value", "repository", "digest"]).execute();
    await db.schema.createIndex("search_entries_folded").on("search_entries").columns(["source", "key", "folded"]).execute();
    await db.schema.createIndex("search_entries_digest").on("search_entries").columns(["repository", "digest"]).execute();
    await db.schema.createIndex("search_entries_origin").on("search_entries").columns(["repository", "origin"]).execute();
    // case_sensitive 0 (the default) folds case, so a match is a superset of SQLite's LIKE (which
    // folds ASCII only); the query keeps its LIKE, so the answer is exactly what it was.
    await sql`create virtual table search_trigrams using fts5(value, content = 'search_entries', content_rowid = 'id', tokenize = 'trigram')`.execute(db);
    await sql`insert into search_trigrams (search_trigrams) values ('rebuild')`.execute(db);
    await sql`create trigger search_entries_trigrams_insert after insert on search_entries begin
      insert into search_trigrams (rowid, value) values (new.id, new.value); end`.execute(db);
    await sql`create trigger search_entries_trigrams_delete after delete on search_entries begin
      insert into search_trigrams (search_trigrams, rowid, value) values ('delete', old.id, old.value); end`.execute(db);
    await sql`create trigger search_entries_trigrams_update after update on search_entries begin
      insert into search_trigrams (search_trigrams, rowid, value) values ('delete', old.id, old.value);
      insert into search_trigrams (rowid, value) values (new.id, new.value); end`.execute(db);
  },
};

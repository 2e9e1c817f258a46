// What differs between the databases the migrations run on (SQLite, PostgreSQL), decided here and
// nowhere else, so every table states the same thing the same way:
//
//   exact bytes          SQLite `blob`            PostgreSQL `bytea`      (both read back as bytes)
//   names, tags, digests SQLite BINARY (default)  PostgreSQL COLLATE "C"  (byte order of UTF-8)
//   log ids              SQLite autoincrement     PostgreSQL identity
//
// Byte order is what the conformance suite expects of tags lists and the catalog (Go's
// sort.Strings) and what `after=` paging relies on. SQLite's default collation BINARY compares
// UTF-8 bytes; a PostgreSQL database takes its collation from the cluster's locale (with ICU
// `en-US`: "_x 1 a ä A-1 a-b … latest v1.10 v1.9 Z"), so the column says "C" itself. The clause goes
// on the column, not on each query: the primary key's index then serves `ORDER BY` and `>`, and
// joins compare columns of one collation (PostgreSQL refuses `=` between two implicit ones).
//
// A released migration never changes its effect on SQLite: for SQLite these return exactly what
// the migrations wrote before they used this file.
import { PostgresAdapter, SqliteAdapter, sql, type ColumnDefinitionBuilder, type Kysely, type RawBuilder } from "kysely";

export type SqlFamily = "sqlite" | "postgres";

export function familyOf(db: Kysely<unknown>): SqlFamily {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return "sqlite";
  if (adapter instanceof PostgresAdapter) return "postgres";
  throw new Error(`Berth's metadata runs on SQLite or PostgreSQL, not on ${adapter.constructor.name}`);
}

/** The column type for exact bytes (a manifest as received). */
export function bytesType(db: Kysely<unknown>): "blob" | "bytea" {
  return familyOf(db) === "postgres" ? "bytea" : "blob";
}

type Column = (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;

/**
 * Text columns compared by bytes: repository names, tags, digests, chart versions, and whatever is
 * compared or joined with them. `const key = byteOrdered(db)`, then `key((c) => c.notNull())`.
 */
export function byteOrdered(db: Kysely<unknown>): (rest?: Column) => Column {
  if (familyOf(db) === "sqlite") return (rest = (c) => c) => rest; // BINARY, SQLite's default
  return (rest = (c) => c) => (c) => rest(c).modifyEnd(sql`collate "C"`);
}

/** An integer key the database numbers 1, 2, 3… in insertion order (the change log's id). */
export function serialKey(db: Kysely<unknown>): { type: "integer" | "bigint"; column: Column } {
  if (familyOf(db) === "sqlite") return { type: "integer", column: (c) => c.primaryKey().autoIncrement() };
  return { type: "bigint", column: (c) => c.primaryKey().generatedByDefaultAsIdentity() };
}

/**
 * A top-level field of a JSON text column, as SQL text (null when absent or JSON null). A partial
 * index over it is used only by a query that writes the same expression, so migrations and queries
 * both take it from here.
 */
export function jsonField(db: Kysely<unknown>, column: string, field: string): RawBuilder<string | null> {
  if (!/^[a-z_]+$/.test(column) || !/^[a-zA-Z]+$/.test(field)) throw new Error(`not a plain column or field: ${column}.${field}`);
  if (familyOf(db) === "sqlite") return sql<string | null>`json_extract(${sql.ref(column)}, ${sql.lit(`$.${field}`)})`;
  return sql<string | null>`(${sql.ref(column)}::jsonb ->> ${sql.lit(field)})`;
}

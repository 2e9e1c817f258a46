// Kysely over node:sqlite (built into Node, no native addon to compile). Kysely's SqliteDialect
// expects a better-sqlite3-like object; this adapts DatabaseSync to it.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SqliteAdapter, SqliteDialect, type DialectAdapter, type SqliteDatabase, type SqliteStatement } from "kysely";

const STATEMENT_CACHE = 256;

/**
 * Ends the SQL of a write whose loss in a power cut harms nothing (an upload's writer lease: its
 * holder is gone too), so its commit need not wait for the disk. Every commit otherwise syncs the
 * WAL (synchronous = FULL, for the rows a client was told about): a chunked push takes a lease at
 * the start of every chunk. Outside a transaction this adapter runs such a statement under
 * synchronous = NORMAL and puts the connection's level back right after, in one synchronous step,
 * so no other statement can run in between; the next synced commit syncs it along. Inside a
 * transaction (its commit syncs it) and on any other database it is only a comment.
 */
export const UNSYNCED = "/* berth: unsynced */";

class NodeSqliteDatabase implements SqliteDatabase {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, { stmt: StatementSync; reader: boolean }>();
  /** The connection's synchronous level, read at the first UNSYNCED statement. */
  private level: number | undefined;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  close(): void {
    this.db.close();
  }

  /** Runs `statement` without a WAL sync at its commit (UNSYNCED), unless a transaction is open. */
  private softly<T>(statement: () => T): T {
    this.level ??= Number((this.db.prepare("pragma synchronous").get() as { synchronous?: number } | undefined)?.synchronous ?? 2);
    if (this.level <= 1 || this.db.isTransaction) return statement();
    // exec(), not a prepared statement: SQLite applies this pragma while preparing it, and a
    // prepared one run again does not always apply it again.
    this.db.exec("pragma synchronous = normal");
    try {
      return statement();
    } finally {
      this.db.exec(`pragma synchronous = ${this.level}`);
    }
  }

  prepare(sql: string): SqliteStatement {
    // Deferred transactions that read, then write, fail with SQLITE_BUSY when `berth gc` writes
    // from another process; taking the write lock at BEGIN makes them wait (busy_timeout) instead.
    const text = sql === "begin" ? "begin immediate" : sql;
    let entry = this.statements.get(text);
    if (!entry) {
      const stmt = this.db.prepare(text);
      entry = { stmt, reader: stmt.columns().length > 0 };
      if (this.statements.size >= STATEMENT_CACHE) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(text, entry);
    }
    const { stmt, reader } = entry;
    // SQLite rolls a transaction back by itself after some errors (SQLITE_FULL on a full disk,
    // SQLITE_IOERR, SQLITE_NOMEM); Kysely's ROLLBACK then failed with "no transaction is active"
    // and that error replaced the real one (a full disk answered 500 instead of 507).
    const rollback = text === "rollback";
    if (text.endsWith(UNSYNCED)) {
      return {
        reader,
        all: (parameters) => this.softly(() => stmt.all(...(parameters as never[]))),
        run: (parameters) => this.softly(() => stmt.run(...(parameters as never[]))),
        iterate: (parameters) => stmt.iterate(...(parameters as never[])) as IterableIterator<unknown>,
      };
    }
    return {
      reader,
      all: (parameters) => stmt.all(...(parameters as never[])),
      run: (parameters) => (rollback && !this.db.isTransaction ? { changes: 0, lastInsertRowid: 0 } : stmt.run(...(parameters as never[]))),
      iterate: (parameters) => stmt.iterate(...(parameters as never[])) as IterableIterator<unknown>,
    };
  }
}

/**
 * SQLite runs DDL inside transactions, though Kysely's adapter says it does not. Saying so makes
 * the migrator run a whole migration in one transaction, which BEGIN IMMEDIATE serialises: two
 * processes starting at once on one new database no longer both create the same tables ("table
 * already exists"); the second waits, then finds every migration done.
 */
class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class NodeSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlAdapter();
  }
}

export function openSqlite(path: string): { dialect: SqliteDialect; raw: DatabaseSync } {
  const raw = new DatabaseSync(path);
  raw.exec("PRAGMA journal_mode = WAL");
  // FULL: a transaction a client was told about survives power loss, not only a process crash.
  raw.exec("PRAGMA synchronous = FULL");
  raw.exec("PRAGMA busy_timeout = 10000");
  raw.exec("PRAGMA foreign_keys = ON");
  return { dialect: new NodeSqliteDialect({ database: new NodeSqliteDatabase(raw) }), raw };
}

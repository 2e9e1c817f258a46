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

/**
 * The SQL of a statement that does nothing but make the transaction begun right after it commit
 * without a WAL sync: for a transaction whose every write is one whose loss in a power cut harms
 * nothing (a batch of webhook attempts: lost, the deliveries are sent again). SQLite refuses to
 * change the level inside a transaction, so it is lowered here (synchronous = NORMAL) for the next
 * statement only, which must be that BEGIN: run both on one held connection (Kysely's
 * `connection()`). Any other statement puts the level back first, and so does the COMMIT or
 * ROLLBACK; a transaction not begun right after it syncs as always. Elsewhere a plain no-op.
 */
export const UNSYNCED_NEXT_TRANSACTION = "select 1 /* berth: unsynced next transaction */";

class NodeSqliteDatabase implements SqliteDatabase {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, { stmt: StatementSync; reader: boolean }>();
  /** The connection's synchronous level, read at the first UNSYNCED statement. */
  private level: number | undefined;
  /** Lowered to synchronous = NORMAL by UNSYNCED_NEXT_TRANSACTION: for the BEGIN that follows and its transaction. */
  private lowered = false;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  close(): void {
    this.db.close();
  }

  /** Runs `statement` without a WAL sync at its commit (UNSYNCED), unless a transaction is open. */
  private softly<T>(statement: () => T): T {
    this.level ??= this.readLevel();
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

  private readLevel(): number {
    return Number((this.db.prepare("pragma synchronous").get() as { synchronous?: number } | undefined)?.synchronous ?? 2);
  }

  /** UNSYNCED_NEXT_TRANSACTION: lowered until the next statement, which is to be the BEGIN. */
  private lowerForNext(): void {
    this.level ??= this.readLevel();
    if (this.level > 1 && !this.db.isTransaction && !this.lowered) {
      this.db.exec("pragma synchronous = normal");
      this.lowered = true;
    }
  }

  private restore(): void {
    if (this.lowered && !this.db.isTransaction) {
      this.db.exec(`pragma synchronous = ${this.level}`);
      this.lowered = false;
    }
  }

  /** After a COMMIT or ROLLBACK: a lowered transaction's level is put back, so the next one syncs. */
  private ended<T>(statement: () => T): T {
    try {
      return statement();
    } finally {
      this.restore();
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
    // Lowered for the BEGIN that follows UNSYNCED_NEXT_TRANSACTION only: anything else first puts the level back.
    if (this.lowered && text !== "begin immediate") this.restore();
    if (text === UNSYNCED_NEXT_TRANSACTION) {
      this.lowerForNext();
      return { reader, all: () => [], run: () => ({ changes: 0, lastInsertRowid: 0 }), iterate: () => [][Symbol.iterator]() };
    }
    if (text === "begin immediate" && this.lowered) {
      // A BEGIN that fails (SQLITE_BUSY: gc or fsck holds the write lock) begins nothing: the
      // level goes back at once, or the next transaction, anyone's, would commit unsynced (attack 17b).
      const begin = <T>(statement: () => T): T => {
        try {
          return statement();
        } catch (error) {
          this.restore();
          throw error;
        }
      };
      return {
        reader,
        all: (parameters) => begin(() => stmt.all(...(parameters as never[]))),
        run: (parameters) => begin(() => stmt.run(...(parameters as never[]))),
        iterate: (parameters) => stmt.iterate(...(parameters as never[])) as IterableIterator<unknown>,
      };
    }
    if (rollback || text === "commit") {
      return {
        reader,
        all: (parameters) => this.ended(() => stmt.all(...(parameters as never[]))),
        run: (parameters) => this.ended(() => (rollback && !this.db.isTransaction ? { changes: 0, lastInsertRowid: 0 } : stmt.run(...(parameters as never[])))),
        iterate: (parameters) => stmt.iterate(...(parameters as never[])) as IterableIterator<unknown>,
      };
    }
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
  // First: switching a new database to WAL needs its lock, which a second process starting at the
  // same moment may hold; without a busy timeout yet, that start failed at once ("database is
  // locked", two-processes test in a CI run).
  raw.exec("PRAGMA busy_timeout = 10000");
  raw.exec("PRAGMA journal_mode = WAL");
  // FULL: a transaction a client was told about survives power loss, not only a process crash.
  raw.exec("PRAGMA synchronous = FULL");
  raw.exec("PRAGMA foreign_keys = ON");
  return { dialect: new NodeSqliteDialect({ database: new NodeSqliteDatabase(raw) }), raw };
}

// A query on the hot path (HEAD blob, GET manifest; a chunk's lease and advance) compiled once per
// database handle and run with each request's values. Kysely builds and compiles a query's syntax tree on every call;
// under 64 connections of HEAD blob and GET manifest that was ~11 % of the server's CPU
// (docs/performance.md). The query is compiled once with stand-in values, and each run swaps in
// its own: the SQL text never changes, so the driver's prepared-statement cache keeps hitting too.
import type { Compilable, CompiledQuery, QueryResult } from "kysely";

/** What runs a compiled query: the database or an open transaction. */
interface Executor {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** Marks where each value lands when the query is compiled; no constant in a query is like it. */
const standIn = (i: number) => `\u0000berth-value-${i}\u0000`;

export class ReusedQuery<Row, Values extends (string | number | null)[]> {
  private readonly db: Executor;
  private readonly build: (...values: Values) => Compilable<Row>;
  private compiled: CompiledQuery<Row> | null = null;
  /** For each parameter of the compiled query: which value goes there, or -1 for a constant. */
  private slots: number[] = [];

  constructor(db: Executor, build: (...values: Values) => Compilable<Row>) {
    this.db = db;
    this.build = build;
  }

  async rows(...values: Values): Promise<Row[]> {
    return (await this.run(values)).rows;
  }

  async first(...values: Values): Promise<Row | undefined> {
    return (await this.rows(...values))[0];
  }

  /** For a write: how many rows it changed. */
  async changed(...values: Values): Promise<number> {
    return Number((await this.run(values)).numAffectedRows ?? 0);
  }

  private run(values: Values): Promise<QueryResult<Row>> {
    const compiled = this.compiled ?? this.compile(values.length);
    const parameters = compiled.parameters.map((constant, i) => (this.slots[i]! >= 0 ? values[this.slots[i]!] : constant));
    return this.db.executeQuery<Row>({ ...compiled, parameters });
  }

  private compile(count: number): CompiledQuery<Row> {
    const standIns = Array.from({ length: count }, (_, i) => standIn(i));
    const compiled = this.build(...(standIns as Values)).compile();
    this.slots = compiled.parameters.map((p) => standIns.indexOf(p as string));
    for (let i = 0; i < count; i++) {
      if (!this.slots.includes(i)) throw new Error(`a reused query does not use its value ${i}: ${compiled.sql}`);
    }
    this.compiled = compiled;
    return compiled;
  }
}

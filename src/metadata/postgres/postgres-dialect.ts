// Kysely over `pg`: a pool of connections to one PostgreSQL database (15 or later). What differs
// from SQLite in the SQL itself is decided in migrations/portable.ts and locks.ts; this file only
// opens connections and says how values read back.
import { PostgresDialect } from "kysely";
import pg from "pg";

/** PostgreSQL's type ids whose text form `pg` would hand over as a string. */
const INT8 = 20;

/**
 * bigint (sizes, times in ms, change ids, count(*)) reads back as a number, as on SQLite, in this
 * one place: `pg` returns int8 as a string, since it may exceed 2^53. Berth's never do (a size
 * or a millisecond time stays below 2^53 for 285,000 years), and one beyond that is an error here,
 * not a silently rounded number.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8 && format !== "binary") {
      return (text: string) => {
        const value = Number(text);
        if (!Number.isSafeInteger(value)) throw new Error(`bigint ${text} does not fit a JavaScript number`);
        return value;
      };
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

export interface PostgresOptions {
  url: string;
  /** Connections this process opens at most. */
  poolSize: number;
}

export function openPostgres(options: PostgresOptions): { dialect: PostgresDialect; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize, types });
  // An idle connection the server closed (a restart, a failover) emits this; the pool drops it
  // and the next query opens a new one. Unhandled, it would end the process.
  pool.on("error", () => undefined);
  return { dialect: new PostgresDialect({ pool }), pool };
}

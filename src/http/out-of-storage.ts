// A write that failed because the data directory's filesystem is full becomes one clear refusal:
// 507 INSUFFICIENT_STORAGE (DENIED under /v2/, see errors.ts), instead of a 500 "internal error".
// Nothing partial is left by such a failure: the blob store deletes a push's temporary file and
// cuts an upload back to its recorded offset, and SQLite rolls the transaction back.
import type { FastifyBaseLogger } from "fastify";
import { RegistryError } from "../domain/errors.ts";

/** SQLite's result code for "database or disk is full" (node:sqlite reports it as `errcode`). */
const SQLITE_FULL = 13;
/** A full disk fails every push; one line a minute is enough to alert on, and keeps the log readable. */
const LOG_EVERY_MS = 60_000;

/** When the last "out of storage" line was logged; process-wide, as the disk it is about. */
let loggedAt = Number.NEGATIVE_INFINITY;
let unlogged = 0;

function isOutOfSpace(thrown: unknown): boolean {
  const err = thrown as { code?: unknown; errcode?: unknown } | null;
  if (!err || typeof err !== "object") return false;
  // EDQUOT: a quota on the data directory is as full as a full disk, for the client.
  if (err.code === "ENOSPC" || err.code === "EDQUOT") return true;
  return typeof err.errcode === "number" && (err.errcode & 0xff) === SQLITE_FULL;
}

/** The refusal for a failure caused by a full disk (logged at most once a minute), else null. */
export function outOfStorage(thrown: unknown, log: FastifyBaseLogger, now = Date.now()): RegistryError | null {
  if (!isOutOfSpace(thrown)) return null;
  if (now - loggedAt >= LOG_EVERY_MS) {
    log.error({ err: thrown, alsoFailedSinceLastLine: unlogged }, "out of storage: the data directory's filesystem is full; writes are refused until space is freed");
    loggedAt = now;
    unlogged = 0;
  } else {
    unlogged++;
  }
  return new RegistryError("INSUFFICIENT_STORAGE", "the registry is out of storage (no space left on device); try again after its operator frees space");
}

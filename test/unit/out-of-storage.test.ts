import assert from "node:assert/strict";
import { test } from "node:test";
import type { FastifyBaseLogger } from "fastify";
import { outOfStorage } from "../../src/http/out-of-storage.ts";

function recordingLog(): { log: FastifyBaseLogger; messages: string[] } {
  const messages: string[] = [];
  const log = { error: (_fields: unknown, message: string) => void messages.push(message) } as unknown as FastifyBaseLogger;
  return { log, messages };
}

test("outOfStorage: ENOSPC, EDQUOT and SQLite's 'database or disk is full' become INSUFFICIENT_STORAGE; other failures stay unknown", () => {
  const { log } = recordingLog();
  const enospc = Object.assign(new Error("no space left on device, write"), { code: "ENOSPC" });
  assert.equal(outOfStorage(enospc, log)?.code, "INSUFFICIENT_STORAGE");
  assert.equal(outOfStorage(Object.assign(new Error("quota"), { code: "EDQUOT" }), log)?.code, "INSUFFICIENT_STORAGE");
  assert.equal(outOfStorage(Object.assign(new Error("database or disk is full"), { code: "ERR_SQLITE_ERROR", errcode: 13 }), log)?.code, "INSUFFICIENT_STORAGE");
  assert.equal(outOfStorage(Object.assign(new Error("io"), { code: "EIO" }), log), null);
  assert.equal(outOfStorage(Object.assign(new Error("busy"), { code: "ERR_SQLITE_ERROR", errcode: 5 }), log), null);
  assert.equal(outOfStorage("text", log), null);
});

test("outOfStorage: logged at most once a minute, however many requests fail", () => {
  const { log, messages } = recordingLog();
  const enospc = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
  // Times far past any Date.now() an earlier test used, so this test owns the process-wide clock.
  const t0 = Date.now() + 10 * 365 * 86_400_000;
  for (let s = 0; s < 60; s++) outOfStorage(enospc, log, t0 + s * 1000);
  assert.equal(messages.length, 1);
  outOfStorage(enospc, log, t0 + 60_000);
  assert.equal(messages.length, 2);
  assert.match(messages[0]!, /^out of storage/);
});

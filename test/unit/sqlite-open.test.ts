// Opening the embedded database while another process holds its lock: the open waits (busy
// timeout), as every later statement does, instead of failing. A second `berth serve` started at
// the same moment on an empty data directory failed with "database is locked" once in a CI run:
// the switch to WAL, which needs the lock, ran before the busy timeout was set.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";

test("openSqlite on a new database another process holds locked waits for it instead of failing", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-sqlite-open-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "berth.db");
  // Another process takes the database's exclusive lock (a new file: still a rollback journal) and
  // holds it for a second, as a second instance's own start does.
  const holder = spawn(process.execPath, ["-e", `
    const { DatabaseSync } = require("node:sqlite");
    const db = new DatabaseSync(${JSON.stringify(path)});
    db.exec("create table t (x)");
    db.exec("begin exclusive");
    console.log("locked");
    setTimeout(() => { db.exec("commit"); db.close(); }, 1000);
  `], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((ok) => holder.on("exit", ok));
  await new Promise<void>((ok) => holder.stdout!.once("data", () => ok()));
  const { raw } = openSqlite(path);
  try {
    assert.equal((raw.prepare("pragma journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
  } finally {
    raw.close();
    await exited;
  }
});

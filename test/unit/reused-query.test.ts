// ReusedQuery: compiled once, run with each call's own values, on the database and in a transaction.
// (node:sqlite hands rows over as null-prototype objects, so fields are compared, not objects.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { Kysely } from "kysely";
import { openSqlite } from "../../src/metadata/sqlite/node-sqlite-dialect.ts";
import { ReusedQuery } from "../../src/metadata/reused-query.ts";

interface Schema {
  tags: { repository: string; tag: string; digest: string };
}

async function database(): Promise<Kysely<Schema>> {
  const db = new Kysely<Schema>({ dialect: openSqlite(":memory:").dialect });
  await db.schema.createTable("tags").addColumn("repository", "text").addColumn("tag", "text").addColumn("digest", "text").execute();
  await db.insertInto("tags").values([
    { repository: "a", tag: "v1", digest: "sha256:1" },
    { repository: "a", tag: "v2", digest: "sha256:2" },
    { repository: "b", tag: "v1", digest: "sha256:3" },
  ]).execute();
  return db;
}

test("each run gets its own values, in whatever order the compiled SQL wants them", async () => {
  const db = await database();
  // The tag comes first in the SQL, the repository second, and a constant sits between them.
  const query = new ReusedQuery(db, (repository: string, tag: string) =>
    db.selectFrom("tags").select("digest").where("tag", "=", tag).where("digest", "!=", "sha256:none").where("repository", "=", repository),
  );
  assert.equal((await query.first("a", "v1"))?.digest, "sha256:1");
  assert.equal((await query.first("a", "v2"))?.digest, "sha256:2");
  assert.equal((await query.first("b", "v1"))?.digest, "sha256:3");
  assert.equal(await query.first("b", "v2"), undefined);
  assert.deepEqual((await query.rows("a", "v1")).map((r) => r.digest), ["sha256:1"]);
  await db.destroy();
});

test("a value used twice lands in both places; inside a transaction it runs on the transaction", async () => {
  const db = await database();
  await db.transaction().execute(async (tx) => {
    await tx.insertInto("tags").values({ repository: "c", tag: "c", digest: "sha256:4" }).execute();
    const same = new ReusedQuery(tx, (name: string) => tx.selectFrom("tags").select("digest").where("repository", "=", name).where("tag", "=", name));
    assert.equal((await same.first("c"))?.digest, "sha256:4");
    assert.equal(await same.first("a"), undefined);
  });
  await db.destroy();
});

test("a builder that leaves out a value is refused", async () => {
  const db = await database();
  const query = new ReusedQuery(db, (repository: string, _tag: string) => db.selectFrom("tags").select("digest").where("repository", "=", repository));
  await assert.rejects(query.first("a", "v1"), /does not use its value 1/);
  await db.destroy();
});

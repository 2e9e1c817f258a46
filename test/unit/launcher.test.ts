// bin/entry.mjs: the launcher runs the compiled build only while it is newer than every source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryModule, unsupportedNode } from "../../bin/entry.mjs";
import { repoRoot } from "../support/berth.ts";

async function project(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "berth-launcher-"));
  await mkdir(join(root, "src/blobs"), { recursive: true });
  await mkdir(join(root, "dist"), { recursive: true });
  await writeFile(join(root, "src/main.ts"), "export {};\n");
  await writeFile(join(root, "src/blobs/hash-thread.mjs"), "\n");
  await writeFile(join(root, "src/README.md"), "\n");
  const past = new Date(Date.now() - 60_000);
  for (const file of ["src/main.ts", "src/blobs/hash-thread.mjs", "src/README.md"]) await utimes(join(root, file), past, past);
  return root;
}

test("without a finished build the sources run", async () => {
  const root = await project();
  try {
    assert.equal(entryModule(root), join(root, "src/main.ts"));
    await writeFile(join(root, "dist/.built"), "not a time\n");
    assert.equal(entryModule(root), join(root, "src/main.ts"));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("a build newer than every source runs; a source saved after it starts brings the sources back", async () => {
  const root = await project();
  try {
    await writeFile(join(root, "dist/.built"), `${Date.now() - 1000}\n`);
    assert.equal(entryModule(root), join(root, "dist/main.js"));
    // Files that are not code do not make the build stale.
    await writeFile(join(root, "src/README.md"), "changed\n");
    assert.equal(entryModule(root), join(root, "dist/main.js"));
    await writeFile(join(root, "src/blobs/hash-thread.mjs"), "// changed\n");
    assert.equal(entryModule(root), join(root, "src/main.ts"));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("after npm test's build, the real launcher runs the build", { skip: process.env.BERTH_TEST_BUILT === "true" ? false : "only under npm test, which builds dist/ first" }, () => {
  assert.equal(entryModule(repoRoot), join(repoRoot, "dist/main.js"), "a source under src/ is newer than dist/.built: was it edited during the run?");
});

test("a Node.js older than 24 is told what to run instead of failing on node:sqlite", () => {
  for (const old of ["v20.20.2", "v22.12.0", "v23.11.1"]) {
    const message = unsupportedNode(old);
    assert.ok(message, `${old} is refused`);
    assert.match(message, new RegExp(`Node\\.js 24 or newer.*${old.replaceAll(".", "\\.")}`));
    assert.match(message, /bin\/berth/);
  }
  for (const fine of ["v24.0.0", "v24.21.0", "v25.1.0", process.version]) assert.equal(unsupportedNode(fine), null, fine);
});

// Hostile chart packages pushed through every classic upload (ACR's PUT _blobs, the
// ChartMuseum multipart POST cm-push sends, and its raw-body POST) are refused with 400 and
// leave no trace: the index.yaml bytes, the chart list and the files under the data
// directory's blobs/ and uploads/ are what they were before. Limits: config helm.* (src/config/schema.ts) and
// src/services/charts/archive.ts; Helm's own archive rules: shared/research/helm.md §2.2.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";
import { build, validChart } from "../support/chart-fixtures.ts";
import { berthFetch, berthFor, chartMuseumPost, fetchIndex, putBlob } from "../support/helm.ts";

const MiB = 1024 * 1024;
const chartYaml = (name: string) => `apiVersion: v2\nname: ${name}\nversion: 0.1.0\ndescription: hostile\n`;

/** A .tgz whose files are zeros of the given sizes after a valid Chart.yaml, gzipped while packed. */
async function zerosArchive(name: string, sizes: number[]): Promise<Buffer> {
  const tar = pack();
  const gzipped = tar.pipe(createGzip({ level: 1 }));
  const collected = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of gzipped) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  await new Promise<void>((ok, fail) => tar.entry({ name: `${name}/Chart.yaml` }, chartYaml(name), (err) => (err ? fail(err) : ok())));
  const zeros = Buffer.alloc(MiB);
  for (const [i, size] of sizes.entries()) {
    let entryDone!: (err?: Error | null) => void;
    const written = new Promise<void>((ok, fail) => (entryDone = (err) => (err ? fail(err) : ok())));
    const entry = tar.entry({ name: `${name}/templates/zeros-${i}.yaml`, size }, (err) => entryDone(err));
    for (let left = size; left > 0; left -= zeros.length) {
      if (!entry.write(left >= zeros.length ? zeros : zeros.subarray(0, left))) await new Promise<void>((ok) => entry.once("drain", () => ok()));
    }
    entry.end(Buffer.alloc(0));
    await written;
  }
  tar.finalize();
  return collected;
}

/** Billion laughs: 9 levels of 12 aliases each, far past the 100-alias cap. */
function yamlBomb(name: string): string {
  const lines = [chartYaml(name).trimEnd(), `l0: &l0 [${Array(12).fill('"lol"').join(",")}]`];
  for (let level = 1; level <= 9; level++) lines.push(`l${level}: &l${level} [${Array(12).fill(`*l${level - 1}`).join(",")}]`);
  return `${lines.join("\n")}\n`;
}

export async function hostileArchives(): Promise<Record<string, Buffer>> {
  return {
    "path traversal": await build([
      { path: "traversal/Chart.yaml", content: chartYaml("traversal") },
      { path: "traversal/templates/../../../../tmp/berth-hostile-traversal.yaml", content: "kind: Secret\n" },
    ]),
    "absolute path": await build([
      { path: "absolute/Chart.yaml", content: chartYaml("absolute") },
      { path: "/tmp/berth-hostile-absolute.yaml", content: "kind: Secret\n" },
    ]),
    "symlink": await build([
      { path: "symlink/Chart.yaml", content: chartYaml("symlink") },
      { path: "symlink/templates/passwd.yaml", type: "symlink", linkname: "/etc/passwd" },
    ]),
    "hard link": await build([
      { path: "hardlink/Chart.yaml", content: chartYaml("hardlink") },
      { path: "hardlink/templates/passwd.yaml", type: "link", linkname: "/etc/passwd" },
    ]),
    "gzip bomb, one 150 MiB file": await zerosArchive("bomb", [150 * MiB]),
    "gzip bomb, 26 files of 4 MiB": await zerosArchive("wide-bomb", Array(26).fill(4 * MiB)),
    "YAML bomb in Chart.yaml": await validChart({ name: "yaml-bomb", version: "0.1.0", chartYaml: yamlBomb("yaml-bomb") }),
    // Not hostile, but not storable either: OCI repository names are lowercase.
    "Uppercase chart name": await validChart({ name: "Uppercase", version: "0.1.0" }),
  };
}

/** Every file under the data directory's blobs/ and uploads/ (relative paths, sorted). */
async function storedFiles(dataDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const top of ["blobs", "uploads"]) {
    const root = join(dataDir, top);
    if (!existsSync(root)) continue;
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(relative(dataDir, join(entry.parentPath, entry.name)));
    }
  }
  return files.sort();
}

test("hostile chart packages are refused with 400 by PUT _blobs and the ChartMuseum API (multipart and raw), leaving no trace", { timeout: 120_000 }, async (t) => {
  const berth = await berthFor(t);
  // One good chart first, so "unchanged" is about a non-empty index.
  const good = await validChart({ name: "good", version: "1.0.0", appVersion: "1.0" });
  const saved = await putBlob(berth, "good-1.0.0.tgz", good);
  assert.equal(saved.status, 201, `PUT _blobs/good-1.0.0.tgz: ${saved.status} ${await saved.text()}`);

  const indexBefore = await fetchIndex(berth);
  assert.equal(indexBefore.status, 200);
  assert.match(indexBefore.bytes.toString(), /good/);
  const chartsBefore = await (await berthFetch(berth, "/api/v1/charts")).text();
  const filesBefore = await storedFiles(berth.dataDir);
  assert.ok(filesBefore.length > 0, "the good chart left no blob under blobs/");

  const failures: string[] = [];
  for (const [kind, archive] of Object.entries(await hostileArchives())) {
    const name = kind.split(" ")[0];
    const put = await putBlob(berth, `${name}-0.1.0.tgz`, archive);
    const putBody = await put.text();
    if (put.status !== 400 || !/CHART_INVALID/.test(putBody)) failures.push(`PUT _blobs (${kind}): ${put.status} ${putBody}`);
    const post = await chartMuseumPost(berth, { chart: archive, file: `${name}-0.1.0.tgz` });
    const postBody = await post.text();
    if (post.status !== 400 || !/"error"/.test(postBody)) failures.push(`POST /api/helm/v1/repo/charts multipart (${kind}): ${post.status} ${postBody}`);
    const raw = await berthFetch(berth, "/api/repo/charts", { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(archive) });
    const rawBody = await raw.text();
    if (raw.status !== 400 || !/"error"/.test(rawBody)) failures.push(`POST /api/repo/charts raw (${kind}): ${raw.status} ${rawBody}`);
  }
  assert.deepEqual(failures, [], "hostile archives that were not refused with 400");

  const healthy = await fetch(`${berth.url}/healthz`);
  assert.equal(healthy.status, 200, "berth is not healthy after the bombs");
  const indexAfter = await fetchIndex(berth);
  assert.equal(indexAfter.bytes.toString(), indexBefore.bytes.toString(), "index.yaml changed");
  assert.equal(indexAfter.etag, indexBefore.etag, "the index ETag changed");
  assert.equal(await (await berthFetch(berth, "/api/v1/charts")).text(), chartsBefore, "the chart list changed");
  assert.deepEqual(await storedFiles(berth.dataDir), filesBefore, "files were left under blobs/ or uploads/");
  for (const file of ["/tmp/berth-hostile-traversal.yaml", "/tmp/berth-hostile-absolute.yaml"]) assert.ok(!existsSync(file), `${file} was written`);
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { isRegistryError } from "../../src/domain/errors.ts";
import { DEFAULT_CHART_LIMITS, readChartArchive, readProvenance, type ChartLimits } from "../../src/services/charts/archive.ts";
import { build, buildTar, chartYamlFor, chunked, gzipBomb, provenanceFor, provenanceSum, validChart, type ArchiveEntry } from "../support/chart-fixtures.ts";

const MiB = 1024 * 1024;
const SMALL: ChartLimits = { maxDecompressedBytes: 64 * 1024, maxFileBytes: 16 * 1024, maxFiles: 20, maxChartYamlBytes: 2048, maxYamlAliases: 100 };
const CHART_YAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\n";

function read(tgz: Buffer, limits?: ChartLimits) {
  return readChartArchive(chunked(tgz, 4096), limits);
}

/** Rejects with CHART_INVALID and a message matching `names`. */
async function refused(archive: Buffer | Promise<Buffer>, names: RegExp, limits?: ChartLimits) {
  const bytes = await archive;
  await assert.rejects(read(bytes, limits), (err: unknown) => {
    assert.ok(isRegistryError(err, "CHART_INVALID"), `expected CHART_INVALID, got ${String(err)}`);
    assert.match(err.message, names);
    return true;
  });
}

/** A chart folder with a good Chart.yaml, then the given entries. */
function chartWith(...entries: ArchiveEntry[]): Promise<Buffer> {
  return build([{ path: "demo/Chart.yaml", content: CHART_YAML }, { path: "demo/values.yaml", content: "a: 1\n" }, ...entries]);
}

test("a v1 chart without apiVersion reads as v1, with its appVersion and requirements.yaml dependencies", async () => {
  const tgz = await validChart({
    name: "legacy", version: "1.2.3", apiVersion: null, appVersion: "1.0", description: "an old chart",
    files: { "requirements.yaml": "dependencies:\n  - name: redis\n    version: 10.x\n    repository: https://charts.example.com\n" },
  });
  const archive = await read(tgz);
  assert.deepEqual(archive.metadata, {
    name: "legacy", version: "1.2.3", description: "an old chart", apiVersion: "v1", appVersion: "1.0",
    dependencies: [{ name: "redis", version: "10.x", repository: "https://charts.example.com" }],
  });
  assert.equal(archive.folder, "legacy");
  assert.equal(archive.files, 6);
  assert.ok(archive.decompressedBytes > 100 && archive.decompressedBytes < 2000);
});

test("a v2 application chart keeps Helm's fields: type, dependencies, maintainers, annotations", async () => {
  const tgz = await validChart({
    name: "web", version: "2.0.0-rc.1+build.5", appVersion: "1.16.0", type: "application", description: "A web app",
    keywords: ["web", "nginx"], maintainers: [{ name: "Ops", email: "ops@example.com" }], annotations: { category: "Web" },
    dependencies: [{ name: "redis", version: "~17.0.0", repository: "oci://registry.example.com/charts", condition: "redis.enabled", alias: "cache" }],
    unknownField: "dropped",
  });
  const { metadata } = await read(tgz);
  assert.deepEqual(metadata, {
    name: "web", version: "2.0.0-rc.1+build.5", description: "A web app", keywords: ["web", "nginx"],
    maintainers: [{ name: "Ops", email: "ops@example.com" }], apiVersion: "v2", appVersion: "1.16.0",
    annotations: { category: "Web" },
    dependencies: [{ name: "redis", version: "~17.0.0", repository: "oci://registry.example.com/charts", condition: "redis.enabled", alias: "cache" }],
    type: "application",
  });
});

test("an unquoted numeric appVersion becomes a string", async () => {
  const decimal = await read(await validChart({ name: "demo", version: "0.1.0", chartYaml: "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: 1.16\n" }));
  assert.equal(decimal.metadata.appVersion, "1.16");
  const integer = await read(await validChart({ name: "demo", version: "0.1.0", appVersion: 2 }));
  assert.equal(integer.metadata.appVersion, "2");
});

test("accepted like Helm: another folder name, folder entries, backslashes, a BOM, bytes split anywhere", async () => {
  const renamed = await read(await validChart({ name: "demo", version: "0.1.0", folder: "not-demo" }));
  assert.equal(renamed.folder, "not-demo");
  assert.equal(renamed.metadata.name, "demo");

  const windows = await build([
    { path: "demo", type: "directory" },
    { path: "demo\\templates", type: "directory" },
    { path: "demo\\Chart.yaml", content: `\uFEFF${CHART_YAML}` },
    { path: "demo\\templates\\a.yaml", content: "kind: ConfigMap\n" },
  ]);
  const read1 = await read(windows);
  assert.equal(read1.metadata.name, "demo");
  assert.equal(read1.files, 2);
  assert.equal((await readChartArchive(chunked(windows, 1))).metadata.version, "0.1.0");

  const longPath = `demo/templates/${"x".repeat(200)}.yaml`; // needs a PAX header
  assert.equal((await read(await chartWith({ path: longPath, content: "a: 1\n" }))).files, 3);
});

test("path traversal is refused: ../evil, chart/../evil and chart\\..\\..\\evil", async () => {
  await refused(chartWith({ path: "demo/../evil", content: "x" }), /parent directory/);
  await refused(build([{ path: "../evil", content: "x" }]), /parent directory/);
  await refused(chartWith({ path: "demo\\..\\..\\evil", content: "x" }), /parent directory/);
  await refused(chartWith({ path: "demo/templates/../../../etc/cron.d/x", type: "directory" }), /parent directory/);
});

test("absolute paths and drive letters are refused", async () => {
  await refused(build([{ path: "/etc/passwd", content: "root:x:0:0\n" }]), /absolute paths/);
  await refused(chartWith({ path: "\\windows\\system32\\evil.dll", content: "x" }), /absolute paths/);
  await refused(chartWith({ path: "c:/evil", content: "x" }), /drive letter/);
  await refused(chartWith({ path: "demo/C:/evil", content: "x" }), /drive letter/);
});

test("links, devices and pipes are refused", async () => {
  await refused(chartWith({ path: "demo/templates/secret.yaml", type: "symlink", linkname: "/etc/shadow" }), /symbolic link/);
  await refused(chartWith({ path: "demo/templates/again.yaml", type: "link", linkname: "demo/Chart.yaml" }), /hard link/);
  await refused(chartWith({ path: "demo/null", type: "character-device" }), /character device/);
  await refused(chartWith({ path: "demo/disk", type: "block-device" }), /block device/);
  await refused(chartWith({ path: "demo/pipe", type: "fifo" }), /named pipe/);
});

test("the archive holds one folder with Chart.yaml in it", async () => {
  await refused(chartWith({ path: "other/values.yaml", content: "a: 1\n" }), /more than one top-level folder/);
  await refused(build([{ path: "Chart.yaml", content: CHART_YAML }, { path: "demo/values.yaml", content: "" }]), /chart yaml not in base directory/);
  await refused(build([{ path: "demo/values.yaml", content: "a: 1\n" }, { path: "demo/templates/x.yaml", content: "" }]), /Chart\.yaml file is missing/);
  await refused(build([{ path: "demo/charts/sub/Chart.yaml", content: CHART_YAML }]), /Chart\.yaml file is missing/);
  await refused(build([{ path: "demo", content: CHART_YAML }]), /outside the base directory/);
  await refused(build([{ path: "demo/", type: "directory" }]), /no files in chart archive/);
  await refused(gzipSync(await buildTar([])), /no files in chart archive/);
  await refused(chartWith({ path: "demo/./Chart.yaml", content: CHART_YAML }), /Chart\.yaml twice/);
});

test("size and count limits: one file, the total, the number of files", async () => {
  await refused(chartWith({ path: "demo/big.bin", size: SMALL.maxFileBytes + 1 }), /"demo\/big\.bin" is larger than the maximum file size 16384 bytes/, SMALL);
  const fifteenK = Array.from({ length: 5 }, (_, i) => ({ path: `demo/files/${i}.bin`, size: 15 * 1024 }));
  await refused(chartWith(...fifteenK), /decompressed chart is larger than the maximum size 65536 bytes/, SMALL);
  assert.equal((await read(await chartWith(...fifteenK.slice(0, 4)), SMALL)).files, 6);
  const many = Array.from({ length: SMALL.maxFiles }, (_, i) => ({ path: `demo/templates/${i}.yaml`, content: "" }));
  await refused(chartWith(...many), /more than the maximum of 20 files/, SMALL);
  await refused(chartWith({ path: "demo/big.bin", size: 5 * MiB + 1 }), /larger than the maximum file size 5 MiB/);
});

test("a gzip bomb of zeros is refused quickly without holding it in memory", { timeout: 20_000 }, async () => {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  try {
    await assert.rejects(readChartArchive(gzipBomb(1024 * MiB)), (err: unknown) => isRegistryError(err, "CHART_INVALID") && /compression bomb/.test(err.message));
  } finally {
    clearInterval(sampler);
  }
  assert.ok(peak - before < 64 * MiB, `rss grew by ${Math.round((peak - before) / MiB)} MiB`);
});

test("a file whose header declares 1 GiB is refused before its bytes are read", async () => {
  await assert.rejects(readChartArchive(gzipBomb(1024 * MiB, "demo/bomb.bin")), (err: unknown) => isRegistryError(err, "CHART_INVALID") && /maximum file size/.test(err.message));
});

test("the source is released when the archive is refused part-way", async () => {
  const tgz = await chartWith({ path: "demo/../evil", content: "x" }, { path: "demo/big.bin", content: randomBytes(256 * 1024) });
  let finished = false;
  let pulled = 0;
  async function* source() {
    try {
      for await (const chunk of chunked(tgz, 1024)) { pulled += 1; yield chunk; }
    } finally {
      finished = true;
    }
  }
  await assert.rejects(readChartArchive(source()), { code: "CHART_INVALID" });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(finished, "the source generator was closed");
  assert.ok(pulled < tgz.length / 1024, `read ${pulled} of ${Math.ceil(tgz.length / 1024)} chunks`);
});

test("a failing source rejects with its own error, not CHART_INVALID", async () => {
  const tgz = await validChart({ name: "demo", version: "0.1.0" });
  async function* source() {
    yield tgz.subarray(0, 100);
    throw new Error("client went away");
  }
  await assert.rejects(readChartArchive(source()), /client went away/);
});

test("a 1 MiB Chart.yaml with 40,000 annotations parses, and a duplicate key among them is found", async () => {
  const oneMiB: ChartLimits = { ...DEFAULT_CHART_LIMITS, maxChartYamlBytes: MiB };
  const annotations = Array.from({ length: 40_000 }, (_, i) => `  k${i}: value ${i}`).join("\n");
  const huge = `${CHART_YAML}annotations:\n${annotations}\n`.slice(0, MiB - 100);
  const { metadata } = await read(await validChart({ name: "demo", version: "0.1.0", chartYaml: `${huge.slice(0, huge.lastIndexOf("\n"))}\n` }), oneMiB);
  assert.ok(Object.keys(metadata.annotations ?? {}).length > 30_000);
  const duplicated = `${huge.slice(0, huge.lastIndexOf("\n"))}\n  k1: again\n`;
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: duplicated }), /map keys must be unique: "k1"/, oneMiB);
});

test("Chart.yaml: alias bombs, duplicate keys, oversize, not YAML, not a mapping", async () => {
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [prev, next] of ["ab", "bc", "cd", "de", "ef", "fg", "gh", "hi"]) laughs.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(",")}]`);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: `${CHART_YAML}${laughs.join("\n")}\n` }), /too many YAML aliases/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: "apiVersion: v2\nname: demo\nname: evil\nversion: 0.1.0\n" }), /not valid YAML.*unique/i);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: `${CHART_YAML}# ${"x".repeat(3000)}\n` }), /Chart\.yaml is larger than the maximum 2048 bytes/, SMALL);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: `${CHART_YAML}# ${"x".repeat(MiB)}\n` }), /Chart\.yaml is larger than the maximum 262144 bytes/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: "name: [unclosed\nversion: 1\n" }), /not valid YAML/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: "- name: demo\n" }), /must be a mapping/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: "[".repeat(200_000) }), /more than 2000 '\[' and '\{'/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: `${CHART_YAML}keywords: ${"[".repeat(1000)}` }), /not valid YAML/);
});

test("Chart.yaml content: bad names, bad versions, unknown apiVersion or type", async () => {
  await refused(validChart({ name: "../x", version: "0.1.0", folder: "x" }), /invalid chart name/);
  await refused(validChart({ name: "a/b", version: "0.1.0", folder: "a" }), /invalid chart name/);
  await refused(validChart({ name: "demo", version: "one.two" }), /invalid chart version/);
  await refused(validChart({ name: "demo", version: "0.1.0", apiVersion: "v9" }), /unsupported chart apiVersion "v9"/);
  await refused(validChart({ name: "demo", version: "0.1.0", type: "plugin" }), /chart type must be application or library/);
  await refused(validChart({ name: "demo", version: "0.1.0", chartYaml: "apiVersion: v2\nversion: 0.1.0\n" }), /has no name/);
});

test("not a chart package: not gzip, a bare tar, random bytes, truncated gzip, gzip of text, empty body", async () => {
  await refused(Buffer.from("this is not a chart package at all"), /not gzip-compressed/);
  await refused(buildTar([{ path: "demo/Chart.yaml", content: CHART_YAML }]), /not gzip-compressed/);
  await refused(Buffer.concat([Buffer.from([0x42]), randomBytes(64 * 1024)]), /not gzip-compressed/);
  await refused(Buffer.from([0x1f, 0x8b]), /not gzip-compressed/);
  await refused(Buffer.alloc(0), /empty/);
  await refused(Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), randomBytes(64 * 1024)]), /not valid gzip/);
  const whole = await validChart({ name: "demo", version: "0.1.0", files: { "data.bin": randomBytes(32 * 1024) } });
  await refused(whole.subarray(0, Math.floor(whole.length / 2)), /not valid gzip .*truncated/);
  await refused(whole.subarray(0, whole.length - 4), /not valid gzip/);
  await refused(gzipSync(Buffer.from("hello world\n".repeat(200))), /not a valid tar archive/);
  await refused(gzipSync((await buildTar([{ path: "demo/Chart.yaml", content: CHART_YAML }])).subarray(0, 700)), /not a valid tar archive/);
});

test("readProvenance reads name, version and files from a clear-signed .prov", async () => {
  const tgz = await validChart({ name: "demo", version: "0.1.0" });
  const chartYaml = chartYamlFor({ name: "demo", version: "0.1.0", keywords: ["a", "b"], appVersion: "1.0" });
  const prov = provenanceFor(chartYaml, { "demo-0.1.0.tgz": provenanceSum(tgz) });
  assert.match(prov.toString(), /^- - a$/m); // dash-escaped list items, as a real clear-signed message has
  assert.deepEqual(readProvenance(prov), { name: "demo", version: "0.1.0", files: { "demo-0.1.0.tgz": provenanceSum(tgz) } });
  assert.equal(readProvenance(Buffer.from(prov.toString().replaceAll("\n", "\r\n"))).name, "demo");
});

test("readProvenance refuses what is not a chart's .prov", () => {
  const good = provenanceFor(CHART_YAML, { "demo-0.1.0.tgz": "sha256:00" }).toString();
  const refusedProv = (text: string | Buffer, names: RegExp) =>
    assert.throws(() => readProvenance(Buffer.isBuffer(text) ? text : Buffer.from(text)), (err: unknown) => isRegistryError(err, "CHART_INVALID") && names.test(err.message));
  refusedProv("name: demo\nversion: 0.1.0\n", /BEGIN PGP SIGNED MESSAGE/);
  refusedProv(good.replace("\n...\n", "\n"), /'\.\.\.' line/);
  refusedProv(good.replace(/-----BEGIN PGP SIGNATURE-----[^]*$/, ""), /no signature/);
  refusedProv(provenanceFor(CHART_YAML, {}).toString(), /lists no files/);
  refusedProv(provenanceFor(CHART_YAML.replace("demo", "../demo"), { "x.tgz": "sha256:00" }).toString(), /invalid chart name/);
  refusedProv(provenanceFor(CHART_YAML.replace("0.1.0", "zero"), { "x.tgz": "sha256:00" }).toString(), /invalid chart version/);
  refusedProv(good.replace("name: demo", "name: demo\nname: evil"), /not valid YAML/);
  refusedProv(Buffer.concat([Buffer.from(good), Buffer.alloc(MiB)]), /larger than the maximum 1 MiB/);
});

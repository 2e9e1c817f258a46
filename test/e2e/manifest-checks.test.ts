// What a real client sees of Berth's manifest checks (issue 13, points 9 and 10): oras pushes a
// manifest whose layer size lies, or one that is both an index and an image manifest. Without the
// checks both were stored (201), and every later pull failed; now the push itself fails with
// Berth's reason, and the honest manifest still goes through.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mediaTypes, sha256 } from "../support/oci-layout.ts";
import { startTarget } from "../support/registry-target.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

test("oras manifest push of a lying layer size or an ambiguous index is refused with Berth's reason; the honest manifest is pushed", { timeout: 90_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const dir = await mkdtemp(join(tmpdir(), "berth-manifest-checks-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "home"), { recursive: true });
  const target = await startTarget();
  t.after(() => target.dispose());
  const env = { HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home") };
  const remote = ["--plain-http", "--registry-config", join(dir, "home/oras-auth.json")];
  await runOk(oras, ["login", ...remote, "-u", target.username, "--password-stdin", target.host], { env, input: target.password });

  const repo = `${target.host}/checks/app`;
  const config = Buffer.from("{}");
  const layer = Buffer.from("a layer of exactly thirty bytes");
  for (const [name, bytes] of [["config.json", config], ["layer.bin", layer]] as const) {
    await writeFile(join(dir, name), bytes);
    await runOk(oras, ["blob", "push", ...remote, repo, join(dir, name)], { env, cwd: dir });
  }
  const manifest = (layerSize: number) => ({
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/octet-stream", digest: sha256(layer), size: layerSize }],
  });
  const push = async (file: string, body: object, tag: string, mediaType: string) => {
    await writeFile(join(dir, file), JSON.stringify(body));
    return run(oras, ["manifest", "push", ...remote, "--media-type", mediaType, `${repo}:${tag}`, join(dir, file)], { env, cwd: dir });
  };

  const lying = await push("lying.json", manifest(layer.length + 100), "lying", mediaTypes.manifest);
  assert.notEqual(lying.code, 0, `oras pushed a manifest whose layer size lies:\n${lying.stdout}${lying.stderr}`);
  // oras names the spec's code ("manifest invalid") and prints Berth's message after it.
  assert.match(lying.stderr, new RegExp(`manifest invalid: descriptor ${sha256(layer)} declares ${layer.length + 100} bytes, but what it names has ${layer.length}`));

  const honest = await push("honest.json", manifest(layer.length), "v1", mediaTypes.manifest);
  assert.equal(honest.code, 0, honest.stderr);
  const child = { mediaType: mediaTypes.manifest, digest: sha256(JSON.stringify(manifest(layer.length))), size: Buffer.byteLength(JSON.stringify(manifest(layer.length))) };
  const ambiguous = await push("ambiguous.json", { ...manifest(layer.length), mediaType: mediaTypes.index, manifests: [child] }, "ambiguous", mediaTypes.index);
  assert.notEqual(ambiguous.code, 0, `oras pushed an index that is also an image manifest:\n${ambiguous.stdout}${ambiguous.stderr}`);
  assert.match(ambiguous.stderr, /ambiguous manifest/);
  const tags = (await runOk(oras, ["repo", "tags", ...remote, repo], { env })).stdout.trim().split("\n");
  assert.deepEqual(tags, ["v1"]);
});

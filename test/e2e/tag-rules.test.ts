// Tag immutability rules (issue 17 point 5) through real clients: oras cannot move a release-*
// tag to other content nor delete it, helm (v3 and v4, both ways) cannot overwrite a semver chart
// version, and each client prints Berth's refusal, which names the rule. Once an owner removes
// the rule, the same pushes go through. Server side: src/domain/tag-rules.ts, ManifestService.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runBerthCli } from "../support/berth.ts";
import { api } from "../support/identity-api.ts";
import { berthFor, berthHelmPush, helmClient, HELM_VERSIONS, packageChart, plainHttp, putBlob, registryLogin } from "../support/helm.ts";
import { requireTool, run, runOk } from "../support/tools.ts";

interface Rule { id: string; repository: string; tags: string }

test("oras: a release-* tag, once pushed, is neither moved to other content nor deleted while the rule stands", { timeout: 120_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const berth = await berthFor(t);
  const dir = await mkdtemp(join(tmpdir(), "berth-oras-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, HOME: dir };
  const remote = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  await runOk(oras, ["login", ...remote, "-u", berth.username, "--password-stdin", berth.host], { env, input: berth.password });
  // The rule made with the CLI, as an owner would.
  const cli = async (args: string[]) => {
    const result = await runBerthCli([...args, "--server", berth.url, "--username", berth.username, "--password", berth.password]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };
  const rule = JSON.parse(await cli(["tag-rule", "create", "--repository", "team/*", "--tags", "release-*", "-o", "json"])) as Rule;
  assert.match(await cli(["tag-rule", "list"]), new RegExp(`${rule.id}\\s+team/\\*\\s+release-\\*`));

  const push = async (tag: string, text: string) => {
    await writeFile(join(dir, "notes.txt"), text);
    // A fixed creation time, so the same file makes the same manifest (oras stamps the time otherwise).
    return run(oras, ["push", ...remote, "--annotation", "org.opencontainers.image.created=2026-12-06T00:00:00Z", `${berth.host}/team/app:${tag}`, "notes.txt:text/plain"], { env, cwd: dir });
  };
  assert.equal((await push("release-1", "first")).code, 0);
  const first = (await runOk(oras, ["resolve", ...remote, `${berth.host}/team/app:release-1`], { env })).stdout.trim();
  assert.equal((await push("release-1", "first")).code, 0, "the same content again does not move the tag");
  const moved = await push("release-1", "second");
  assert.notEqual(moved.code, 0, `oras moved an immutable tag:\n${moved.stdout}${moved.stderr}`);
  assert.match(moved.stderr, new RegExp(`team/app:release-1 is immutable \\(tag rule ${rule.id}: repository team/\\*, tags release-\\*\\)`), moved.stderr);
  assert.equal((await runOk(oras, ["resolve", ...remote, `${berth.host}/team/app:release-1`], { env })).stdout.trim(), first, "the tag still names the first push");
  for (const target of [`${berth.host}/team/app:release-1`, `${berth.host}/team/app@${first}`]) {
    const deleted = await run(oras, ["manifest", "delete", "--force", ...remote, target], { env });
    assert.notEqual(deleted.code, 0, `oras deleted ${target}:\n${deleted.stdout}${deleted.stderr}`);
    assert.match(deleted.stderr, /is immutable \(tag rule/);
  }
  assert.equal((await push("dev", "first")).code, 0);
  assert.equal((await push("dev", "second")).code, 0, "a tag no rule covers moves as ever");

  assert.match(await cli(["tag-rule", "delete", rule.id, "--yes"]), new RegExp(`Removed tag rule ${rule.id}`));
  assert.match(await cli(["tag-rule", "list"]), /no tag rules/);
  assert.equal((await push("release-1", "second")).code, 0, "without the rule the tag moves");
  const audit = await api<{ events: { event: string; action: string; detail: Record<string, unknown> }[] }>(berth, "GET", "/api/v1/audit?event=tag-rule.changed");
  assert.deepEqual(audit.events.map((e) => [e.action, e.detail.id]), [["delete", rule.id], ["create", rule.id]]);
});

for (const version of HELM_VERSIONS) {
  test(`helm ${version}: a semver chart version under a rule is not overwritten, neither by helm push oci:// nor by berth helm push --force`, { timeout: 120_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    const berth = await berthFor(t);
    const rule = await api<Rule>(berth, "POST", "/api/v1/tag-rules", { repository: "*", tags: "semver" });
    await registryLogin(helm, berth);
    const original = await packageChart(helm, { name: "frozen", version: "1.0.0", description: "the original" });
    await helm.run(["push", original.path, `oci://${berth.host}/charts`, ...plainHttp]);
    const replacement = await packageChart(helm, { name: "frozen", version: "1.0.0", description: "a replacement" });
    const ociPush = await helm.attempt(["push", replacement.path, `oci://${berth.host}/charts`, ...plainHttp]);
    assert.notEqual(ociPush.code, 0, `helm push oci:// overwrote an immutable version:\n${ociPush.stdout}${ociPush.stderr}`);
    assert.match(ociPush.stdout + ociPush.stderr, new RegExp(`charts/frozen:1\\.0\\.0 is immutable \\(tag rule ${rule.id}`));

    // The classic way: a first push, then a forced one of other bytes.
    const classic = await packageChart(helm, { name: "kept", version: "2.0.0", description: "the original" });
    assert.equal((await putBlob(berth, classic.file, classic.bytes)).status, 201);
    const other = await packageChart(helm, { name: "kept", version: "2.0.0", description: "other" });
    const forced = await putBlob(berth, other.file, other.bytes, { method: "PATCH" });
    assert.equal(forced.status, 403);
    assert.match(await forced.text(), /repo\/kept:2\.0\.0 is immutable/);
    await assert.rejects(berthHelmPush(berth, other.path, ["--force"]), /repo\/kept:2\.0\.0 is immutable/);

    const out = await mkdtemp(join(helm.dir, "pulled-"));
    await helm.run(["pull", `oci://${berth.host}/charts/frozen`, "--version", "1.0.0", "--destination", out, ...plainHttp]);
    assert.ok((await readFile(join(out, original.file))).equals(original.bytes), "the version pulls as first pushed");
  });
}

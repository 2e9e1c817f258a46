// Helm 3 and Helm 4 against tag locks on chart versions and against a namespace that tries to
// shadow another's chart (issue 12.5, 12.7): a chart version's tag attributes hold for classic
// `helm pull`, `helm cm-push --force` and `helm push oci://` alike, and `helm pull berth/<chart>`
// from the merged view gives the package of the repository that published the name first,
// whatever a principal limited to another namespace pushes. Rules: docs/helm.md "How the two
// ways meet"; server side: src/handlers/helm/routes.ts, src/services/charts/chart-index.ts.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { createServicePrincipal, patchAttributes } from "../support/identity-api.ts";
import { berthFor, helmClient, helmPluginsDir, HELM_VERSIONS, packageChart, plainHttp, putBlob, registryLogin, repoAdd, type HelmVersion } from "../support/helm.ts";

async function lockedVersions(t: TestContext, version: HelmVersion): Promise<void> {
  const helm = await helmClient(t, version);
  if (!helm) return;
  const berth = await berthFor(t);
  const readable = await packageChart(helm, { name: "vault", version: "1.0.0" });
  const unreadable = await packageChart(helm, { name: "vault", version: "2.0.0" });
  const frozen = await packageChart(helm, { name: "vault", version: "3.0.0", description: "the original" });
  for (const chart of [readable, unreadable, frozen]) assert.equal((await putBlob(berth, chart.file, chart.bytes)).status, 201);
  await patchAttributes(berth, "repo/vault", { readEnabled: false }, "2.0.0");
  await patchAttributes(berth, "repo/vault", { writeEnabled: false, deleteEnabled: false }, "3.0.0");

  await repoAdd(helm, berth);
  const out = await mkdtemp(join(helm.dir, "pulled-"));
  await helm.run(["pull", "berth/vault", "--version", "1.0.0", "--destination", out]);
  const refused = await helm.attempt(["pull", "berth/vault", "--version", "2.0.0", "--destination", out]);
  assert.notEqual(refused.code, 0, `helm pull of a read-locked version succeeded:\n${refused.stdout}${refused.stderr}`);
  assert.match(refused.stdout + refused.stderr, /403/);
  assert.ok(!existsSync(join(out, unreadable.file)), "nothing was written for the read-locked version");

  const replacement = await packageChart(helm, { name: "vault", version: "3.0.0", description: "a replacement" });
  if (existsSync(join(helmPluginsDir, "cm-push/plugin.yaml"))) {
    const pushed = await helm.attempt(["cm-push", replacement.path, "berth", "--force"]);
    assert.notEqual(pushed.code, 0, `helm cm-push --force of a write-locked version succeeded:\n${pushed.stdout}${pushed.stderr}`);
    assert.match(pushed.stdout + pushed.stderr, /locked \(writeEnabled is false\)/, "cm-push prints Berth's reason");
  }
  assert.equal((await putBlob(berth, replacement.file, replacement.bytes, { method: "PATCH" })).status, 403);
  await registryLogin(helm, berth);
  const ociPush = await helm.attempt(["push", replacement.path, `oci://${berth.host}/repo`, ...plainHttp]);
  assert.notEqual(ociPush.code, 0, `helm push oci:// of a write-locked version succeeded:\n${ociPush.stdout}${ociPush.stderr}`);

  await helm.run(["repo", "update"]);
  const again = await mkdtemp(join(helm.dir, "frozen-"));
  await helm.run(["pull", "berth/vault", "--version", "3.0.0", "--destination", again]);
  assert.ok((await readFile(join(again, frozen.file))).equals(frozen.bytes), "the write-locked version came back changed");
}

async function noShadowing(t: TestContext, version: HelmVersion): Promise<void> {
  const helm = await helmClient(t, version);
  if (!helm) return;
  const berth = await berthFor(t);
  const theirs = await packageChart(helm, { name: "bchart", version: "0.1.0", description: "team-b's" });
  assert.equal((await putBlob(berth, theirs.file, theirs.bytes, { repository: "team-b" })).status, 201);
  // A principal that may push to team-a only, with its own helm login.
  const intruder = await createServicePrincipal(berth, "team-a-ci", "acrpush", { scope: "team-a/*" });
  await helm.run(["registry", "login", berth.host, ...plainHttp, "--username", intruder.id, "--password-stdin"], { input: intruder.secret });
  for (const v of ["0.1.0", "9.9.9"]) {
    const mine = await packageChart(helm, { name: "bchart", version: v, description: "team-a's" });
    await helm.run(["push", mine.path, `oci://${berth.host}/team-a`, ...plainHttp]);
  }

  await repoAdd(helm, berth);
  for (const args of [["--version", "0.1.0"], []]) {
    const out = await mkdtemp(join(helm.dir, "pulled-"));
    await helm.run(["pull", "berth/bchart", ...args, "--destination", out]);
    assert.ok((await readFile(join(out, theirs.file))).equals(theirs.bytes), `helm pull berth/bchart ${args.join(" ")} did not give team-b's package`);
  }
  // team-a's versions are in team-a's own view.
  await repoAdd(helm, berth, "team-a", "team-a");
  const out = await mkdtemp(join(helm.dir, "own-"));
  await helm.run(["pull", "team-a/bchart", "--version", "9.9.9", "--destination", out]);
  assert.ok(existsSync(join(out, "bchart-9.9.9.tgz")));
}

for (const version of HELM_VERSIONS) {
  const name = version === "v3" ? "helm3" : "helm4";
  test(`${name}: a read-locked chart version does not pull; a write-locked one is not overwritten by cm-push --force, PATCH or helm push`, { timeout: 120_000 }, (t) => lockedVersions(t, version));
  test(`${name}: helm pull berth/bchart gives the first publisher's package, whatever another namespace pushes`, { timeout: 120_000 }, (t) => noShadowing(t, version));
}

// Classic chart pushes killed with SIGKILL mid-flight (issue 14.4): a classic push is one
// metadata transaction, so after a restart every chart version is either there both ways (in
// `helm search repo`, tagged over OCI, its repository in the catalog) or not at all: never a
// repository or blob link left behind without its chart. fsck is clean, and pushing what was
// lost works (no CHART_EXISTS from a half-stored push). Where a kill lands is up to timing; the
// exact window (after the manifest, before the commit) is hit every time by
// test/http/helm-push-atomic.test.ts.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { assertFsckClean } from "../support/berth-cli.ts";
import { validChart } from "../support/chart-fixtures.ts";
import { settle } from "../support/crash-points.ts";
import { berthFetch, berthFor, chartMuseumPost, helmClient, putBlob, repoAdd } from "../support/helm.ts";

interface SearchHit { name: string; version: string }

const CHARTS = 16;

test("kill -9 during 16 concurrent classic pushes: each chart is there both ways or not at all; fsck clean; the lost ones push again", { timeout: 240_000 }, async (t) => {
  const helm = await helmClient(t, "v3");
  if (!helm) return;
  const berth = await berthFor(t);
  await repoAdd(helm, berth);

  // Each round first times an uncrashed burst (warm, as the process is after a restart), then
  // kills the next burst at a fraction of that time (answers come in a cluster at the end), so some pushes are done
  // and some in flight (a fixed delay missed the burst: timings swing several-fold on a loaded machine).
  for (const [round, fraction] of [0.6, 0.85, 0.97].entries()) {
    const burst = async (prefix: string) => {
      const names = Array.from({ length: CHARTS }, (_, i) => `${prefix}c${i}`);
      const packages = await Promise.all(names.map((name) => validChart({ name, version: "0.1.0" })));
      // Half through ACR's PUT _blobs, half through ChartMuseum's multipart POST.
      const push = (i: number) => (i % 2 === 0 ? putBlob(berth, `${names[i]}-0.1.0.tgz`, packages[i]!) : chartMuseumPost(berth, { chart: packages[i]!, file: `${names[i]}-0.1.0.tgz` }));
      const started = performance.now();
      const answers: number[] = [];
      const pending = names.map((_, i) => settle(push(i)).finally(() => answers.push(performance.now() - started)));
      return { names, packages, push, pending, answers };
    };
    const warm = await burst(`w${round}`);
    await Promise.all(warm.pending);
    const [first, last] = [Math.min(...warm.answers), Math.max(...warm.answers)];
    const killAt = fraction * last;

    const { names, packages, push, pending } = await burst(`r${round}`);
    await sleep(killAt);
    await berth.kill();
    const answered = await Promise.all(pending);
    await berth.restart();
    const delayMs = Math.round(killAt);

    await assertFsckClean(berth, `after a kill ${delayMs} ms into ${CHARTS} classic pushes`);
    const catalog = new Set(((await (await berthFetch(berth, "/v2/_catalog?n=1000")).json()) as { repositories: string[] }).repositories);
    await helm.run(["repo", "update", "berth"]);
    const listed = new Set((await helm.json<SearchHit[]>(["search", "repo", `berth/r${round}c`, "--versions", "-o", "json"])).map((h) => h.name.replace(/^berth\//, "")));
    let stored = 0;
    for (const [i, name] of names.entries()) {
      const tag = await berthFetch(berth, `/v2/repo/${name}/manifests/0.1.0`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
      const ways = { "helm search repo": listed.has(name), "OCI tag": tag.status === 200, catalog: catalog.has(`repo/${name}`) };
      assert.ok(Object.values(ways).every((w) => w === ways["helm search repo"]), `${name} is half stored after the crash: ${JSON.stringify(ways)}`);
      const result = answered[i]!;
      if (result.ok && result.value.status === 201) assert.ok(ways["helm search repo"], `${name}: answered 201 before the crash, yet gone`);
      if (ways["helm search repo"]) stored++;
      else {
        const again = await push(i);
        assert.equal(again.status, 201, `${name} pushed again after the crash: ${again.status} ${await again.text()}`);
      }
    }
    t.diagnostic(`round ${round} (killed at ${delayMs} ms; warm burst answered in ${Math.round(first)}-${Math.round(last)} ms): ${stored}/${CHARTS} charts stored before the crash`);

    // Everything is there both ways now; one chart pulled with helm is byte for byte the package.
    await helm.run(["repo", "update", "berth"]);
    assert.equal((await helm.json<SearchHit[]>(["search", "repo", `berth/r${round}c`, "--versions", "-o", "json"])).length, CHARTS);
    const out = await mkdtemp(join(helm.dir, "pull-"));
    await helm.run(["pull", `berth/${names[0]}`, "--version", "0.1.0", "--destination", out]);
    assert.ok((await readFile(join(out, `${names[0]}-0.1.0.tgz`))).equals(packages[0]!), `helm pull berth/${names[0]} came back different`);
  }
  await assertFsckClean(berth, "after pushing the lost charts again");
});

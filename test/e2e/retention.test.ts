// Retention (issue 17 point 3) on a repository built by real pushes: 1,000 tags over ten artifacts
// (one `oras push` each, then `oras tag` for the rest), untagged manifests from re-pushed tags, an
// index with children (kept) and an untagged one (goes, children after it), referrers on a kept
// and on a deleted subject (`oras attach`), and an immutable tag. The dry run (berth retention run
// --dry-run) equals the real run item for item; nothing a kept manifest references goes; after
// `berth gc` the store passes `berth fsck`, and kept tags still pull with oras.
//
// Time: Berth has no seam to move the database's clock (metadata/db-clock.ts reads the real one),
// and pretending would test the seam, not retention. So the manifests here are all minutes old:
// an untagged policy of 1 day is shown to delete nothing, and one of 0 days ("any untagged
// manifest", as ACR's days 0) does the deleting, with retention.gracePeriod (an hour by default,
// which would keep them all) set to 0. The ages themselves are the planner's unit tests.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runBerthCli, type RunningBerth } from "../support/berth.ts";
import { api } from "../support/identity-api.ts";
import { berthFor } from "../support/helm.ts";
import { requireTool, runOk } from "../support/tools.ts";

interface Item { repository: string; tag?: string; digest: string; policy: string; reason: string; outcome: string; protected?: string }
interface Run { dryRun: boolean; items: Item[]; summary: { tagsDeleted: number; manifestsDeleted: number; skipped: number; policies: { id: string }[] } }
interface Policy { id: string }

const INDEX = "application/vnd.oci.image.index.v1+json";
const tagName = (n: number) => `t${String(n).padStart(4, "0")}`;

/** Retention events: the log holds thousands of entries by now, read a page at a time from the start. */
async function retentionEvents<T>(berth: RunningBerth): Promise<T[]> {
  const found: T[] = [];
  for (let after = 0; ; ) {
    const page = await api<{ events: T[]; next: number }>(berth, "GET", `/api/v1/events?action=retention&limit=1000&after=${after}`);
    found.push(...page.events);
    if (page.next === after) return found;
    after = page.next;
  }
}

async function cliOk(berth: RunningBerth, args: string[]): Promise<string> {
  const result = await runBerthCli([...args, "--server", berth.url, "--username", berth.username, "--password", berth.password]);
  assert.equal(result.code, 0, `berth ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

test("retention on 1,000 tags and untagged manifests made by real pushes: dry run equals the real run, nothing referenced goes, gc then fsck clean, kept tags pull", { timeout: 900_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const berth = await berthFor(t, { env: { BERTH_RETENTION_GRACE_PERIOD: "0" } });
  const dir = await mkdtemp(join(tmpdir(), "berth-retention-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, HOME: dir };
  const remote = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  const repo = `${berth.host}/team/app`;
  const orasOk = (args: string[]) => runOk(oras, args, { env, cwd: dir });
  await runOk(oras, ["login", ...remote, "-u", berth.username, "--password-stdin", berth.host], { env, input: berth.password });
  const push = async (tag: string, text: string, file = "notes.txt"): Promise<string> => {
    await writeFile(join(dir, file), text);
    const out = await orasOk(["push", ...remote, "--format", "json", `${repo}:${tag}`, `${file}:text/plain`]);
    return (JSON.parse(out.stdout) as { digest: string }).digest;
  };
  const descriptor = async (ref: string) => JSON.parse((await orasOk(["manifest", "fetch", ...remote, "--descriptor", ref])).stdout) as { mediaType: string; digest: string; size: number };
  const deleteTag = async (tag: string) => assert.deepEqual(await api(berth, "DELETE", `/api/v1/repositories/team/app/tags/${tag}`), { deleted: true });

  // Ten artifacts, a hundred tags each: t0001-t0100 on the first, …, t0901-t1000 on the last.
  const artifacts: string[] = [];
  for (let k = 0; k < 10; k++) {
    artifacts.push(await push(tagName(k * 100 + 1), `artifact ${k}\n`));
    const more = Array.from({ length: 99 }, (_, i) => tagName(k * 100 + 2 + i));
    await orasOk(["tag", ...remote, `${repo}:${tagName(k * 100 + 1)}`, ...more]);
  }
  const tags = (await orasOk(["repo", "tags", ...remote, repo])).stdout.trim().split("\n");
  assert.equal(tags.filter((tag) => /^t\d{4}$/.test(tag)).length, 1000);

  // Untagged by re-pushing: rel moves three times, leaving two untagged manifests behind.
  const releases = [await push("rel", "release 1\n"), await push("rel", "release 2\n"), await push("rel", "release 3\n")];
  // An index with two children, tagged (kept); another with two children, untagged (goes). The
  // children were pushed under tags, which are then deleted: they stay only through their index.
  const makeIndex = async (name: string, children: string[]): Promise<string> => {
    const descriptors = [];
    for (const child of children) descriptors.push(await descriptor(`${repo}:${child}`));
    await writeFile(join(dir, `${name}.json`), JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: descriptors.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })) }));
    await orasOk(["manifest", "push", ...remote, "--media-type", INDEX, `${repo}:${name}`, `${name}.json`]);
    for (const child of children) await deleteTag(child);
    return (await descriptor(`${repo}:${name}`)).digest;
  };
  const keptChildren = [await push("child-a", "child a\n"), await push("child-b", "child b\n")];
  const keptIndex = await makeIndex("multi", ["child-a", "child-b"]);
  const goneChildren = [await push("child-c", "child c\n"), await push("child-d", "child d\n")];
  const goneIndex = await makeIndex("old-multi", ["child-c", "child-d"]);
  await deleteTag("old-multi");
  // Referrers: on the newest artifact (kept) and on the first (all its tags go, so it goes).
  const attach = async (ref: string, text: string) => {
    await writeFile(join(dir, "sbom.json"), text);
    const out = await orasOk(["attach", ...remote, "--distribution-spec", "v1.1-referrers-api", "--artifact-type", "application/vnd.example.sbom", "--format", "json", ref, "sbom.json:application/json"]);
    return (JSON.parse(out.stdout) as { digest: string }).digest;
  };
  const keptReferrer = await attach(`${repo}:${tagName(1000)}`, '{"sbom": "newest"}');
  const goneReferrer = await attach(`${repo}:${tagName(1)}`, '{"sbom": "first"}');
  // An immutable tag on the second artifact: retention skips it, so that artifact stays tagged.
  const rule = JSON.parse(await cliOk(berth, ["tag-rule", "create", "--repository", "team/app", "--tags", tagName(150), "-o", "json"])) as Policy;

  // A day's age has not passed for anything here: an untagged policy of 1 day deletes nothing.
  const dayOld = JSON.parse(await cliOk(berth, ["retention", "create", "--repository", "team/*", "--untagged-days", "1", "-o", "json"])) as Policy;
  assert.deepEqual((JSON.parse(await cliOk(berth, ["retention", "run", "--dry-run", "-o", "json"])) as Run).items, []);
  await cliOk(berth, ["retention", "delete", dayOld.id, "--yes"]);

  const keep = JSON.parse(await cliOk(berth, ["retention", "create", "--repository", "team/app", "--keep-newest", "10", "--tags", "t*", "-o", "json"])) as Policy;
  const untagged = JSON.parse(await cliOk(berth, ["retention", "create", "--repository", "team/*", "--untagged-days", "0", "-o", "json"])) as Policy;
  assert.match(await cliOk(berth, ["retention", "list"]), new RegExp(`${keep.id}\\s+team/app\\s+only the newest 10 tags matching t\\* stay`));

  const dry = JSON.parse(await cliOk(berth, ["retention", "run", "--dry-run", "-o", "json"])) as Run;
  const table = await cliOk(berth, ["retention", "run", "--dry-run"]);
  assert.match(table, /Dry run: would delete 989 tags and 14 manifests; skipped 1/);
  assert.match(table, new RegExp(`would delete\\s+team/app\\s+tag t0001\\s+tag t0001 is the 1000th newest of 't\\*' \\(policy ${keep.id} keeps 10\\)`));

  const real = JSON.parse(await cliOk(berth, ["retention", "run", "-o", "json"])) as Run;
  const strip = (items: Item[]) => items.map(({ outcome: _, ...rest }) => rest);
  assert.equal(real.items.length, dry.items.length);
  assert.deepEqual(strip(real.items), strip(dry.items), "the real run is the dry run's plan, item for item");
  assert.deepEqual(real.items.map((i) => i.outcome), dry.items.map((i) => (i.outcome === "planned" ? "deleted" : i.outcome)));
  assert.deepEqual({ ...real.summary, policies: undefined }, { tagsDeleted: 989, manifestsDeleted: 14, skipped: 1, policies: undefined });

  // What went: 989 tags (t0150 is immutable), artifacts 0 and 2-8, the referrer of artifact 0,
  // the untagged index and then its children, the two manifests rel left behind.
  const skipped = real.items.filter((i) => i.outcome === "skipped");
  assert.deepEqual(skipped.map((i) => i.tag), [tagName(150)]);
  assert.match(skipped[0]!.protected!, new RegExp(`team/app:t0150 is immutable \\(tag rule ${rule.id}`));
  const goneManifests = real.items.filter((i) => i.tag === undefined).map((i) => i.digest);
  assert.deepEqual(new Set(goneManifests), new Set([artifacts[0], ...artifacts.slice(2, 9), goneReferrer, goneIndex, ...goneChildren, releases[0], releases[1]]));
  assert.ok(goneManifests.indexOf(goneIndex) < goneManifests.indexOf(goneChildren[0]!), "an index goes before its children");
  assert.ok(goneManifests.indexOf(artifacts[0]!) < goneManifests.indexOf(goneReferrer), "a subject goes before its referrers");
  assert.match(real.items.find((i) => i.digest === goneReferrer)!.reason, new RegExp(`referrer of ${artifacts[0]!.slice(0, 19)}, which goes`));

  // What stayed, as oras sees it: the ten newest t* tags (all on the newest artifact) and t0150.
  const left = (await orasOk(["repo", "tags", ...remote, repo])).stdout.trim().split("\n").sort();
  const kept = left.filter((tag) => /^t\d{4}$/.test(tag));
  assert.equal(kept.length, 11, kept.join(" "));
  assert.deepEqual(left.filter((tag) => !/^t\d{4}$/.test(tag)), ["multi", "rel"]);
  for (const tag of kept) assert.equal((await descriptor(`${repo}:${tag}`)).digest, tag === tagName(150) ? artifacts[1] : artifacts[9], tag);
  for (const digest of [...keptChildren, keptIndex, keptReferrer, releases[2]!]) await orasOk(["manifest", "fetch", ...remote, `${repo}@${digest}`]);
  const discovered = JSON.parse((await orasOk(["discover", ...remote, "--distribution-spec", "v1.1-referrers-api", "--format", "json", `${repo}:${tagName(1000)}`])).stdout) as { referrers: { digest: string }[] };
  assert.deepEqual(discovered.referrers.map((r) => r.digest), [keptReferrer], "the referrer of a kept subject stays");

  // One event for the run, with the actor and the counts per policy.
  const events = await retentionEvents<{ actor: { name: string }; target: { retention: Run["summary"] & { trigger: string } } }>(berth);
  assert.equal(events.length, 1, "one event for the real run, none for the dry runs");
  assert.equal(events[0]!.actor.name, "admin");
  assert.equal(events[0]!.target.retention.trigger, "demand");
  assert.deepEqual(events[0]!.target.retention.policies.map((p) => p.id), [keep.id, untagged.id]);

  // gc frees what retention left unreferenced; fsck finds every kept manifest whole.
  const gc = await berth.cli(["gc", "--grace-period", "0"]);
  assert.equal(gc.code, 0, gc.stderr);
  const fsck = await berth.cli(["fsck"]);
  assert.equal(fsck.code, 0, `${fsck.stdout}${fsck.stderr}`);
  await orasOk(["pull", ...remote, `${repo}:${tagName(1000)}`, "-o", join(dir, "pulled")]);
  assert.equal(await readFile(join(dir, "pulled", "notes.txt"), "utf8"), "artifact 9\n");
  await orasOk(["pull", ...remote, `${repo}:rel`, "-o", join(dir, "pulled-rel")]);
  assert.equal(await readFile(join(dir, "pulled-rel", "notes.txt"), "utf8"), "release 3\n");
});

test("berth serve runs retention on its schedule (retention.interval), as one event with the system actor", { timeout: 180_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  if (!oras) return;
  const berth = await berthFor(t, { env: { BERTH_RETENTION_INTERVAL: "1", BERTH_RETENTION_GRACE_PERIOD: "0" } });
  const dir = await mkdtemp(join(tmpdir(), "berth-retention-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, HOME: dir };
  const remote = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  await runOk(oras, ["login", ...remote, "-u", berth.username, "--password-stdin", berth.host], { env, input: berth.password });
  const digests: string[] = [];
  for (const text of ["one\n", "two\n"]) {
    await writeFile(join(dir, "notes.txt"), text);
    digests.push((JSON.parse((await runOk(oras, ["push", ...remote, "--format", "json", `${berth.host}/team/app:latest`, "notes.txt:text/plain"], { env, cwd: dir })).stdout) as { digest: string }).digest);
  }
  await cliOk(berth, ["retention", "create", "--repository", "team/*", "--untagged-days", "0"]);
  // Wait for the scheduled run, however long the loaded machine takes (the test's timeout bounds it).
  let events: { actor: { name: string; kind: string }; target: { retention: { trigger: string; manifestsDeleted: number } } }[] = [];
  while (events.length === 0) {
    await new Promise((r) => setTimeout(r, 500));
    events = await retentionEvents<(typeof events)[number]>(berth);
  }
  assert.equal(events[0]!.target.retention.trigger, "schedule");
  assert.deepEqual([events[0]!.actor.name, events[0]!.actor.kind], ["retention", "system"]);
  assert.equal(events[0]!.target.retention.manifestsDeleted, 1);
  const manifest = await fetch(`${berth.url}/v2/team/app/manifests/${digests[0]}`, { method: "HEAD", headers: { authorization: berth.basicAuth } });
  assert.equal(manifest.status, 404, "the untagged manifest went");
});

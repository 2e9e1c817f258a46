// Webhook payloads and signatures checked from the outside (issue 17's audit):
// - every delivery's Berth-Signature is recomputed here with node:crypto as docs/lifecycle.md
//   ("Signatures") tells a receiver to, and the docs' own receiver block is run against it (read
//   from the docs at test time, so the docs cannot drift from what Berth sends); the timestamp is
//   checked against the documented replay window, and that block refuses what it must;
// - each ACR and distribution payload is validated whole against its format: a strict schema of
//   every field ACR's webhook reference and distribution's notifications/event.go name (no other
//   field but Berth's documented `actor` and `berth`), the fields each action must carry, and
//   their values against the event stream;
// - charts pushed with `helm push oci://` and deleted through /v2 (by digest with oras, by tag with
//   crane) give their chart_delete event, stored as oci.
// Real clients (oras, crane, helm), `berth serve`, a real HTTP receiver; the default backoff.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { HTTP, type CloudEvent } from "cloudevents";
import { z } from "zod";
import { repoRoot, runBerthCli, type RunningBerth } from "../support/berth.ts";
import { berthFor, helmClient, packageChart, plainHttp, registryLogin } from "../support/helm.ts";
import { requireTool, runOk } from "../support/tools.ts";
import { WebhookReceiver, type Received } from "../support/webhook-receiver.ts";

const WEBHOOKS = { BERTH_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1", BERTH_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: "true", BERTH_WEBHOOKS_INTERVAL: "0.1" };
const ACTIONS = ["push", "delete", "chart_push", "chart_delete"] as const;
type Action = (typeof ACTIONS)[number];

interface Event {
  id: number;
  timestamp: string;
  action: Action;
  target: { repository?: string; tag?: string; digest?: string; mediaType?: string; size?: number; chart?: { name: string; version: string | null; storedAs: string; size?: number; archive?: string } };
  actor: { name: string; kind: string; address: string | null; userAgent: string | null; requestId?: string | null } | null;
}

type Verify = (secret: string, headers: IncomingHttpHeaders, rawBody: Buffer, now?: number) => boolean;

/** The receiver block of docs/lifecycle.md's "Signatures", as a module of its own. */
async function docsReceiver(dir: string): Promise<{ verified: Verify; REPLAY_WINDOW_SECONDS: number }> {
  const docs = await readFile(join(repoRoot, "docs/lifecycle.md"), "utf8");
  const section = docs.slice(docs.indexOf("### Signatures"));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "docs/lifecycle.md shows a receiver in JavaScript under Signatures");
  const file = join(dir, "receiver.mjs");
  await writeFile(file, block);
  return (await import(pathToFileURL(file).href)) as { verified: Verify; REPLAY_WINDOW_SECONDS: number };
}

/** What the docs say, done here by hand: HMAC-SHA256(secret, "<Berth-Timestamp>.<raw body>"), hex, after "sha256=". */
function checkSignedByHand(secret: string, r: Received, windowSeconds: number): void {
  const timestamp = r.headers["berth-timestamp"];
  assert.ok(typeof timestamp === "string" && /^[0-9]+$/.test(timestamp), `Berth-Timestamp is Unix seconds: ${String(timestamp)}`);
  const mac = createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.concat([Buffer.from(`${timestamp}.`, "utf8"), r.raw])).digest("hex");
  assert.equal(r.headers["berth-signature"], `sha256=${mac}`);
  const sent = Number(timestamp);
  const arrived = r.at / 1000;
  // Taken at the attempt (so not after it arrived), and well inside the window a receiver allows.
  assert.ok(sent <= Math.ceil(arrived), `timestamp ${sent} is not after the arrival ${arrived}`);
  assert.ok(Math.abs(arrived - sent) <= windowSeconds, `timestamp ${sent} within ${windowSeconds} s of the arrival ${arrived}`);
}

// The formats, whole. ACR: https://learn.microsoft.com/azure/container-registry/container-registry-webhook-reference
// (push, delete, chart push, chart delete). distribution: notifications/event.go (Event, RequestRecord,
// ActorRecord, SourceRecord), sent as the v1 envelope.
const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const Time = z.iso.datetime();
const Berth = z.strictObject({
  action: z.enum(ACTIONS),
  chart: z.strictObject({ name: z.string().min(1), version: z.string().min(1).nullable(), storedAs: z.enum(["classic", "oci"]), size: z.number().int().positive(), archive: Digest }).optional(),
});
/** The target fields ACR's payload and distribution's event share (each adds its own). */
const TARGET = {
  mediaType: z.string().min(1).optional(),
  size: z.number().int().nonnegative().optional(),
  digest: Digest.optional(),
  length: z.number().int().nonnegative().optional(),
  repository: z.string().min(1),
  tag: z.string().min(1).optional(),
};
/** ACR's chart_push and chart_delete target, whole: these fields, no `length`, the chart package's mediaType. */
const AcrChartTarget = z.strictObject({
  mediaType: z.literal("application/vnd.acr.helm.chart"),
  size: z.number().int().positive(),
  digest: Digest,
  repository: z.string().min(1),
  tag: z.string().min(1),
  name: z.string().min(1),
  version: z.string().min(1),
});
const AcrPayload = z.strictObject({
  id: z.string().regex(/^[0-9]+$/),
  timestamp: Time,
  action: z.enum(ACTIONS),
  target: z.strictObject({
    ...TARGET,
    name: z.string().min(1).optional(),
    version: z.string().min(1).optional(),
  }),
  request: z.strictObject({ id: z.string(), host: z.string().min(1), method: z.enum(["PUT", "DELETE"]), useragent: z.string() }),
  // Berth's additions (docs/lifecycle.md): who, and what ACR has no field for.
  actor: z.strictObject({ name: z.string().min(1), kind: z.string().min(1) }),
  berth: Berth,
});
/** The target fields ACR's reference shows for each action (what Berth knows of them). */
const ACR_REQUIRED: Record<Action, string[]> = {
  push: ["mediaType", "size", "digest", "length", "repository"],
  delete: ["mediaType", "digest", "repository"],
  chart_push: ["mediaType", "size", "digest", "repository", "tag", "name", "version"],
  chart_delete: ["mediaType", "size", "digest", "repository", "tag", "name", "version"],
};
const DistributionEvent = z.strictObject({
  id: z.string().min(1),
  timestamp: Time,
  action: z.enum(["push", "delete"]),
  target: z.strictObject({
    ...TARGET,
    fromRepository: z.string().min(1).optional(),
    url: z.url().optional(),
    references: z.array(z.unknown()).optional(),
  }),
  // id, method and useragent always; addr and host only when known (omitempty).
  request: z.strictObject({ id: z.string(), addr: z.string().min(1).optional(), host: z.string().min(1).optional(), method: z.enum(["PUT", "DELETE"]), useragent: z.string() }),
  actor: z.strictObject({ name: z.string().min(1).optional() }),
  source: z.strictObject({ addr: z.string().min(1), instanceID: z.uuid() }),
  berth: Berth,
});
const DistributionEnvelope = z.strictObject({ events: z.array(DistributionEvent).length(1) });

function present(target: Record<string, unknown>, fields: string[], what: string): void {
  for (const f of fields) assert.ok(target[f] !== undefined, `${what}: target.${f} (ACR's reference has it)`);
}

/** The target's values against the event's: the same content, as each format names it. */
function sameTarget(target: Record<string, unknown>, e: Event, what: string): void {
  assert.equal(target.repository, e.target.repository, what);
  assert.equal(target.digest, e.target.digest, what);
  assert.equal(target.tag, e.target.tag, what);
  assert.equal(target.mediaType, e.target.mediaType, what);
  assert.equal(target.size, e.target.size, what);
  assert.equal(target.length, e.target.size, `${what}: length is size again`);
}

test("ACR and distribution payloads are whole and valid for push, delete and OCI chart push and delete; every signature holds when recomputed as the docs say, and the docs' receiver accepts them and refuses replays", { timeout: 240_000 }, async (t) => {
  const oras = requireTool(t, "oras");
  const crane = requireTool(t, "crane");
  const helm = await helmClient(t, "v4");
  if (!oras || !crane || !helm) return;
  const berth: RunningBerth = await berthFor(t, { env: WEBHOOKS });
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const dir = await mkdtemp(join(tmpdir(), "berth-webhook-formats-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { verified, REPLAY_WINDOW_SECONDS } = await docsReceiver(dir);
  assert.equal(REPLAY_WINDOW_SECONDS, 300, "the window the docs state in words");
  const cli = async (args: string[]) => {
    const run = await runBerthCli([...args, "--server", berth.url, "-u", berth.username, "-p", berth.password]);
    assert.equal(run.code, 0, `berth ${args.join(" ")}: ${run.stderr}`);
    return run.stdout;
  };
  const secrets: Record<string, string> = {};
  for (const [name, format] of [["acr", "acr"], ["dist", "distribution"], ["ce", "cloudevents"]] as const) {
    secrets[`/${name}`] = (JSON.parse(await cli(["webhook", "create", name, "--uri", `${receiver.url}/${name}`, "--actions", ...ACTIONS, "--format", format, "-o", "json"])) as { secret: string }).secret;
  }

  await mkdir(join(dir, "home/.docker"), { recursive: true });
  const env = { HOME: join(dir, "home"), DOCKER_CONFIG: join(dir, "home/.docker") };
  const login = ["--plain-http", "-u", berth.username, "-p", berth.password];
  await writeFile(join(dir, "note.txt"), "formats\n");
  await runOk(oras, ["push", ...login, `${berth.host}/e2e/app:v1`, "note.txt:text/plain"], { env, cwd: dir });
  await runOk(oras, ["push", ...login, `${berth.host}/e2e/app:v2`, "note.txt:text/plain", "--annotation", "n=2"], { env, cwd: dir });
  await registryLogin(helm, berth);
  const archiveSize: Record<string, number> = {};
  const archive: Record<string, string> = {};
  for (const [name, version] of [["bydigest", "1.0.0"], ["bytag", "2.0.0"]] as const) {
    const chart = await packageChart(helm, { name, version });
    archiveSize[name] = (await stat(chart.path)).size;
    archive[name] = `sha256:${createHash("sha256").update(await readFile(chart.path)).digest("hex")}`;
    await helm.run(["push", chart.path, `oci://${berth.host}/charts`, ...plainHttp]);
  }
  const resolve = async (ref: string) => (await runOk(oras, ["resolve", ...login, `${berth.host}/${ref}`], { env })).stdout.trim();
  const v2 = await resolve("e2e/app:v2");
  const byDigest = await resolve("charts/bydigest:1.0.0");
  const byTag = await resolve("charts/bytag:2.0.0");
  await runOk(crane, ["auth", "login", berth.host, "-u", berth.username, "--password-stdin"], { env, input: berth.password });
  await runOk(crane, ["delete", `${berth.host}/e2e/app:v1`, "--insecure"], { env }); // a tag, through /v2
  await runOk(oras, ["manifest", "delete", "--force", ...login, `${berth.host}/e2e/app@${v2}`], { env }); // a manifest, by digest
  await runOk(oras, ["manifest", "delete", "--force", ...login, `${berth.host}/charts/bydigest@${byDigest}`], { env }); // an OCI chart, by digest
  await runOk(crane, ["delete", `${berth.host}/charts/bytag:2.0.0`, "--insecure"], { env }); // an OCI chart, by its version's tag
  const gone = await helm.attempt(["pull", `oci://${berth.host}/charts/bytag`, "--version", "2.0.0", ...plainHttp]);
  assert.notEqual(gone.code, 0, "helm no longer finds the chart deleted by tag");

  const res = await fetch(`${berth.url}/api/v1/events?limit=1000`, { headers: { authorization: berth.basicAuth } });
  const stream = ((await res.json()) as { events: Event[] }).events.filter((e) => (ACTIONS as readonly string[]).includes(e.action));
  const byId = new Map(stream.map((e) => [String(e.id), e]));
  // The OCI charts' deletes: the manifest's delete and the chart's, with how it was stored.
  const chartDeletes = stream.filter((e) => e.action === "chart_delete");
  assert.deepEqual(
    chartDeletes.map((e) => ({ repository: e.target.repository, tag: e.target.tag, digest: e.target.digest, chart: e.target.chart })),
    [
      { repository: "charts/bydigest", tag: "1.0.0", digest: byDigest, chart: { name: "bydigest", version: "1.0.0", storedAs: "oci", size: archiveSize.bydigest, archive: archive.bydigest } },
      { repository: "charts/bytag", tag: "2.0.0", digest: byTag, chart: { name: "bytag", version: "2.0.0", storedAs: "oci", size: archiveSize.bytag, archive: archive.bytag } },
    ],
  );
  for (const c of chartDeletes) {
    assert.ok(stream.some((e) => e.action === "delete" && e.target.repository === c.target.repository && e.id < c.id), `${c.target.repository}: its /v2 delete comes first`);
    assert.match(c.actor?.userAgent ?? "", /oras|go-containerregistry|crane/i, "the chart_delete names the client that deleted it");
  }
  // Helm 4 puts a chart's manifest by digest, then under its version's tag: two pushes.
  assert.deepEqual(
    stream.map((e) => `${e.action} ${e.target.repository}${e.target.tag ? `:${e.target.tag}` : ""}`),
    ["push e2e/app:v1", "push e2e/app:v2", "push charts/bydigest", "push charts/bydigest:1.0.0", "chart_push charts/bydigest:1.0.0", "push charts/bytag", "push charts/bytag:2.0.0", "chart_push charts/bytag:2.0.0", "delete e2e/app:v1", "delete e2e/app", "delete charts/bydigest", "chart_delete charts/bydigest:1.0.0", "delete charts/bytag:2.0.0", "chart_delete charts/bytag:2.0.0"],
  );

  await receiver.waitFor(3 * stream.length);
  for (const [path, secret] of Object.entries(secrets)) {
    const got = receiver.on(path);
    assert.equal(got.length, stream.length, `${path}: one delivery per event`);
    for (const r of got) {
      checkSignedByHand(secret, r, REPLAY_WINDOW_SECONDS);
      assert.ok(verified(secret, r.headers, r.raw, r.at), `${path}: the docs' receiver accepts delivery ${String(r.headers["berth-delivery"])}`);
    }
  }

  // What the docs' receiver must refuse: another body, another secret, a replay after the window
  // (or a timestamp as far ahead), a timestamp moved (its signature no longer holds), none at all.
  const [first] = receiver.on("/acr");
  assert.ok(first);
  const secret = secrets["/acr"]!;
  const sentAt = Number(first.headers["berth-timestamp"]) * 1000;
  assert.equal(verified(secret, first.headers, Buffer.from(first.body.replace('"push"', '"delete"'))), false, "a changed body");
  assert.equal(verified(secrets["/dist"]!, first.headers, first.raw, first.at), false, "another webhook's secret");
  assert.equal(verified(secret, first.headers, first.raw, sentAt + (REPLAY_WINDOW_SECONDS + 1) * 1000), false, "replayed after the window");
  assert.equal(verified(secret, first.headers, first.raw, sentAt - (REPLAY_WINDOW_SECONDS + 1) * 1000), false, "from further ahead than the window");
  assert.equal(verified(secret, first.headers, first.raw, sentAt + REPLAY_WINDOW_SECONDS * 1000), true, "at the window's edge");
  const moved = { ...first.headers, "berth-timestamp": String(Number(first.headers["berth-timestamp"]) + 1) };
  assert.equal(verified(secret, moved, first.raw, sentAt), false, "a timestamp changed in transit");
  assert.equal(verified(secret, { ...first.headers, "berth-timestamp": undefined }, first.raw, sentAt), false, "no timestamp");

  for (const r of receiver.on("/acr")) {
    assert.equal(r.headers["content-type"], "application/json");
    const body = AcrPayload.parse(JSON.parse(r.body));
    const e = byId.get(body.id);
    assert.ok(e, `acr: event ${body.id} is in the stream`);
    const what = `acr ${e.action} ${e.target.repository}`;
    assert.equal(body.action, e.action, what);
    assert.equal(body.berth.action, e.action, what);
    assert.equal(body.timestamp, e.timestamp, what);
    assert.equal(r.headers["berth-event"], body.id, what);
    present(body.target, ACR_REQUIRED[e.action], what);
    if (e.action === "delete") assert.ok(body.target.digest ?? body.target.tag, `${what}: a digest or a tag`);
    if (e.target.chart) {
      // ACR's chart target: the package's mediaType; the archive's size and digest (the .tgz helm
      // pushed) and its file name as the tag, as ACR's example (`wordpress-5.4.0.tgz`); no length.
      const target = AcrChartTarget.parse(body.target);
      assert.deepEqual(Object.keys(target), Object.keys(body.target), `${what}: only ACR's chart fields`);
      const { name, version } = e.target.chart;
      assert.deepEqual([target.size, target.digest, target.tag], [archiveSize[name], archive[name], `${name}-${version}.tgz`], `${what}: the archive's size, digest and file name`);
      assert.equal(target.repository, e.target.repository, what);
    } else sameTarget(body.target, e, what);
    assert.equal(body.target.name, e.target.chart?.name, what);
    assert.equal(body.target.version, e.target.chart?.version ?? undefined, what);
    assert.deepEqual(body.berth.chart, e.target.chart, what);
    assert.equal(body.request.method, e.action.endsWith("delete") ? "DELETE" : "PUT", what);
    assert.equal(body.request.useragent, e.actor?.userAgent, what);
    assert.equal(body.request.id, e.actor?.requestId, what);
    assert.deepEqual(body.actor, { name: e.actor?.name, kind: e.actor?.kind }, what);
  }
  const instances = new Set<string>();
  for (const r of receiver.on("/dist")) {
    assert.equal(r.headers["content-type"], "application/vnd.docker.distribution.events.v1+json");
    const [body] = DistributionEnvelope.parse(JSON.parse(r.body)).events;
    assert.ok(body);
    const e = byId.get(body.id);
    assert.ok(e, `distribution: event ${body.id} is in the stream`);
    const what = `distribution ${e.action} ${e.target.repository}`;
    assert.equal(body.action, e.action.endsWith("delete") ? "delete" : "push", what);
    assert.equal(body.berth.action, e.action, what);
    assert.equal(body.timestamp, e.timestamp, what);
    sameTarget(body.target, e, what);
    assert.deepEqual(body.berth.chart, e.target.chart, what);
    assert.equal(body.request.method, e.action.endsWith("delete") ? "DELETE" : "PUT", what);
    assert.equal(body.request.addr, e.actor?.address, what);
    assert.equal(body.request.useragent, e.actor?.userAgent, what);
    assert.equal(body.actor.name, e.actor?.name, what);
    instances.add(body.source.instanceID);
  }
  assert.equal(instances.size, 1, "one running instance, one instanceID");
  for (const r of receiver.on("/ce")) {
    const parsed = HTTP.toEvent({ headers: r.headers as Record<string, string>, body: r.body });
    const event = (Array.isArray(parsed) ? parsed[0] : parsed) as CloudEvent<{ target: Event["target"] }>;
    assert.equal(event.validate(), true);
    const e = byId.get(event.id);
    assert.ok(e);
    assert.equal(event.type, `io.berth.registry.${e.action}`);
    assert.deepEqual(event.data?.target, e.target);
  }
  const ceChartDeletes = receiver.on("/ce").map((r) => JSON.parse(r.body) as { type: string; data: { target: Event["target"] } }).filter((c) => c.type === "io.berth.registry.chart_delete");
  assert.deepEqual(ceChartDeletes.map((c) => c.data.target.chart?.storedAs), ["oci", "oci"]);
});

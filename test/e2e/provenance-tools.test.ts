// Provenance with the real tools, no Docker engine: buildah builds the seed's image (FROM scratch,
// a local file, three build arguments turned into LABELs) and pushes it to a started Berth; then
// `berth inspect` and the API must show exactly those labels plus buildah's own, without any
// layer being read. notation signs it (verified against a trust store holding its certificate,
// unverified against an empty one) and cosign v3 signs it offline (verified with its public key).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { runBerthCli, startBerth, type RunningBerth } from "../support/berth.ts";
import { requireTool, runOk } from "../support/tools.ts";
import { accessLines, logBarrier } from "../support/access-log.ts";

const BUILD_ARGS = {
  IMAGE_COMMITTER: "octocat",
  IMAGE_DOCKERFILE: "https://github.com/example/berth-seed/blob/0123456789abcdef0123456789abcdef01234567/Dockerfile",
  IMAGE_COMMIT_SHA: "0123456789abcdef0123456789abcdef01234567",
};
const DOCKERFILE = `FROM scratch
ARG IMAGE_COMMITTER
ARG IMAGE_DOCKERFILE
ARG IMAGE_COMMIT_SHA
LABEL build.user=$IMAGE_COMMITTER build.dockerfile=$IMAGE_DOCKERFILE build.sha=$IMAGE_COMMIT_SHA
COPY hello.txt /
`;

async function scratch(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Builds the seed's image with buildah (vfs storage and chroot isolation in `dir`) and pushes it; returns its digest. */
async function buildAndPush(buildah: string, dir: string, berth: RunningBerth, repository: string): Promise<string> {
  const context = join(dir, "context");
  await mkdir(context, { recursive: true });
  await writeFile(join(context, "Dockerfile"), DOCKERFILE);
  await writeFile(join(context, "hello.txt"), "hello from the seed\n");
  const storage = ["--storage-driver", "vfs", "--root", join(dir, "storage"), "--runroot", join(dir, "run")];
  const env = { BUILDAH_ISOLATION: "chroot", HOME: dir };
  const args = Object.entries(BUILD_ARGS).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  await runOk(buildah, [...storage, "bud", "--isolation", "chroot", "--format", "oci", ...args, "-t", "localhost/seed:dev", context], { env, cwd: dir });
  const digestFile = join(dir, "digest");
  await runOk(buildah, [...storage, "push", "--tls-verify=false", "--creds", `${berth.username}:${berth.password}`, "--digestfile", digestFile, "localhost/seed:dev", `docker://${berth.host}/${repository}:dev`], { env, cwd: dir });
  return (await readFile(digestFile, "utf8")).trim();
}

/** The repositories GET /api/v1/search?<query>&repository=<prefix> finds. */
async function searched(berth: RunningBerth, query: string, prefix: string): Promise<string[]> {
  const res = await fetch(`${berth.url}/api/v1/search?${query}&repository=${prefix}`, { headers: { authorization: berth.basicAuth } });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { results: { repository: string }[] }).results.map((r) => r.repository);
}

async function report(berth: RunningBerth, repository: string, reference: string): Promise<Record<string, unknown> & { signatures: Record<string, unknown>[]; platforms: { labels: Record<string, string> }[] }> {
  const res = await fetch(`${berth.url}/api/v1/provenance/${repository}/${reference}`, { headers: { authorization: berth.basicAuth } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as never;
}

test("an image buildah built from the seed's Dockerfile: inspect shows its three labels plus buildah's, no layer read", { timeout: 180_000 }, async (t) => {
  const buildah = requireTool(t, "buildah");
  if (!buildah) return;
  const dir = await scratch(t, "berth-buildah-");
  const berth = await startBerth({ env: { BERTH_LOG_LEVEL: "info" } });
  t.after(() => berth.dispose());
  const digest = await buildAndPush(buildah, dir, berth, "seed/app");

  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, ".config") };
  delete env.BERTH_SERVER;
  delete env.BERTH_USERNAME;
  delete env.BERTH_PASSWORD;
  await logBarrier(berth); // buildah's last request must not land among the inspects' lines
  const before = berth.output().length;
  const inspected = await runBerthCli(["inspect", `${berth.host}/seed/app:dev`, "-u", berth.username, "-p", berth.password, "-o", "json"], env);
  assert.equal(inspected.code, 0, inspected.stderr);
  const fromCli = JSON.parse(inspected.stdout) as { digest: string; platforms: { labels: Record<string, string> }[] };
  assert.equal(fromCli.digest, digest);
  const labels = fromCli.platforms[0]!.labels;
  assert.match(labels["io.buildah.version"] ?? "", /^\d+\.\d+/);
  assert.deepEqual(labels, {
    "build.user": BUILD_ARGS.IMAGE_COMMITTER,
    "build.dockerfile": BUILD_ARGS.IMAGE_DOCKERFILE,
    "build.sha": BUILD_ARGS.IMAGE_COMMIT_SHA,
    "io.buildah.version": labels["io.buildah.version"],
  });
  const fromApi = await report(berth, "seed/app", "dev");
  assert.deepEqual(fromApi.platforms.map((p) => p.labels), [labels]);
  const table = await runBerthCli(["inspect", `${berth.host}/seed/app:dev`, "-u", berth.username, "-p", berth.password], env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^Verdict: labels present: yes/m);

  // The access log: the inspects asked the API only, and no layer blob was read at any time.
  for (const deadline = Date.now() + 10_000; accessLines(berth.output().slice(before)).filter((l) => l.path!.startsWith("/api/v1/provenance/")).length < 3 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(accessLines(berth.output().slice(before)).filter((l) => l.path!.startsWith("/v2/")), []);
  const manifest = (await (await fetch(`${berth.url}/v2/seed/app/manifests/${digest}`, { headers: { authorization: berth.basicAuth, accept: "application/vnd.oci.image.manifest.v1+json" } })).json()) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 1);
  const layer = manifest.layers[0]!.digest;
  assert.deepEqual(accessLines(berth.output()).filter((l) => l.method === "GET" && l.path!.endsWith(`/blobs/${layer}`)), []);
});

test("notation: a signature made by notation is listed, verified against a trust store holding its certificate, not against an empty one", { timeout: 180_000 }, async (t) => {
  const buildah = requireTool(t, "buildah");
  const notation = requireTool(t, "notation");
  if (!buildah || !notation) return;
  const dir = await scratch(t, "berth-notation-");
  const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, ".config"), NOTATION_USERNAME: "", NOTATION_PASSWORD: "" };
  await runOk(notation, ["cert", "generate-test", "--default", "berth-signer"], { env });
  const certFile = join(dir, ".config/notation/localkeys/berth-signer.crt");
  const subject = new X509Certificate(await readFile(certFile)).subject.split("\n").join(", ");
  // What docs/provenance.md tells users to put in trustedIdentities.
  assert.equal(subject, "C=US, ST=WA, L=Seattle, O=Notary, CN=berth-signer");

  const trustStore = join(dir, "trust-store");
  await mkdir(join(trustStore, "x509/ca/berth-signer"), { recursive: true });
  await copyFile(certFile, join(trustStore, "x509/ca/berth-signer/berth-signer.crt"));
  await mkdir(join(dir, "empty-store/x509/ca/berth-signer"), { recursive: true });
  const policyFile = join(dir, "trustpolicy.oci.json");
  await writeFile(policyFile, JSON.stringify({
    version: "1.0",
    trustPolicies: [{ name: "seed", registryScopes: ["*"], signatureVerification: { level: "strict" }, trustStores: ["ca:berth-signer"], trustedIdentities: [`x509.subject: ${subject}`] }],
  }));
  const trusted = await startBerth({ env: { BERTH_PROVENANCE_TRUST_POLICY: policyFile, BERTH_PROVENANCE_TRUST_STORE: trustStore } });
  let disposeData = true;
  t.after(async () => {
    await trusted.stop();
    if (disposeData) await rm(trusted.dataDir, { recursive: true, force: true });
  });
  const digest = await buildAndPush(buildah, dir, trusted, "seed/app");
  await runOk(notation, ["sign", "--insecure-registry", "--force-referrers-tag=false", "-u", trusted.username, "-p", trusted.password, `${trusted.host}/seed/app@${digest}`], { env });

  const signed = await report(trusted, "seed/app", "dev");
  assert.equal(signed.signatures.length, 1, JSON.stringify(signed.signatures));
  const signature = signed.signatures[0]!;
  assert.equal(signature.scheme, "notation");
  assert.equal(signature.envelope, "jws");
  assert.equal((signature.signer as { subject: string }).subject, subject);
  assert.equal(signature.verified, true, String(signature.reason));
  assert.equal((signed.verdict as { signedAndVerified: boolean }).signedAndVerified, true);
  assert.deepEqual(await searched(trusted, "unverified=true", "seed/"), [], "its signature's outcome, stored at push, is verified");

  // The same data, Berth restarted with an empty trust store: listed, not verified, and why.
  await trusted.stop();
  disposeData = false;
  const untrusted = await startBerth({ dataDir: trusted.dataDir, env: { BERTH_PROVENANCE_TRUST_POLICY: policyFile, BERTH_PROVENANCE_TRUST_STORE: join(dir, "empty-store") } });
  t.after(async () => {
    await untrusted.stop();
    await rm(trusted.dataDir, { recursive: true, force: true });
  });
  const unverified = (await report(untrusted, "seed/app", "dev")).signatures[0]!;
  assert.equal(unverified.verified, false);
  assert.match(String(unverified.reason), /no certificate of the chain is in the trust stores of policy "seed"/);
  // The trust changed at restart: the stored outcome no longer counts (recomputed or not yet).
  assert.deepEqual(await searched(untrusted, "unverified=true", "seed/"), ["seed/app"]);
  assert.deepEqual(await searched(untrusted, "unsigned=true", "seed/"), [], "signed all the same");
});

test("cosign v3: an offline key-pair signature is listed as a cosign bundle and verified with the configured public key", { timeout: 180_000 }, async (t) => {
  const buildah = requireTool(t, "buildah");
  const cosign = requireTool(t, "cosign");
  if (!buildah || !cosign) return;
  const dir = await scratch(t, "berth-cosign-");
  const env = { HOME: dir, COSIGN_PASSWORD: "", DOCKER_CONFIG: join(dir, ".docker") };
  await runOk(cosign, ["generate-key-pair"], { env, cwd: dir });
  const berth = await startBerth({ env: { BERTH_PROVENANCE_COSIGN_KEYS: join(dir, "cosign.pub") } });
  t.after(() => berth.dispose());
  const digest = await buildAndPush(buildah, dir, berth, "seed/app");
  await runOk(cosign, [
    "sign", "--yes", "--key", join(dir, "cosign.key"), "--tlog-upload=false", "--use-signing-config=false",
    "--allow-insecure-registry", "--allow-http-registry", "--registry-username", berth.username, "--registry-password", berth.password,
    `${berth.host}/seed/app@${digest}`,
  ], { env, cwd: dir });
  const signatures = (await report(berth, "seed/app", digest)).signatures;
  assert.equal(signatures.length, 1, JSON.stringify(signatures));
  assert.equal(signatures[0]!.scheme, "cosign-bundle");
  assert.equal(signatures[0]!.artifactType, "application/vnd.dev.sigstore.bundle.v0.3+json");
  assert.equal(signatures[0]!.verified, true, String(signatures[0]!.reason));
});

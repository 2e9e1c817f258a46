// The real-client scenarios (oras, skopeo, crane, regctl): one per client, each asserting on what
// the client printed or pulled back (digests, bytes, tags), so a registry that answers 2xx with the
// wrong content still fails. Run against one Berth (test/e2e/clients.test.ts) and through a
// round-robin over two instances on S3 and Azure (test/e2e/clients-object-store.test.ts). Client
// flags for plain HTTP and where each keeps credentials: shared/research/registries.md §5.2.
//
// Every client runs in a sandbox: HOME, DOCKER_CONFIG, REGCTL_CONFIG and REGISTRY_AUTH_FILE
// point into a temp dir, so no login leaks into (or is read from) the real home.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { buildMultiPlatformLayout, layoutBlob, layoutEntry, mediaTypes, sha256 } from "./oci-layout.ts";
import { registryFetch } from "./registry-http.ts";
import type { RegistryTarget } from "./registry-target.ts";
import { runOk } from "./tools.ts";

export interface ClientSandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  target: RegistryTarget;
}

/** A temp home for one client against `target`; it goes away after the test. */
export async function clientSandbox(t: TestContext, target: RegistryTarget): Promise<ClientSandbox> {
  const dir = await mkdtemp(join(tmpdir(), "berth-clients-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "home/.docker"), { recursive: true });
  await mkdir(join(dir, "run"), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    HOME: join(dir, "home"),
    DOCKER_CONFIG: join(dir, "home/.docker"),
    DOCKER_AUTH_CONFIG: undefined,
    REGCTL_CONFIG: join(dir, "home/regctl.json"),
    REGISTRY_AUTH_FILE: join(dir, "home/auth.json"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    XDG_CONFIG_HOME: join(dir, "home/.config"),
  };
  return { dir, env, target };
}

async function manifestStatus(target: RegistryTarget, repo: string, reference: string): Promise<number> {
  const res = await registryFetch(target, `/v2/${repo}/manifests/${reference}`, {
    method: "HEAD",
    headers: { accept: [mediaTypes.index, mediaTypes.manifest].join(", ") },
  });
  return res.status;
}

/** oras pushes an artifact with annotations, pulls it back byte for byte, attaches and discovers a referrer. */
export async function orasScenario(oras: string, s: ClientSandbox): Promise<void> {
  const { dir, env, target } = s;
  const ref = `${target.host}/oras/artifact:v1`;
  const remote = ["--plain-http", "--registry-config", join(dir, "home/oras-auth.json")];
  const orasOk = (args: string[], input?: string) => runOk(oras, args, { env, cwd: dir, input });

  await orasOk(["login", ...remote, "-u", target.username, "--password-stdin", target.host], target.password);
  const files = { "readme.txt": Buffer.from("Berth end-to-end artifact\n"), "data.bin": randomBytes(200_000) };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);

  const pushed = JSON.parse(
    (
      await orasOk([
        "push", ...remote, ref,
        "--artifact-type", "application/vnd.berth.test.bundle",
        "--annotation", "org.opencontainers.image.description=berth e2e",
        "--annotation", "com.example.berth.run=oras",
        "--format", "json",
        "readme.txt:text/plain", "data.bin:application/octet-stream",
      ])
    ).stdout,
  ) as { digest: string; artifactType: string };
  assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);

  // The manifest as the registry serves it: the pushed digest, type and annotations.
  const raw = (await orasOk(["manifest", "fetch", ...remote, ref])).stdout;
  assert.equal(sha256(raw), pushed.digest, "manifest bytes served do not hash to the pushed digest");
  const manifest = JSON.parse(raw) as { artifactType: string; annotations: Record<string, string>; layers: { annotations: Record<string, string> }[] };
  assert.equal(manifest.artifactType, "application/vnd.berth.test.bundle");
  assert.equal(manifest.annotations["org.opencontainers.image.description"], "berth e2e");
  assert.equal(manifest.annotations["com.example.berth.run"], "oras");
  assert.deepEqual(manifest.layers.map((l) => l.annotations["org.opencontainers.image.title"]).sort(), ["data.bin", "readme.txt"]);

  await orasOk(["pull", ...remote, ref, "-o", join(dir, "pulled")]);
  for (const [name, bytes] of Object.entries(files)) assert.ok(bytes.equals(await readFile(join(dir, "pulled", name))), `${name} came back different`);

  // A referrer. With the referrers API on (Berth), make oras use it and never the tag fallback.
  const spec = target.referrersApi ? ["--distribution-spec", "v1.1-referrers-api"] : [];
  await writeFile(join(dir, "signature.txt"), "not really a signature\n");
  const attached = JSON.parse(
    (
      await orasOk([
        "attach", ...remote, ...spec, ref,
        "--artifact-type", "application/vnd.berth.test.signature",
        "--annotation", "com.example.berth.signed-by=e2e",
        "--format", "json",
        "signature.txt:text/plain",
      ])
    ).stdout,
  ) as { digest: string };
  const discovered = JSON.parse((await orasOk(["discover", ...remote, ...spec, ref, "--format", "json"])).stdout) as {
    referrers: { digest: string; artifactType: string; annotations?: Record<string, string> }[];
  };
  const found = discovered.referrers.find((r) => r.digest === attached.digest);
  assert.ok(found, `oras discover did not list ${attached.digest}: ${JSON.stringify(discovered)}`);
  assert.equal(found.artifactType, "application/vnd.berth.test.signature");
  assert.equal(found.annotations?.["com.example.berth.signed-by"], "e2e");

  if (target.referrersApi) {
    const res = await registryFetch(target, `/v2/oras/artifact/referrers/${pushed.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), mediaTypes.index);
    const index = (await res.json()) as { manifests: { digest: string; artifactType?: string }[] };
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.artifactType]), [[attached.digest, "application/vnd.berth.test.signature"]]);
    // Served from the API, so oras must not have written the sha256-<hex> fallback tag.
    const tags = (await orasOk(["repo", "tags", ...remote, `${target.host}/oras/artifact`])).stdout.trim().split("\n");
    assert.deepEqual(tags, ["v1"]);
  }
}

/** skopeo copies a two-platform OCI layout in and out unchanged, inspects, lists tags and deletes. */
export async function skopeoScenario(skopeo: string, s: ClientSandbox): Promise<void> {
  const { dir, env, target } = s;
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  const creds = `${target.username}:${target.password}`;
  const remote = `docker://${target.host}/skopeo/multi`;
  // --insecure-policy: no /etc/containers/policy.json is needed; --preserve-digests: fail
  // rather than silently rewrite a manifest.
  const skopeoOk = (args: string[]) => runOk(skopeo, ["--insecure-policy", ...args], { env, cwd: dir });

  await skopeoOk(["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, `oci:${layout.dir}:v1`, `${remote}:v1`]);
  await skopeoOk(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds, `${remote}:v1`, `oci:${join(dir, "back")}:v1`]);
  const back = await layoutEntry(join(dir, "back"), "v1");
  assert.equal(back.digest, layout.index.digest, "the index came back under another digest");
  assert.ok((await layoutBlob(join(dir, "back"), back.digest)).equals(layout.index.bytes));
  for (const image of layout.images) {
    assert.ok((await layoutBlob(join(dir, "back"), image.layer.digest)).length === image.layer.size, `layer of ${image.platform.architecture} missing`);
    assert.ok((await layoutBlob(join(dir, "back"), image.config.digest)).equals(image.config.bytes));
  }

  const raw = (await skopeoOk(["inspect", "--raw", "--tls-verify=false", "--creds", creds, `${remote}:v1`])).stdout;
  assert.equal(sha256(raw), layout.index.digest);
  const inspected = JSON.parse((await skopeoOk(["inspect", "--tls-verify=false", "--creds", creds, `${remote}:v1`])).stdout) as {
    Name: string; Digest: string; RepoTags: string[];
  };
  assert.equal(inspected.Digest, layout.index.digest);
  assert.equal(inspected.Name, `${target.host}/skopeo/multi`);
  assert.deepEqual(inspected.RepoTags, ["v1"]);

  await skopeoOk(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", creds, "--dest-creds", creds, `${remote}:v1`, `${remote}:v2`]);
  const listed = JSON.parse((await skopeoOk(["list-tags", "--tls-verify=false", "--creds", creds, remote])).stdout) as { Tags: string[] };
  assert.deepEqual(listed.Tags, ["v1", "v2"]);

  // skopeo delete resolves the tag and deletes the manifest by digest: every tag on it goes.
  await skopeoOk(["delete", "--tls-verify=false", "--creds", creds, `${remote}:v1`]);
  assert.equal(await manifestStatus(target, "skopeo/multi", "v1"), 404);
  assert.equal(await manifestStatus(target, "skopeo/multi", "v2"), 404);
  assert.equal(await manifestStatus(target, "skopeo/multi", layout.index.digest), 404);
  const after = JSON.parse((await skopeoOk(["list-tags", "--tls-verify=false", "--creds", creds, remote])).stdout) as { Tags: string[] };
  assert.deepEqual(after.Tags, []);
}

/** crane copies between repositories and reads back manifest, config, tags and digest. */
export async function craneScenario(crane: string, s: ClientSandbox): Promise<void> {
  const { dir, env, target } = s;
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  const craneOk = (args: string[], input?: string) => runOk(crane, [...args, "--insecure"], { env, cwd: dir, input });

  await craneOk(["auth", "login", target.host, "-u", target.username, "--password-stdin"], target.password);
  assert.match(await readFile(join(dir, "home/.docker/config.json"), "utf8"), new RegExp(target.host.replaceAll(".", "\\.")));
  await craneOk(["push", layout.dir, `${target.host}/crane/src:v1`]);
  // Into another repository: blobs are mounted or re-pushed, the index keeps its digest.
  await craneOk(["copy", `${target.host}/crane/src:v1`, `${target.host}/crane/dst:v1`]);

  assert.equal((await craneOk(["digest", `${target.host}/crane/dst:v1`])).stdout.trim(), layout.index.digest);
  const manifest = (await craneOk(["manifest", `${target.host}/crane/dst:v1`])).stdout;
  assert.ok(Buffer.from(manifest).equals(layout.index.bytes), "crane manifest differs from the pushed index bytes");
  for (const image of layout.images) {
    const platform = `${image.platform.os}/${image.platform.architecture}`;
    const config = (await craneOk(["config", `${target.host}/crane/dst:v1`, "--platform", platform])).stdout;
    assert.equal(sha256(config), image.config.digest, `config of ${platform}`);
    assert.equal((await craneOk(["digest", `${target.host}/crane/dst:v1`, "--platform", platform])).stdout.trim(), image.manifest.digest);
  }

  await craneOk(["tag", `${target.host}/crane/dst:v1`, "stable"]);
  assert.deepEqual((await craneOk(["ls", `${target.host}/crane/dst`])).stdout.trim().split("\n"), ["stable", "v1"]);
  assert.deepEqual((await craneOk(["ls", `${target.host}/crane/src`])).stdout.trim().split("\n"), ["v1"]);
}

/** regctl logs in, copies an OCI layout in and between repositories, lists tags. */
export async function regctlScenario(regctl: string, s: ClientSandbox): Promise<void> {
  const { dir, env, target } = s;
  const layout = await buildMultiPlatformLayout(join(dir, "layout"), "v1");
  const regctlOk = (args: string[], input?: string) => runOk(regctl, args, { env, cwd: dir, input });

  // --skip-check: set pings the registry, which answers 401 until the login below.
  await regctlOk(["registry", "set", "--tls", "disabled", "--skip-check", target.host]);
  await regctlOk(["registry", "login", target.host, "-u", target.username, "--pass-stdin"], target.password);
  // The login went to the sandboxed config, not ~/.regctl.
  const config = JSON.parse(await readFile(env.REGCTL_CONFIG!, "utf8")) as { hosts: Record<string, { tls?: string; user?: string }> };
  assert.equal(config.hosts[target.host]?.tls, "disabled");
  assert.equal(config.hosts[target.host]?.user, target.username);

  await regctlOk(["image", "copy", `ocidir://${layout.dir}:v1`, `${target.host}/regctl/src:v1`]);
  await regctlOk(["image", "copy", `${target.host}/regctl/src:v1`, `${target.host}/regctl/dst:v2`]);
  assert.equal((await regctlOk(["image", "digest", `${target.host}/regctl/dst:v2`])).stdout.trim(), layout.index.digest);
  const raw = (await regctlOk(["manifest", "get", "--format", "raw-body", `${target.host}/regctl/dst:v2`])).stdout;
  assert.ok(Buffer.from(raw).equals(layout.index.bytes));
  const arm = JSON.parse((await regctlOk(["manifest", "get", "--format", "raw-body", "--platform", "linux/arm64", `${target.host}/regctl/dst:v2`])).stdout) as {
    config: { digest: string };
  };
  assert.equal(arm.config.digest, layout.images.find((i) => i.platform.architecture === "arm64")!.config.digest);

  assert.deepEqual((await regctlOk(["tag", "ls", `${target.host}/regctl/dst`])).stdout.trim().split("\n"), ["v2"]);
  assert.deepEqual((await regctlOk(["tag", "ls", `${target.host}/regctl/src`])).stdout.trim().split("\n"), ["v1"]);
}

// Test images for end-to-end tests: random layers, a config, an OCI image manifest over them,
// pushed the way clients push (blobs first, then the manifest) and pulled back with every byte
// re-hashed. Built on oci-client.ts.
// https://github.com/opencontainers/image-spec/blob/main/manifest.md
import { randomBytes } from "node:crypto";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, OciClient, OciError, sha256, type BlobPushMode } from "./oci-client.ts";

export interface TestBlob { mediaType: string; data: Buffer; digest: string }
export interface TestImage {
  config: TestBlob;
  layers: TestBlob[];
  /** The exact manifest bytes pushed; the registry must return them unchanged. */
  manifest: Buffer;
  digest: string;
}

export function testBlob(data: Buffer, mediaType: string = OCI_LAYER): TestBlob {
  return { mediaType, data, digest: sha256(data) };
}

/** A layer of random bytes (incompressible, unique). */
export function randomLayer(size: number): TestBlob {
  return testBlob(randomBytes(size));
}

/** An image manifest over `layers`; `label` makes the config, hence the image, unique. */
export function buildImage(layers: TestBlob[], label: string, annotations: Record<string, string> = {}): TestImage {
  const config = testBlob(
    Buffer.from(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Labels: { "berth.test": label } },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    })),
    OCI_CONFIG,
  );
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.data.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.data.length })),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  }));
  return { config, layers, manifest, digest: sha256(manifest) };
}

export interface ImagePushOptions {
  /** How each blob goes up; "mixed" rotates through all four. Default monolithic. */
  mode?: BlobPushMode | "mixed";
  chunkSize?: number;
  /** HEAD each blob first and skip those the repository has, as docker and oras do. */
  skipExisting?: boolean;
  /**
   * When the manifest PUT answers MANIFEST_BLOB_UNKNOWN (a blob collected between its push and
   * the manifest, which a GC with a short grace period may do), push the blobs again and retry.
   */
  manifestRetries?: number;
  signal?: AbortSignal;
}

const MIXED: BlobPushMode[] = ["monolithic", "chunked", "stream", "single-post"];

/** Pushes config and layers, then the manifest under `reference`; returns how many retries it took. */
export async function pushImage(client: OciClient, repo: string, reference: string, image: TestImage, options: ImagePushOptions = {}): Promise<{ retries: number }> {
  for (let attempt = 0; ; attempt++) {
    await pushImageBlobs(client, repo, image, options, attempt);
    try {
      await client.putManifest(repo, reference, image.manifest, OCI_MANIFEST, options.signal);
      return { retries: attempt };
    } catch (error) {
      const retry = error instanceof OciError && error.code === "MANIFEST_BLOB_UNKNOWN" && attempt < (options.manifestRetries ?? 0);
      if (!retry) throw error;
    }
  }
}

async function pushImageBlobs(client: OciClient, repo: string, image: TestImage, options: ImagePushOptions, attempt: number): Promise<void> {
  const blobs = [image.config, ...image.layers];
  for (const [i, blob] of blobs.entries()) {
    if ((options.skipExisting || attempt > 0) && (await client.headBlob(repo, blob.digest)) !== null) continue;
    const mode = options.mode === "mixed" ? MIXED[i % MIXED.length]! : (options.mode ?? "monolithic");
    const pushed = await client.pushBlob(repo, blob.data, { mode, chunkSize: options.chunkSize, signal: options.signal });
    if (pushed !== blob.digest) throw new Error(`pushed ${blob.digest} but the client computed ${pushed}`);
  }
}

/**
 * Pulls `reference` and checks it against `image`: the manifest bytes identical, and every blob
 * fetched whole and re-hashed (the client checks the digest; here also the length and bytes).
 */
export async function assertImagePulls(client: OciClient, repo: string, reference: string, image: TestImage): Promise<void> {
  const manifest = await client.getManifest(repo, reference);
  if (!manifest.bytes.equals(image.manifest)) {
    throw new Error(`${repo}:${reference}: manifest bytes differ (got ${manifest.digest}, pushed ${image.digest})`);
  }
  if (manifest.digest !== image.digest) throw new Error(`${repo}:${reference}: digest ${manifest.digest}, pushed ${image.digest}`);
  for (const blob of [image.config, ...image.layers]) {
    const bytes = await client.getBlob(repo, blob.digest);
    if (!bytes.equals(blob.data)) throw new Error(`${repo}@${blob.digest}: ${bytes.length} bytes differ from the ${blob.data.length} pushed`);
  }
}

/** Pulls whatever `reference` names (image manifest or index, recursively) and re-hashes every blob. */
export async function pullAndVerify(client: OciClient, repo: string, reference: string): Promise<{ manifests: number; blobs: number; bytes: number }> {
  const seen = { manifests: 0, blobs: 0, bytes: 0 };
  async function walk(ref: string): Promise<void> {
    const manifest = await client.getManifest(repo, ref);
    seen.manifests++;
    const parsed = JSON.parse(manifest.bytes.toString("utf8")) as {
      config?: { digest: string; size: number };
      layers?: { digest: string; size: number; urls?: string[] }[];
      manifests?: { digest: string }[];
    };
    for (const child of parsed.manifests ?? []) await walk(child.digest);
    for (const d of [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? []).filter((l) => !l.urls)]) {
      const bytes = await client.getBlob(repo, d.digest);
      if (bytes.length !== d.size) throw new Error(`${repo}@${d.digest}: ${bytes.length} bytes, descriptor says ${d.size}`);
      seen.blobs++;
      seen.bytes += bytes.length;
    }
  }
  await walk(reference);
  return seen;
}

// Builds small, real OCI images on disk as an OCI image layout
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md), so the client tests
// need no image builder: a multi-platform index whose images each have a config and one
// tar+gzip layer. Random content per call keeps two runs from sharing blobs by accident.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const mediaTypes = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface PlatformImage {
  platform: { os: string; architecture: string };
  manifest: Descriptor;
  config: Descriptor & { bytes: Buffer };
  layer: Descriptor;
}

export interface BuiltLayout {
  dir: string;
  tag: string;
  /** The index as pushed: its exact bytes and digest. */
  index: Descriptor & { bytes: Buffer };
  images: PlatformImage[];
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Writes `dir` as an OCI layout whose index.json names one multi-platform index under `tag`. */
export async function buildMultiPlatformLayout(
  dir: string,
  tag: string,
  platforms: { os: string; architecture: string }[] = [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64" },
  ],
): Promise<BuiltLayout> {
  await mkdir(join(dir, "blobs/sha256"), { recursive: true });
  const put = async (mediaType: string, bytes: Buffer): Promise<Descriptor> => {
    const digest = sha256(bytes);
    await writeFile(join(dir, "blobs/sha256", digest.slice("sha256:".length)), bytes);
    return { mediaType, digest, size: bytes.length };
  };

  const images: PlatformImage[] = [];
  for (const platform of platforms) {
    const tar = tarOneFile(`etc/berth-${platform.architecture}.txt`, Buffer.from(`${platform.architecture} ${randomBytes(16).toString("hex")}\n`));
    const layer = await put(mediaTypes.layer, gzipSync(tar));
    const configBytes = json({
      architecture: platform.architecture,
      os: platform.os,
      config: { Env: ["PATH=/usr/bin"], Labels: { "org.example.berth-test": platform.architecture } },
      rootfs: { type: "layers", diff_ids: [sha256(tar)] },
      history: [{ created_by: "berth test/support/oci-layout.ts" }],
    });
    const config = await put(mediaTypes.config, configBytes);
    const manifestBytes = json({ schemaVersion: 2, mediaType: mediaTypes.manifest, config, layers: [layer] });
    const manifest = { ...(await put(mediaTypes.manifest, manifestBytes)), platform };
    images.push({ platform, manifest, config: { ...config, bytes: configBytes }, layer });
  }
  const indexBytes = json({ schemaVersion: 2, mediaType: mediaTypes.index, manifests: images.map((i) => i.manifest) });
  const index = await put(mediaTypes.index, indexBytes);

  await writeFile(join(dir, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    json({ schemaVersion: 2, mediaType: mediaTypes.index, manifests: [{ ...index, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
  return { dir, tag, index: { ...index, bytes: indexBytes }, images };
}

/** The descriptor that a layout's index.json names under `tag` (as a copy tool wrote it). */
export async function layoutEntry(dir: string, tag: string): Promise<Descriptor> {
  const top = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const entry = top.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!entry) throw new Error(`${dir}/index.json has no entry for tag ${tag}: ${JSON.stringify(top)}`);
  return entry;
}

export async function layoutBlob(dir: string, digest: string): Promise<Buffer> {
  const [algorithm, hex] = digest.split(":");
  return readFile(join(dir, "blobs", algorithm!, hex!));
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * A POSIX ustar archive holding one regular file. Hand-written because the project has no tar
 * library and this is the writing side of the simplest case (one header, the data, two zero
 * blocks); reading tar in src/ uses a real library.
 */
export function tarOneFile(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, "ascii");
  const octal = (offset: number, length: number, value: number) => field(offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.length);
  octal(136, 12, 1_700_000_000);
  field(148, 8, "        "); // checksum counts itself as spaces
  field(156, 1, "0");
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  let checksum = 0;
  for (const byte of header) checksum += byte;
  field(148, 8, `${checksum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

// Reads a pushed manifest just enough to know what it references. The stored bytes stay exactly
// as received (the digest is over them); this parse only validates and extracts references.
// Shapes: image-spec manifest.md, image-index.md, descriptor.md; Docker schema2 and manifest list.
import { z } from "zod";
import { digestBytes, isDigest, algorithmOf, type Digest } from "./digest.ts";
import { RegistryError } from "./errors.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, isForeignLayer, isIndexMediaType, isManifestMediaType, OCI_INDEX, OCI_MANIFEST, type ManifestMediaType } from "./media-types.ts";

const digestField = z.string().refine(isDigest, "not a sha256 or sha512 digest");
const annotations = z.record(z.string(), z.string());

const Descriptor = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestField,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  artifactType: z.string().optional(),
  platform: z.looseObject({}).optional(),
});
type Descriptor = z.infer<typeof Descriptor>;

const ImageManifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: annotations.optional(),
});

const ImageIndex = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: annotations.optional(),
});

export interface DescriptorSummary {
  mediaType: string;
  digest: Digest;
  size: number;
}

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  /** An image manifest's config, null for an index. */
  config: DescriptorSummary | null;
  layers: DescriptorSummary[];
  /** Config and layers this registry must hold (foreign layers excluded). */
  blobs: Digest[];
  /** Manifests an index lists. */
  children: Digest[];
  subject: Digest | null;
  /** The manifest's artifactType, else an image's config media type (for referrers). */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError("MANIFEST_INVALID", message, detail);
}

/** Content-Type without parameters, lowercased. */
function bareMediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(";")[0]?.trim().toLowerCase() || undefined;
}

function checkData(descriptor: Descriptor): void {
  if (descriptor.data === undefined) return;
  const bytes = Buffer.from(descriptor.data, "base64");
  if (bytes.length !== descriptor.size || digestBytes(bytes, algorithmOf(descriptor.digest as Digest)) !== descriptor.digest) {
    throw invalid("descriptor data does not match its digest and size", { digest: descriptor.digest });
  }
}

export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw invalid("manifest is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid("manifest must be a JSON object");
  const declared = (json as { mediaType?: unknown }).mediaType;
  const header = bareMediaType(contentType);
  if ((json as { schemaVersion?: unknown }).schemaVersion === 1) throw invalid("Docker schema1 manifests are not supported: push an OCI or Docker schema2 manifest");
  if (declared !== undefined && typeof declared !== "string") throw invalid("mediaType must be a string");
  let mediaType = declared ?? header;
  if (!mediaType || !isManifestMediaType(mediaType)) {
    // OCI allows omitting mediaType; infer it only when the header is generic.
    if (declared === undefined && (!header || header === "application/json" || header === "application/octet-stream")) {
      mediaType = "manifests" in json ? OCI_INDEX : OCI_MANIFEST;
    } else {
      throw invalid("unsupported manifest media type", { mediaType: (declared ?? header)?.slice(0, 200) });
    }
  }
  if (declared !== undefined && header !== undefined && isManifestMediaType(header) && header !== declared) {
    throw invalid("Content-Type does not match the manifest's mediaType", { contentType: header, mediaType: declared });
  }
  const type = mediaType as ManifestMediaType;
  return isIndexMediaType(type) ? parseIndex(json, type) : parseImage(json, type);
}

function formatIssues(error: z.ZodError): unknown {
  return error.issues.slice(0, 5).map((issue) => ({ path: issue.path.join("."), message: issue.message }));
}

function parseImage(json: object, mediaType: ManifestMediaType): ParsedManifest {
  const parsed = ImageManifest.safeParse(json);
  if (!parsed.success) throw invalid("manifest does not match the image manifest schema", formatIssues(parsed.error));
  const manifest = parsed.data;
  for (const d of [manifest.config, ...manifest.layers]) checkData(d);
  if (mediaType === DOCKER_MANIFEST && manifest.artifactType) throw invalid("Docker manifests cannot carry artifactType");
  const blobs = [manifest.config, ...manifest.layers]
    .filter((d) => !(isForeignLayer(d.mediaType) || (d.urls?.length ?? 0) > 0))
    .map((d) => d.digest as Digest);
  const summary = (d: Descriptor): DescriptorSummary => ({ mediaType: d.mediaType, digest: d.digest as Digest, size: d.size });
  return {
    mediaType,
    config: summary(manifest.config),
    layers: manifest.layers.map(summary),
    blobs: [...new Set(blobs)],
    children: [],
    subject: (manifest.subject?.digest as Digest | undefined) ?? null,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    annotations: manifest.annotations ?? null,
  };
}

function parseIndex(json: object, mediaType: ManifestMediaType): ParsedManifest {
  const parsed = ImageIndex.safeParse(json);
  if (!parsed.success) throw invalid("manifest does not match the image index schema", formatIssues(parsed.error));
  const index = parsed.data;
  for (const d of index.manifests) checkData(d);
  if (mediaType === DOCKER_MANIFEST_LIST && index.artifactType) throw invalid("Docker manifest lists cannot carry artifactType");
  return {
    mediaType,
    config: null,
    layers: [],
    blobs: [],
    children: [...new Set(index.manifests.map((d) => d.digest as Digest))],
    subject: (index.subject?.digest as Digest | undefined) ?? null,
    artifactType: index.artifactType ?? null,
    annotations: index.annotations ?? null,
  };
}

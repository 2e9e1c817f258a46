// Reads a pushed manifest just enough to know what it references. The stored bytes stay exactly
// as received (the digest is over them); this parse only validates and extracts references.
// Shapes: image-spec manifest.md, image-index.md, descriptor.md; Docker schema2 and manifest list.
import { z } from "zod";
import { digestBytes, isDigest, algorithmOf, type Digest } from "./digest.ts";
import { RegistryError } from "./errors.ts";
import { holdsNul } from "./nul.ts";
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
  /** An index's descriptors of them, with the sizes they declare. */
  manifests: DescriptorSummary[];
  subject: Digest | null;
  /** The manifest's artifactType, else an image's config media type (for referrers). */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/**
 * How deep a manifest's JSON may nest (the manifest object is level 1). Real manifests nest a few
 * levels (index → descriptor → platform); clients' decoders stop at their own limits (Go's at
 * 10,000, others far earlier), so a deeper body would be stored and then break every pull.
 */
export const MAX_MANIFEST_DEPTH = 64;

/** Media types that say nothing about which manifest a body is: the body's mediaType decides. */
const GENERIC_TYPES = new Set(["application/json", "application/octet-stream"]);

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

/**
 * Whether `text` nests brackets deeper than `limit`, outside strings. JSON.parse has no depth
 * limit, so the text is scanned before it is parsed; text that is not JSON is left to JSON.parse.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character, a quote too
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * The manifest/index ambiguity of CVE-2021-41190: a body that reads as an image manifest to one
 * client and as an index to another shows each different content under one digest. As
 * distribution does, an index must not carry config/layers, nor an image manifest `manifests`.
 */
function checkUnambiguous(json: Record<string, unknown>, mediaType: ManifestMediaType): void {
  const has = (key: string) => json[key] !== undefined && json[key] !== null;
  const imageFields = ["config", "layers"].filter(has);
  if (has("manifests") && imageFields.length > 0) {
    throw invalid(`ambiguous manifest: it carries both manifests (an index) and ${imageFields.join(" and ")} (an image manifest)`, { mediaType, fields: ["manifests", ...imageFields] });
  }
  if (isIndexMediaType(mediaType) && imageFields.length > 0) {
    throw invalid(`ambiguous manifest: ${mediaType} is an index, but the body carries ${imageFields.join(" and ")}`, { mediaType, fields: imageFields });
  }
  if (!isIndexMediaType(mediaType) && has("manifests")) {
    throw invalid(`ambiguous manifest: ${mediaType} is an image manifest, but the body carries manifests`, { mediaType, fields: ["manifests"] });
  }
}

export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  const text = body.toString("utf8");
  if (nestsDeeperThan(text, MAX_MANIFEST_DEPTH)) {
    throw invalid(`manifest JSON nests deeper than ${MAX_MANIFEST_DEPTH} levels`, { limit: MAX_MANIFEST_DEPTH });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid("manifest is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid("manifest must be a JSON object");
  if (holdsNul(json)) throw invalid("manifest holds a NUL (\\u0000) in a string: no field of a manifest may hold one");
  const declared = (json as { mediaType?: unknown }).mediaType;
  const header = bareMediaType(contentType);
  if ((json as { schemaVersion?: unknown }).schemaVersion === 1) throw invalid("Docker schema1 manifests are not supported: push an OCI or Docker schema2 manifest");
  if (declared !== undefined && typeof declared !== "string") throw invalid("mediaType must be a string");
  let mediaType = declared ?? header;
  if (!mediaType || !isManifestMediaType(mediaType)) {
    // OCI allows omitting mediaType; infer it only when the header is generic.
    if (declared === undefined && (!header || GENERIC_TYPES.has(header))) {
      mediaType = "manifests" in json ? OCI_INDEX : OCI_MANIFEST;
    } else {
      throw invalid("unsupported manifest media type", { mediaType: (declared ?? header)?.slice(0, 200) });
    }
  }
  // Any specific Content-Type that is not the body's own mediaType contradicts it.
  if (declared !== undefined && header !== undefined && !GENERIC_TYPES.has(header) && header !== declared) {
    throw invalid("Content-Type does not match the manifest's mediaType", { contentType: header.slice(0, 200), mediaType: declared });
  }
  const type = mediaType as ManifestMediaType;
  checkUnambiguous(json as Record<string, unknown>, type);
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
    manifests: [],
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
    manifests: index.manifests.map((d) => ({ mediaType: d.mediaType, digest: d.digest as Digest, size: d.size })),
    subject: (index.subject?.digest as Digest | undefined) ?? null,
    artifactType: index.artifactType ?? null,
    annotations: index.annotations ?? null,
  };
}

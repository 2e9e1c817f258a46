// Build origin from labels and annotations: the well-known keys named (OCI annotations,
// label-schema, the seed's build.* labels), where each value came from, and the few facts the
// report leads with (source, revision, Dockerfile, committer), with links when the source is a
// known forge. Keys: opencontainers/image-spec annotations.md; label-schema.org rc1.
import type { SlsaFacts } from "../../metadata/provenance-types.ts";

export type OriginSource = "label" | "annotation:manifest" | "annotation:index" | "provenance (claimed by builder)";

export interface OriginEntry {
  key: string;
  value: string;
  from: OriginSource;
  /** What the key means, for well-known keys. */
  meaning?: string;
  /** A URL to open, when the value is one or names a file in a known source repository. */
  link?: string;
}

export interface Origin {
  /** Every well-known key found, labels first. */
  wellKnown: OriginEntry[];
  source?: OriginEntry;
  revision?: OriginEntry & { sourceRepository?: string };
  dockerfile?: OriginEntry;
  committer?: OriginEntry;
  created?: OriginEntry;
  version?: OriginEntry;
  authors?: OriginEntry;
}

const OCI = "org.opencontainers.image.";
const OCI_KEYS: Record<string, string> = {
  created: "creation time", authors: "authors", url: "project URL", documentation: "documentation URL", source: "source repository",
  version: "version", revision: "source revision (commit)", vendor: "vendor", licenses: "licenses (SPDX)", "ref.name": "reference name",
  title: "title", description: "description", "base.digest": "base image digest", "base.name": "base image",
};
const LABEL_SCHEMA = "org.label-schema.";
const LABEL_SCHEMA_KEYS: Record<string, string> = {
  "build-date": "creation time (label-schema)", url: "project URL (label-schema)", "vcs-url": "source repository (label-schema)",
  version: "version (label-schema)", "vcs-ref": "source revision (label-schema)", vendor: "vendor (label-schema)", name: "title (label-schema)",
  description: "description (label-schema)", usage: "documentation (label-schema)", "schema-version": "label-schema version",
};
/** The seed's CI labels (docs/provenance.md): set from --build-arg in the pipeline. */
const BUILD_KEYS: Record<string, string> = {
  "build.user": "who started the build (CI actor)",
  "build.sha": "commit the build ran from",
  "build.dockerfile": "Dockerfile the image was built from",
};

export function meaningOf(key: string): string | undefined {
  if (key.startsWith(OCI)) return OCI_KEYS[key.slice(OCI.length)];
  if (key.startsWith(LABEL_SCHEMA)) return LABEL_SCHEMA_KEYS[key.slice(LABEL_SCHEMA.length)];
  return BUILD_KEYS[key];
}

const isUrl = (value: string) => /^https?:\/\/[^\s]+$/i.test(value);

/** https://github.com/org/repo(.git)(#ref) or git@github.com:org/repo.git → https://github.com/org/repo. */
export function forgeRepository(source: string | undefined): string | undefined {
  if (!source) return undefined;
  const match = /^(?:https?:\/\/|git@|ssh:\/\/git@)(github\.com|gitlab\.com|codeberg\.org)[/:]([\w.-]+\/[\w.-]+?)(?:\.git)?(?:[#?].*)?\/?$/i.exec(source.trim());
  return match ? `https://${match[1]!.toLowerCase()}/${match[2]}` : undefined;
}

/**
 * The origin of one image: `labels` from its config, `manifest` and `index` annotations, and the
 * SLSA facts of its provenance attestation if any (their vcs values are the builder's claim).
 */
export function originOf(labels: Record<string, string>, manifest: Record<string, string>, index: Record<string, string>, slsa: SlsaFacts | undefined): Origin {
  const all: OriginEntry[] = [];
  const add = (values: Record<string, string>, from: OriginSource) => {
    for (const [key, value] of Object.entries(values)) {
      const meaning = meaningOf(key);
      if (meaning) all.push({ key, value, from, meaning, ...(isUrl(value) ? { link: value } : {}) });
    }
  };
  add(labels, "label");
  add(manifest, "annotation:manifest");
  add(index, "annotation:index");
  const first = (...keys: string[]) => {
    for (const key of keys) {
      const found = all.find((e) => e.key === key);
      if (found) return found;
    }
    return undefined;
  };
  const claimed = (key: string, value: string | undefined): OriginEntry | undefined =>
    value ? { key, value, from: "provenance (claimed by builder)", ...(isUrl(value) ? { link: value } : {}) } : undefined;

  const origin: Origin = { wellKnown: all };
  origin.source = first(`${OCI}source`, `${LABEL_SCHEMA}vcs-url`) ?? claimed("vcs.source", slsa?.vcs?.source) ?? claimed("configSource.uri", slsa?.configSource?.uri);
  const repository = forgeRepository(origin.source?.value);
  const revision = first(`${OCI}revision`, "build.sha", `${LABEL_SCHEMA}vcs-ref`) ?? claimed("vcs.revision", slsa?.vcs?.revision);
  if (revision) {
    origin.revision = { ...revision, ...(repository ? { sourceRepository: repository } : {}) };
    if (repository && /^[0-9a-f]{7,64}$/i.test(revision.value)) origin.revision.link = `${repository}/commit/${revision.value}`;
  }
  const dockerfile = first("build.dockerfile") ?? claimed("configSource.path", slsa?.configSource?.path);
  if (dockerfile) {
    origin.dockerfile = { ...dockerfile };
    if (!dockerfile.link && repository && origin.revision && !dockerfile.value.includes("://")) {
      origin.dockerfile.link = `${repository}/blob/${origin.revision.value}/${dockerfile.value.replace(/^\.?\//, "")}`;
    }
  }
  origin.committer = first("build.user", `${OCI}authors`);
  origin.created = first(`${OCI}created`, `${LABEL_SCHEMA}build-date`);
  origin.version = first(`${OCI}version`, `${LABEL_SCHEMA}version`);
  origin.authors = first(`${OCI}authors`);
  for (const key of Object.keys(origin) as (keyof Origin)[]) if (origin[key] === undefined) delete origin[key];
  return origin;
}

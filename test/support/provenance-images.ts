// Images with provenance, built in memory: configs with labels and history, small SLSA v0.2 and
// v1 in-toto statements and an SPDX SBOM, BuildKit attestation manifests in both shapes
// (≤ v0.31: dummy image config, no subject; v0.32+: artifactType, empty config, subject), and a
// two-platform index listing the attestations the way BuildKit does (vnd.docker.reference.*,
// unknown/unknown). Shapes: ../shared/research/provenance.md §2. Every blob and manifest is
// returned as bytes, so a test can push them through any client (app.request, an OCI layout).
import { createHash, randomBytes, sign, type KeyObject } from "node:crypto";
import { gzipSync } from "node:zlib";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
  empty: "application/vnd.oci.empty.v1+json",
  inToto: "application/vnd.in-toto+json",
  attestation: "application/vnd.docker.attestation.manifest.v1+json",
  notation: "application/vnd.cncf.notary.signature",
} as const;

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface Built {
  /** Blobs to push first (configs, layers, statements), then manifests in this order (children before parents). */
  blobs: Blob[];
  manifests: Blob[];
}

export const digestOf = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

function blob(mediaType: string, value: unknown): Blob {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
  return { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
}

const descriptor = (b: Blob, extra: Record<string, unknown> = {}) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size, ...extra });

/** The seed's three CI labels, as `docker build --build-arg` + LABEL lines set them. */
export const SEED_LABELS = {
  "build.user": "octocat",
  "build.dockerfile": "https://github.com/example/berth-seed/blob/0123456789abcdef0123456789abcdef01234567/Dockerfile",
  "build.sha": "0123456789abcdef0123456789abcdef01234567",
};

export function slsaV02(subject: string, platform: string) {
  return {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://slsa.dev/provenance/v0.2",
    subject: [{ name: `pkg:docker/example/app@v1?platform=${encodeURIComponent(platform)}`, digest: { sha256: subject.slice(7) } }],
    predicate: {
      builder: { id: "https://github.com/example/berth-seed/actions/runs/42" },
      buildType: "https://mobyproject.org/buildkit@v1",
      invocation: {
        configSource: { uri: "https://github.com/example/berth-seed.git#refs/heads/main", digest: { sha1: SEED_LABELS["build.sha"] }, entryPoint: "Dockerfile" },
        parameters: { frontend: "dockerfile.v0", args: { "build-arg:IMAGE_COMMITTER": "octocat" } },
        environment: { platform },
      },
      materials: [{ uri: "pkg:docker/alpine@3.20?platform=linux%2Famd64", digest: { sha256: "a".repeat(64) } }],
      metadata: { buildInvocationId: "inv-v02", buildStartedOn: "2026-11-20T10:00:00Z", buildFinishedOn: "2026-11-20T10:01:00Z" },
    },
  };
}

export function slsaV1(subject: string, platform: string) {
  return {
    _type: "https://in-toto.io/Statement/v1",
    predicateType: "https://slsa.dev/provenance/v1",
    subject: [{ name: `pkg:docker/example/app@v1?platform=${encodeURIComponent(platform)}`, digest: { sha256: subject.slice(7) } }],
    predicate: {
      buildDefinition: {
        buildType: "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
        externalParameters: {
          configSource: { uri: "https://github.com/example/berth-seed.git#refs/heads/main", digest: { sha1: SEED_LABELS["build.sha"] }, path: "Dockerfile" },
          request: { frontend: "dockerfile.v0", args: { "build-arg:IMAGE_COMMITTER": "octocat" } },
        },
        resolvedDependencies: [{ uri: "pkg:docker/alpine@3.20?platform=linux%2Farm64", digest: { sha256: "b".repeat(64) } }],
      },
      runDetails: {
        builder: { id: "https://github.com/example/berth-seed/actions/runs/43" },
        metadata: { invocationID: "inv-v1", startedOn: "2026-11-20T10:00:00Z", finishedOn: "2026-11-20T10:02:00Z", buildkit_metadata: { vcs: { source: "https://github.com/example/berth-seed", revision: SEED_LABELS["build.sha"] } } },
      },
    },
  };
}

export function spdx(subject: string) {
  return {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://spdx.dev/Document",
    subject: [{ name: "app", digest: { sha256: subject.slice(7) } }],
    predicate: { spdxVersion: "SPDX-2.3", SPDXID: "SPDXRef-DOCUMENT", name: "app", creationInfo: { creators: ["Tool: syft-v1.0.0"] }, packages: [{ name: "musl" }, { name: "busybox" }, { name: "alpine-baselayout" }] },
  };
}

export interface PlatformBuild {
  platform: { os: string; architecture: string; variant?: string };
  labels: Record<string, string>;
  manifest: Blob;
  layer: Blob;
  config: Blob;
}

/** One platform image: a config with labels and history, one small gzip layer, annotations on the manifest. */
export function platformImage(platform: PlatformBuild["platform"], labels: Record<string, string>, annotations: Record<string, string> = {}): PlatformBuild {
  const layer = blob(MEDIA.layer, gzipSync(Buffer.from(`layer ${platform.architecture} ${randomBytes(8).toString("hex")}`)));
  const config = blob(MEDIA.config, {
    created: "2026-11-20T10:01:00Z",
    author: "octocat",
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ["PATH=/usr/bin"], Labels: labels },
    rootfs: { type: "layers", diff_ids: [digestOf(Buffer.from("uncompressed"))] },
    history: [
      { created: "2026-11-20T10:00:00Z", created_by: "ARG IMAGE_COMMITTER", comment: "buildkit.dockerfile.v0", empty_layer: true },
      { created: "2026-11-20T10:00:00Z", created_by: 'LABEL build.user=octocat build.sha=0123 build.dockerfile=Dockerfile', comment: "buildkit.dockerfile.v0", empty_layer: true },
      { created: "2026-11-20T10:01:00Z", created_by: "COPY hello.txt / # buildkit", comment: "buildkit.dockerfile.v0" },
    ],
  });
  const manifest = blob(MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config: descriptor(config), layers: [descriptor(layer)], ...(Object.keys(annotations).length ? { annotations } : {}) });
  return { platform, labels, manifest, layer, config };
}

/**
 * A two-platform index (amd64, arm64) with a BuildKit ≤ v0.31 attestation manifest (SLSA v0.2 +
 * SPDX) for amd64 and a v0.32 one (SLSA v1, with subject) for arm64, both also listed in the index.
 */
export function attestedIndex(labels: Record<string, string> = SEED_LABELS, indexAnnotations: Record<string, string> = {}): Built & { index: Blob; platforms: PlatformBuild[]; legacyAttestation: Blob; artifactAttestation: Blob } {
  const annotations = { "org.opencontainers.image.source": "https://github.com/example/berth-seed", "org.opencontainers.image.revision": SEED_LABELS["build.sha"] };
  const amd64 = platformImage({ os: "linux", architecture: "amd64" }, labels, annotations);
  const arm64 = platformImage({ os: "linux", architecture: "arm64", variant: "v8" }, labels, annotations);
  const inToto = (statement: unknown) => blob(MEDIA.inToto, statement);
  const layerOf = (b: Blob, predicateType: string) => descriptor(b, { annotations: { "in-toto.io/predicate-type": predicateType } });

  const v02 = inToto(slsaV02(amd64.manifest.digest, "linux/amd64"));
  const sbom = inToto(spdx(amd64.manifest.digest));
  const dummyConfig = blob(MEDIA.config, { architecture: "unknown", os: "unknown", config: {}, rootfs: { type: "layers", diff_ids: [v02.digest, sbom.digest] } });
  const legacyAttestation = blob(MEDIA.manifest, {
    schemaVersion: 2, mediaType: MEDIA.manifest, config: descriptor(dummyConfig),
    layers: [layerOf(v02, "https://slsa.dev/provenance/v0.2"), layerOf(sbom, "https://spdx.dev/Document")],
  });

  const v1 = inToto(slsaV1(arm64.manifest.digest, "linux/arm64/v8"));
  const empty = blob(MEDIA.empty, Buffer.from("{}"));
  const artifactAttestation = blob(MEDIA.manifest, {
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: MEDIA.attestation, config: descriptor(empty),
    layers: [layerOf(v1, "https://slsa.dev/provenance/v1")], subject: descriptor(arm64.manifest),
  });

  const attestationEntry = (b: Blob, target: Blob) =>
    descriptor(b, { annotations: { "vnd.docker.reference.digest": target.digest, "vnd.docker.reference.type": "attestation-manifest" }, platform: { architecture: "unknown", os: "unknown" } });
  const index = blob(MEDIA.index, {
    schemaVersion: 2, mediaType: MEDIA.index,
    manifests: [
      descriptor(amd64.manifest, { platform: amd64.platform }),
      descriptor(arm64.manifest, { platform: arm64.platform }),
      attestationEntry(legacyAttestation, amd64.manifest),
      attestationEntry(artifactAttestation, arm64.manifest),
    ],
    ...(Object.keys(indexAnnotations).length ? { annotations: indexAnnotations } : {}),
  });
  return {
    blobs: [amd64.layer, amd64.config, arm64.layer, arm64.config, v02, sbom, dummyConfig, v1, empty],
    manifests: [amd64.manifest, arm64.manifest, legacyAttestation, artifactAttestation, index],
    index, platforms: [amd64, arm64], legacyAttestation, artifactAttestation,
  };
}

/** A notation-shaped signature referrer (COSE envelope, thumbprint annotation); not a valid signature. */
export function notationSignature(subject: Blob): Built & { signature: Blob } {
  const empty = blob(MEDIA.empty, Buffer.from("{}"));
  const envelope = blob("application/cose", randomBytes(64));
  const signature = blob(MEDIA.manifest, {
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: MEDIA.notation, config: descriptor(empty), layers: [descriptor(envelope)],
    subject: descriptor(subject),
    annotations: { "io.cncf.notary.x509chain.thumbprint#S256": JSON.stringify(["AB".repeat(32)]), "org.opencontainers.image.created": "2026-11-21T09:00:00Z" },
  });
  return { blobs: [empty, envelope], manifests: [signature], signature };
}

/**
 * A cosign v3 signature referrer as `cosign sign --key` writes it: a Sigstore bundle v0.3 holding a
 * DSSE envelope over an in-toto statement naming `subject`, signed with `key` (ECDSA P-256 /
 * SHA-256, DER). `tamper` changes the statement after signing; `statementDigest` names another digest.
 */
export function cosignBundleSignature(subject: Blob, key: KeyObject, publicKey: KeyObject, options: { tamper?: boolean; statementDigest?: string } = {}): Built & { signature: Blob } {
  const empty = blob(MEDIA.empty, Buffer.from("{}"));
  const payloadType = "application/vnd.in-toto+json";
  const statement = (digest: string) => Buffer.from(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ digest: { sha256: digest.replace(/^sha256:/, "") }, annotations: {} }],
    predicateType: "https://sigstore.dev/cosign/sign/v1",
    predicate: {},
  }));
  const body = statement(options.statementDigest ?? subject.digest);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${body.length} `), body]);
  const sig = sign("sha256", pae, key).toString("base64");
  const hint = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("base64");
  const signed = options.tamper ? statement(`sha256:${"0".repeat(64)}`) : body;
  const bundle = blob("application/vnd.dev.sigstore.bundle.v0.3+json", {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint } },
    dsseEnvelope: { payload: signed.toString("base64"), payloadType, signatures: [{ sig }] },
  });
  const signature = blob(MEDIA.manifest, {
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    config: { ...descriptor(empty), artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json" }, layers: [descriptor(bundle)],
    subject: descriptor(subject),
    annotations: { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1", "org.opencontainers.image.created": "2026-11-24T05:00:00Z" },
  });
  return { blobs: [empty, bundle], manifests: [signature], signature };
}

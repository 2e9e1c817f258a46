// Reads an in-toto statement (Statement/v0.1 or /v1) into the facts the report shows: SLSA
// provenance v0.2 and v1 normalised to one shape, SBOMs (SPDX, CycloneDX) reduced to format and
// package count. Shapes: moby/buildkit docs/attestations/slsa-definitions.md, in-toto/attestation
// spec; ../shared/research/provenance.md §2.2-2.4. Values are copied as strings or dropped: a
// statement is untrusted input and the report must never echo an object it did not expect.
import type { Digest } from "../../domain/digest.ts";
import type { SbomFacts, SlsaFacts, StatementFacts } from "../../metadata/provenance-types.ts";

export const IN_TOTO_LAYER = "application/vnd.in-toto+json";
export const PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type";
export const SLSA_V02 = "https://slsa.dev/provenance/v0.2";
export const SLSA_V1 = "https://slsa.dev/provenance/v1";
export const SPDX = "https://spdx.dev/Document";
export const CYCLONEDX = "https://cyclonedx.org/bom";

type Json = Record<string, unknown>;

const obj = (value: unknown): Json => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {});
const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value.slice(0, 4096) : undefined);
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A `{sha256: hex, sha1: hex}` map with string values only. */
function digestSet(value: unknown): Record<string, string> | undefined {
  const entries = Object.entries(obj(value)).filter((e): e is [string, string] => typeof e[1] === "string").slice(0, 8);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function stringMap(value: unknown, prefix: string): Record<string, string> | undefined {
  const entries = Object.entries(obj(value))
    .filter((e): e is [string, string] => e[0].startsWith(prefix) && typeof e[1] === "string")
    .map(([k, v]) => [k.slice(prefix.length), v.slice(0, 4096)] as const)
    .slice(0, 200);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function configSource(value: unknown, pathKey: "entryPoint" | "path"): SlsaFacts["configSource"] {
  const source = obj(value);
  const result = { uri: str(source.uri), digest: digestSet(source.digest), path: str(source[pathKey]) };
  return result.uri || result.digest || result.path ? result : undefined;
}

function materials(value: unknown): SlsaFacts["materials"] {
  return arr(value)
    .slice(0, 500)
    .map((m) => ({ uri: str(obj(m).uri) ?? "", digest: digestSet(obj(m).digest) }))
    .filter((m) => m.uri !== "");
}

function vcs(metadata: unknown): SlsaFacts["vcs"] {
  const found = obj(obj(metadata).vcs);
  const result = { source: str(found.source), revision: str(found.revision) };
  return result.source || result.revision ? result : undefined;
}

/** SLSA provenance v0.2 as BuildKit fills it (builder.id, invocation.configSource, materials...). */
export function slsaV02(predicate: Json): SlsaFacts {
  const invocation = obj(predicate.invocation);
  const parameters = obj(invocation.parameters);
  const metadata = obj(predicate.metadata);
  return {
    version: "v0.2",
    builderId: str(obj(predicate.builder).id),
    buildType: str(predicate.buildType),
    configSource: configSource(invocation.configSource, "entryPoint"),
    frontend: str(parameters.frontend),
    buildArgs: stringMap(parameters.args, "build-arg:"),
    materials: materials(predicate.materials),
    invocationId: str(metadata.buildInvocationId),
    startedOn: str(metadata.buildStartedOn),
    finishedOn: str(metadata.buildFinishedOn),
    vcs: vcs(metadata["https://mobyproject.org/buildkit@v1#metadata"]),
  };
}

/** SLSA provenance v1 (buildDefinition + runDetails). */
export function slsaV1(predicate: Json): SlsaFacts {
  const definition = obj(predicate.buildDefinition);
  const external = obj(definition.externalParameters);
  const request = obj(external.request);
  const run = obj(predicate.runDetails);
  const metadata = obj(run.metadata);
  return {
    version: "v1",
    builderId: str(obj(run.builder).id),
    buildType: str(definition.buildType),
    configSource: configSource(external.configSource, "path"),
    frontend: str(request.frontend),
    buildArgs: stringMap(request.args, "build-arg:"),
    materials: materials(definition.resolvedDependencies),
    invocationId: str(metadata.invocationID),
    startedOn: str(metadata.startedOn),
    finishedOn: str(metadata.finishedOn),
    vcs: vcs(metadata.buildkit_metadata),
  };
}

function sbom(predicateType: string, predicate: Json): SbomFacts | undefined {
  if (predicateType === SPDX || typeof predicate.spdxVersion === "string") {
    const creators = arr(obj(predicate.creationInfo).creators).map(str).filter((c): c is string => c !== undefined);
    return { format: "spdx-json", specVersion: str(predicate.spdxVersion), packageCount: arr(predicate.packages).length, generator: creators.find((c) => c.startsWith("Tool:")) ?? creators[0] };
  }
  if (predicateType.startsWith(CYCLONEDX) || predicate.bomFormat === "CycloneDX") {
    const tools = obj(predicate.metadata).tools;
    const first = obj(Array.isArray(tools) ? tools[0] : arr(obj(tools).components)[0]);
    return { format: "cyclonedx-json", specVersion: str(predicate.specVersion), packageCount: arr(predicate.components).length, generator: str(first.name) };
  }
  return undefined;
}

/** The facts of one statement layer; `statement` is the parsed JSON or null when it was not read. */
export function statementFacts(layer: { digest: Digest; size: number; annotations?: Record<string, string> }, statement: unknown): StatementFacts {
  const annotated = layer.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? "";
  if (statement === null) return { layerDigest: layer.digest, size: layer.size, predicateType: annotated, subjects: [], read: false };
  const s = obj(statement);
  const predicateType = str(s.predicateType) ?? annotated;
  const predicate = obj(s.predicate);
  const facts: StatementFacts = {
    layerDigest: layer.digest,
    size: layer.size,
    predicateType,
    statementType: str(s._type),
    subjects: arr(s.subject)
      .slice(0, 50)
      .map((subject) => {
        const sha = str(obj(obj(subject).digest).sha256);
        return { name: str(obj(subject).name), digest: sha ? `sha256:${sha}` : undefined };
      }),
    read: true,
  };
  if (predicateType === SLSA_V02) facts.slsa = slsaV02(predicate);
  else if (predicateType === SLSA_V1 || predicateType.startsWith(`${SLSA_V1}.`)) facts.slsa = slsaV1(predicate);
  else facts.sbom = sbom(predicateType, predicate);
  return facts;
}

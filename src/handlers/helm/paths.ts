// Paths of the classic repository (/helm/v1/<repository>/…) and of ChartMuseum's API
// (/api/[helm/v1/]<repository>/…). Repository names may hold slashes, so the route keyword
// (index.yaml, _blobs, _charts, charts, prov) is found first and the name is what precedes it.
import { RegistryError } from "../../domain/errors.ts";
import { parseRepositoryName } from "../../domain/names.ts";

export type ClassicPath =
  | { kind: "index"; view: string }
  | { kind: "blob"; view: string; path: string }
  | { kind: "charts"; view: string; name?: string; version?: string };

export type MuseumPath =
  | { kind: "charts"; view: string; name?: string; version?: string }
  | { kind: "prov"; view: string };

export function classicHint(): RegistryError {
  return new RegistryError(
    "CLASSIC_REPOSITORY_UNKNOWN",
    "no chart repository at this path: classic chart repositories live at /helm/v1/<repository>, e.g. `helm repo add berth http://<host>/helm/v1/repo`; for OCI use `helm pull oci://<host>/<namespace>/<chart>`",
  );
}

/** A path segment as sent: clients may percent-encode `+` in versions (`0.2.0%2Bbuild.1`). */
function decoded(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return decodeURIComponent(text);
  } catch {
    throw classicHint();
  }
}

function view(text: string): string {
  try {
    return parseRepositoryName(text);
  } catch {
    throw classicHint();
  }
}

/** Parses the path after `/helm/`; throws the hint for anything else. */
export function parseClassicPath(path: string): ClassicPath {
  const rest = /^v1\/(.+)$/.exec(path)?.[1];
  if (!rest) throw classicHint();
  let m: RegExpExecArray | null;
  if ((m = /^(.+?)\/index\.yaml$/.exec(rest))) return { kind: "index", view: view(m[1]!) };
  if ((m = /^(.+?)\/_blobs\/(.+)$/.exec(rest))) return { kind: "blob", view: view(m[1]!), path: decoded(m[2])! };
  if ((m = /^(.+?)\/_charts(?:\/([^/]+)(?:\/([^/]+))?)?\/?$/.exec(rest))) return { kind: "charts", view: view(m[1]!), name: decoded(m[2]), version: decoded(m[3]) };
  throw classicHint();
}

/** Parses the path after `/api/` for ChartMuseum's routes; null when it is not one. */
export function parseMuseumPath(path: string): MuseumPath | null {
  const rest = path.replace(/^helm\/v1\//, "");
  let m: RegExpExecArray | null;
  if ((m = /^(.+?)\/charts(?:\/([^/]+)(?:\/([^/]+))?)?\/?$/.exec(rest))) return { kind: "charts", view: view(m[1]!), name: decoded(m[2]), version: decoded(m[3]) };
  if ((m = /^(.+?)\/prov\/?$/.exec(rest))) return { kind: "prov", view: view(m[1]!) };
  return null;
}

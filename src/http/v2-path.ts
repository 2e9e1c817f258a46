// Names under /v2 hold slashes, so /v2/* is one route and this file types it. Patterns are
// matched from the end of the path: the name is everything before the last route keyword.
import { parseDigest, type Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import { parseReference, parseRepositoryName, type Reference, type RepositoryName } from "../domain/names.ts";

export type V2Path =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: RepositoryName }
  | { kind: "manifest"; name: RepositoryName; reference: Reference }
  | { kind: "uploads"; name: RepositoryName }
  | { kind: "upload"; name: RepositoryName; id: string }
  | { kind: "blob"; name: RepositoryName; digest: Digest }
  | { kind: "referrers"; name: RepositoryName; digest: Digest };

const UPLOAD_ID = /^[A-Za-z0-9-]{1,64}$/;

/** Parses the path after `/v2/` (no query). Throws NAME_INVALID etc. for bad parts, null when no route matches. */
export function parseV2Path(path: string): V2Path | null {
  if (path === "") return { kind: "base" };
  if (path === "_catalog") return { kind: "catalog" };
  let m: RegExpExecArray | null;
  if ((m = /^(.+)\/tags\/list$/.exec(path))) return { kind: "tags", name: parseRepositoryName(m[1]!) };
  if ((m = /^(.+)\/manifests\/([^/]+)$/.exec(path))) return { kind: "manifest", name: parseRepositoryName(m[1]!), reference: parseReference(m[2]!) };
  if ((m = /^(.+)\/blobs\/uploads\/?$/.exec(path))) return { kind: "uploads", name: parseRepositoryName(m[1]!) };
  if ((m = /^(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
    const name = parseRepositoryName(m[1]!);
    if (!UPLOAD_ID.test(m[2]!)) throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", { id: m[2]!.slice(0, 100) });
    return { kind: "upload", name, id: m[2]! };
  }
  if ((m = /^(.+)\/blobs\/([^/]+)$/.exec(path))) return { kind: "blob", name: parseRepositoryName(m[1]!), digest: parseDigest(m[2]!) };
  if ((m = /^(.+)\/referrers\/([^/]+)$/.exec(path))) return { kind: "referrers", name: parseRepositoryName(m[1]!), digest: parseDigest(m[2]!) };
  return null;
}

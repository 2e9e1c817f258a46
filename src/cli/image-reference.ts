// Image references as docker writes them: `[host[:port]/]repository[:tag|@digest]`. The first
// component is a host when it holds a "." or ":" or is "localhost" (docker's rule), so
// `127.0.0.1:5000/team/app:v1` names the server and `team/app:v1` leaves it to --server.
import { CliError } from "./client.ts";

export interface ImageReference {
  /** host[:port] when the reference named one. */
  host?: string;
  repository: string;
  /** The tag or digest; undefined when neither was written (`repository` alone). */
  reference?: string;
  kind: "tag" | "digest" | "none";
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function parseImageReference(text: string): ImageReference {
  let rest = text.trim().replace(/^oci:\/\//i, "").replace(/^https?:\/\//i, "");
  let host: string | undefined;
  const slash = rest.indexOf("/");
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      host = first;
      rest = rest.slice(slash + 1);
    }
  }
  let repository = rest;
  let reference: string | undefined;
  let kind: ImageReference["kind"] = "none";
  const at = rest.indexOf("@");
  if (at >= 0) {
    repository = rest.slice(0, at);
    reference = rest.slice(at + 1);
    kind = "digest";
    if (!DIGEST.test(reference)) throw new CliError(`${text}: after @ comes a digest, e.g. team/app@sha256:…`);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
      repository = rest.slice(0, colon);
      reference = rest.slice(colon + 1);
      kind = "tag";
      if (!TAG.test(reference)) throw new CliError(`${text}: "${reference}" is not a tag (letters, digits, _ . -; at most 128)`);
    }
  }
  if (repository === "" || !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
    throw new CliError(`${text}: "${repository}" is not a repository name (lower case, e.g. team/app)`);
  }
  return { ...(host ? { host } : {}), repository, ...(reference ? { reference } : {}), kind };
}

/** --server wins; else BERTH_SERVER; else the host the reference named. */
export function serverFor(flag: string | undefined, env: NodeJS.ProcessEnv, ref: ImageReference): string | undefined {
  return flag ?? (env.BERTH_SERVER || undefined) ?? ref.host;
}

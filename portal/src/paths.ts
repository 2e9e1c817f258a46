// Page URLs. Repository names hold slashes and a path segment is never a lone `-` in an OCI
// name, so a repository's pages are /r/<repository…>/-/<what>: one catch-all route splits on
// "/-/". Each segment is encoded once and decoded once (no %252F).
const enc = (repo: string) => repo.split("/").map(encodeURIComponent).join("/");

export const paths = {
  repository: (repo: string) => `/r/${enc(repo)}`,
  tag: (repo: string, tag: string) => `/r/${enc(repo)}/-/tag/${encodeURIComponent(tag)}`,
  manifest: (repo: string, digest: string) => `/r/${enc(repo)}/-/manifest/${encodeURIComponent(digest)}`,
  chart: (repo: string, version?: string) => `/charts/${enc(repo)}${version ? `?version=${encodeURIComponent(version)}` : ""}`,
};

export type RepoPage = { repo: string; view: "repository" } | { repo: string; view: "tag"; ref: string } | { repo: string; view: "manifest"; ref: string };

/** The repository page a /r/… path names, or null. */
export function parseRepoPath(path: string): RepoPage | null {
  const rest = path.replace(/^\/r\//, "");
  const [namePart, what] = rest.split("/-/", 2);
  const repo = (namePart ?? "").split("/").filter(Boolean).map(decodeURIComponent).join("/");
  if (!repo) return null;
  if (what === undefined || what === "" || what === "tags") return { repo, view: "repository" };
  const [kind, ...ref] = what.split("/");
  const value = decodeURIComponent(ref.join("/"));
  if (kind === "tag" && value) return { repo, view: "tag", ref: value };
  if (kind === "manifest" && value) return { repo, view: "manifest", ref: value };
  return null;
}

export function parseChartPath(path: string): string | null {
  const repo = path.replace(/^\/charts\/?/, "").split("/").filter(Boolean).map(decodeURIComponent).join("/");
  return repo || null;
}

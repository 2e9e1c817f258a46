// Repository names and tags, parsed once at the edge into branded strings.
// Grammar from distribution-spec spec.md "Pulling manifests".
import { isDigest, type Digest } from "./digest.ts";
import { RegistryError } from "./errors.ts";

export type RepositoryName = string & { readonly brand: "RepositoryName" };
export type Tag = string & { readonly brand: "Tag" };
export type Reference = { kind: "tag"; tag: Tag } | { kind: "digest"; digest: Digest };

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Clients cap host[:port]/name at 255 characters; Berth keeps the name itself within that. */
export const MAX_NAME_LENGTH = 255;

export function parseRepositoryName(text: string): RepositoryName {
  if (text.length > MAX_NAME_LENGTH || !NAME_PATTERN.test(text)) {
    throw new RegistryError("NAME_INVALID", "invalid repository name: use lowercase letters, digits and . _ - separators, / between components", {
      name: text.slice(0, 300),
    });
  }
  return text as RepositoryName;
}

export function isTag(text: string): text is Tag {
  return TAG_PATTERN.test(text);
}

export function parseTag(text: string): Tag {
  if (!isTag(text)) throw new RegistryError("TAG_INVALID", `invalid tag: ${tagProblem(text)}; a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -`, { tag: text.slice(0, 200) });
  return text;
}

/** Which rule of the tag grammar `text` breaks, for a message that says exactly what was wrong. */
function tagProblem(text: string): string {
  if (text.length === 0) return "it is empty";
  if (text.length > 128) return `it has ${text.length} characters`;
  if (/^[.-]/.test(text)) return `it starts with ${JSON.stringify(text[0])}`;
  const bad = [...text].find((c) => !/[a-zA-Z0-9_.-]/.test(c))!;
  // The raw path is parsed, so a percent-encoded character shows as its '%'.
  return `it contains ${JSON.stringify(bad)}`;
}

/** A manifest reference: a digest when it looks like one (algorithm:...), else a tag. */
export function parseReference(text: string): Reference {
  if (text.includes(":")) {
    if (!isDigest(text)) throw new RegistryError("DIGEST_INVALID", "invalid or unsupported digest", { reference: text.slice(0, 200) });
    return { kind: "digest", digest: text };
  }
  return { kind: "tag", tag: parseTag(text) };
}

/** `*`, `team/*` (team and everything below it) or an exact repository name: scope maps', scoped principals', webhooks' and tag rules' repository patterns. */
export function matchesPattern(pattern: string, repository: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("/*")) return repository.startsWith(pattern.slice(0, -1)) || repository === pattern.slice(0, -2);
  return pattern === repository;
}

/** Whether every repository `inner` names is one `outer` names (both patterns as matchesPattern reads them). */
export function coversPattern(outer: string, inner: string): boolean {
  if (outer === "*") return true;
  if (inner === "*") return false;
  if (inner.endsWith("/*")) return outer.endsWith("/*") && matchesPattern(outer, inner.slice(0, -2));
  return matchesPattern(outer, inner);
}

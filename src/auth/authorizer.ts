// Authorization as a function over data: the identity's grants (policy.ts), then ACR's
// repository and tag attributes on top (a locked repository refuses everyone, the owner too),
// and anonymous pull for the registry or one repository.
//
// A tag's lock protects the tag and the content it points at on every route: a request that
// names content by digest (a manifest, a child of an index, a layer, a referrers subject) is
// bound by the locks of every tag covering it (bindTags, before the checks):
//   delete: refused if any covering tag is delete-locked (it would remove or break the tag);
//   pull:   refused if every covering tag is read-locked (one readable tag already shows it).
// Pushing by digest cannot change a tag (the bytes are the digest); `?tag=` names its tags.
import { RegistryError } from "../domain/errors.ts";
import type { Digest } from "../domain/digest.ts";
import type { RepositoryName } from "../domain/names.ts";
import { DEFAULT_ATTRIBUTES, type Attributes, type AttributeRows } from "../metadata/identity-types.ts";
import type { TagRows } from "../metadata/types.ts";
import { isAnonymous, type Access, type Action, type Identity } from "./identity.ts";
import { permits, permitsSomewhere, pullPatterns } from "./policy.ts";

/** Pulling content, or reading the registry-side metadata kept about it: a read lock refuses both. */
function reads(access: Access): boolean {
  return access.action === "pull" || (access.action === "metadata_read" && (access.digest !== undefined || access.tag !== undefined));
}

export interface AuthorizerOptions {
  anonymousPull: boolean;
}

export class Authorizer {
  private readonly options: AuthorizerOptions;
  private readonly rows: AttributeRows;
  private readonly tags: Pick<TagRows, "covering">;
  /** repository \0 tag → attributes; small, read on every request, reloaded after a change. */
  private attributes = new Map<string, Attributes>();
  /** repository → its tags that have attributes of their own (only those repositories need bindTags' query). */
  private tagged = new Map<string, string[]>();
  private restricted = false;

  constructor(options: AuthorizerOptions, rows: AttributeRows, tags: Pick<TagRows, "covering">) {
    this.options = options;
    this.rows = rows;
    this.tags = tags;
  }

  async loadAttributes(): Promise<void> {
    const next = new Map<string, Attributes>();
    const tagged = new Map<string, string[]>();
    for (const row of await this.rows.all()) {
      next.set(`${row.repository}\0${row.tag}`, row.attributes);
      if (row.tag !== "") tagged.set(row.repository, [...(tagged.get(row.repository) ?? []), row.tag]);
    }
    this.attributes = next;
    this.tagged = tagged;
    this.restricted = [...next.values()].some((a) => !a.readEnabled || !a.listEnabled);
  }

  /**
   * The accesses, with the tags that cover the content each names by digest added where their
   * locks apply (see the rules at the top). No query unless the repository has a locked tag.
   */
  async bindTags(wanted: readonly Access[]): Promise<Access[]> {
    const bound: Access[] = [];
    for (const access of wanted) {
      bound.push(access);
      if (access.type !== "repository" || !access.digest || access.tag || (!reads(access) && access.action !== "delete")) continue;
      const locks = (this.tagged.get(access.name) ?? []).filter((tag) => this.locksTag(access, tag));
      if (locks.length === 0) continue;
      const covering = await this.tags.covering(access.name as RepositoryName, access.digest as Digest);
      if (access.action === "delete") {
        for (const tag of covering) if (locks.includes(tag)) bound.push({ ...access, tag });
      } else if (covering.length > 0 && covering.every((tag) => locks.includes(tag))) {
        bound.push({ ...access, tag: covering[0]! });
      }
    }
    return bound;
  }

  /**
   * Whether a tag's read lock covers the digest (every tag covering it is read-locked): a new
   * manifest may then not name it. Repository-level read locks do not count: they refuse reads,
   * not pushes.
   */
  async readLockCovers(repository: string, digest: Digest): Promise<boolean> {
    return (await this.bindTags([{ type: "repository", name: repository, action: "pull", digest }])).some((a) => a.tag !== undefined);
  }

  /** Whether any tag of the repository has attributes of its own. */
  hasTagAttributes(repository: string): boolean {
    return this.tagged.has(repository);
  }

  /** Whether the tag's own attributes refuse this action. */
  private locksTag(access: Access, tag: string): boolean {
    const a = this.attributes.get(`${access.name}\0${tag}`);
    if (!a) return false;
    return reads(access) ? !a.readEnabled : access.action === "delete" ? !a.deleteEnabled : !a.writeEnabled;
  }

  attributesOf(repository: string, tag = ""): Attributes {
    return this.attributes.get(`${repository}\0${tag}`) ?? DEFAULT_ATTRIBUTES;
  }

  /** Why an access is refused whoever asks (a locked repository or tag), or null. */
  locked(access: Access): string | null {
    if (access.type !== "repository") return null;
    const levels = [this.attributesOf(access.name), ...(access.tag ? [this.attributesOf(access.name, access.tag)] : [])];
    const what = access.tag ? `${access.name}:${access.tag}` : access.name;
    if (reads(access) && levels.some((a) => !a.readEnabled)) return `${what} is not readable (readEnabled is false)`;
    if (access.action === "push" && levels.some((a) => !a.writeEnabled)) return `${what} is locked (writeEnabled is false)`;
    if (access.action === "delete" && levels.some((a) => !a.deleteEnabled)) return `${what} cannot be deleted (deleteEnabled is false)`;
    return null;
  }

  /** Whether the identity may do this, attributes included. */
  may(who: Identity, access: Access): boolean {
    return !this.locked(access) && this.grants(who, access);
  }

  /** Whether listings (tags, catalog, index.yaml) show this repository or tag to anyone (listEnabled). */
  listable(repository: string, tag?: string): boolean {
    return this.attributesOf(repository).listEnabled && (tag === undefined || this.attributesOf(repository, tag).listEnabled);
  }

  /**
   * The one visibility rule, for every listing (the catalog, tags lists, index.yaml, the chart
   * APIs, later the portal): a repository, or a tag or chart version of it, is shown to a caller
   * that may pull the repository, unless listEnabled hides it. A tag's read lock does not hide it
   * (reading it is refused; knowing it exists is not); listEnabled does.
   */
  shows(who: Identity, repository: string, tag?: string): boolean {
    return this.listable(repository, tag) && this.may(who, { type: "repository", name: repository, action: "pull" });
  }

  /**
   * Whether a listing may show this tag together with what it points at (its digest, labels, a
   * chart version's README and values): `shows` it, and pulling it by tag would not be refused
   * (no read lock on the tag or the repository). The portal's tags, `newest` and chart versions
   * use this; a name alone (the OCI tags list, a summary's tag count and kind) needs only `shows`.
   */
  reveals(who: Identity, repository: string, tag: string): boolean {
    return this.shows(who, repository, tag) && this.may(who, { type: "repository", name: repository, action: "pull", tag });
  }

  /**
   * Whether a listing may show content named by digest (a manifest row, a search hit): the
   * repository is shown, and the content is untagged (no tag covers it, as bindTags reads
   * covering) or some covering tag is revealed to the caller. Content only hidden or read-locked
   * tags reach is not listed (nor offered as untagged): its digest and labels are the tag's.
   * No query unless the repository has tags with attributes of their own.
   */
  async showsContent(who: Identity, repository: string, digest: Digest): Promise<boolean> {
    if (!this.shows(who, repository)) return false;
    if (!this.tagged.has(repository)) return true;
    const covering = await this.tags.covering(repository as RepositoryName, digest);
    return covering.length === 0 || covering.some((tag) => this.reveals(who, repository, tag));
  }

  /**
   * Whether what a stored repository summary says (its tag count, its newest tag) may differ
   * from what some caller is shown: the repository or one of its tags has attributes of its own.
   */
  summaryIsPerCaller(repository: string): boolean {
    return this.tagged.has(repository) || this.attributes.has(`${repository}\0`);
  }

  /** Whether any repository or tag has attributes: else every stored summary is everyone's. */
  anySummaryIsPerCaller(): boolean {
    return this.attributes.size > 0;
  }

  /**
   * Where the repositories this identity may pull can be, as name patterns ("team/*" or an exact
   * name), or null for anywhere: a narrowing a listing may apply in its query before `shows`
   * decides each row (a 100,000-repository registry then reads only a scoped caller's part).
   * Never a rule of its own: every pattern here is one `grants` requires.
   */
  pullScope(who: Identity): string[] | null {
    return pullPatterns(who);
  }

  /**
   * Whether pullScope(who) is exactly what `shows` lets a scoped principal or token see (its role
   * allows pull and no attribute hides or locks anything): a listing may then count in its query.
   */
  scopeIsExact(who: Identity): boolean {
    if (this.restricted) return false;
    if (who.kind === "token") return true;
    if (who.kind !== "sp" || who.scope === null) return false;
    return permits(who, { type: "repository", name: who.scope.endsWith("/*") ? who.scope.slice(0, -2) : who.scope, action: "pull" });
  }

  /**
   * Whether the identity may pull every repository and no attribute hides any: callers may then
   * share cached listings instead of filtering per request.
   */
  mayReadAll(who: Identity): boolean {
    if (this.restricted) return false;
    if (who.kind === "anonymous") return this.options.anonymousPull;
    if (who.kind === "admin") return true;
    if (who.kind === "user") return permits(who, { type: "repository", name: "*", action: "pull" });
    if (who.kind === "sp") return who.scope === null && permits(who, { type: "repository", name: "*", action: "pull" });
    return false;
  }

  /**
   * Throws UNAUTHORIZED (anonymous: sign in) or DENIED (known identity, or a locked resource).
   * Grants are checked before locks: a lock's message names what exists (a tag, the tag covering
   * a digest), so only a caller whose grants reach the resource may hear it; anyone else gets the
   * same refusal whether or not the resource exists.
   */
  authorize(who: Identity, wanted: readonly Access[], options: { tokenFlow?: boolean } = {}): void {
    const refused = wanted.filter((access) => !this.grants(who, access));
    if (refused.length > 0) {
      const detail = refused.map((a) => ({ type: a.type, name: a.name, action: a.action }));
      if (who.kind === "anonymous") throw new RegistryError("UNAUTHORIZED", "authentication required: sign in with your Berth credentials", detail);
      // Where clients follow the token flow (the OCI API: `tokenFlow`), a token lacking a scope is
      // answered as distribution does: 401 insufficient_scope, so the client asks the token service
      // again for what this request needs. Elsewhere (Helm, Berth's API: Basic challenges, no
      // token service to ask) a valid token is a known caller like any other: 403.
      if (who.kind === "bearer" && options.tokenFlow) throw new RegistryError("UNAUTHORIZED", "the access token does not grant this: request a token with the needed scope", detail);
      if (isAnonymous(who)) throw new RegistryError("UNAUTHORIZED", "authentication required: sign in with your Berth credentials", detail);
      throw new RegistryError("DENIED", "requested access to the resource is denied", detail);
    }
    for (const access of wanted) {
      const lock = this.locked(access);
      if (lock) throw new RegistryError("DENIED", lock, { type: access.type, name: access.name, action: access.action });
    }
  }

  /**
   * Whether a listing open to any sign-in (the portal's repositories, charts, search) answers this
   * identity rather than asking it to sign in: anyone known, and anonymous callers while anonymous
   * pull is on for the registry or for some repository (they then see just those repositories,
   * as the one repository's pages already show them).
   */
  mayList(who: Identity): boolean {
    return this.mayPing(who) || [...this.attributes.entries()].some(([key, a]) => key.endsWith("\0") && a.anonymousPull);
  }

  /** Whether GET /v2/ answers this identity without a challenge. */
  mayPing(who: Identity): boolean {
    // Any valid token answers, an anonymous one too, as distribution does: clients (regctl,
    // docker) ping with the token they got, and it grants nothing by itself.
    return who.kind !== "anonymous" || this.options.anonymousPull;
  }

  /**
   * Whether the identity's own grants cover the access, whatever the locks say: whether it may
   * learn that a resource exists (Helm's routes find a chart by file name, and answer a caller
   * without this as if the chart were missing). An access token grants what it says only while
   * its principal still may (a narrowed scope map, or anonymous pull switched off, applies to
   * tokens already issued).
   */
  grants(who: Identity, access: Access): boolean {
    if (who.kind === "anonymous") return access.type === "repository" && access.action === "pull" && (this.options.anonymousPull || this.attributesOf(access.name).anonymousPull);
    if (who.kind === "bearer") return permits(who, access) && this.grants(who.principal, access);
    return permits(who, access);
  }

  /**
   * Refuses (as authorize() would) a caller whose grants allow `action` on no repository at all:
   * checked before a body naming its repository inside is read (policy.ts permitsSomewhere).
   */
  authorizeSomewhere(who: Identity, action: Action, where: string): void {
    if (permitsSomewhere(who, action)) return;
    this.authorize(who, [{ type: "repository", name: where, action }]);
  }
}

// Repository and tag attributes (ACR's `az acr repository update`): readEnabled, writeEnabled,
// deleteEnabled, listEnabled per repository ("" tag) or per tag; anonymousPull per repository.
// A missing row means all enabled and no anonymous pull. Attributes may be set before the
// repository exists, so a name can be locked or opened before its first push.
import { parseRepositoryName, parseTag } from "../../domain/names.ts";
import { DEFAULT_ATTRIBUTES, type Attributes } from "../../metadata/identity-types.ts";
import type { Actor, IdentityContext } from "./context.ts";
import { invalid } from "./identity-rules.ts";

export type AttributeChange = Partial<Attributes>;

/** A repository's attributes, or a tag's (which have no anonymousPull: that is per repository). */
export type AttributesView =
  | ({ repository: string } & Attributes)
  | ({ repository: string; tag: string } & Omit<Attributes, "anonymousPull">);

const FLAGS = ["readEnabled", "writeEnabled", "deleteEnabled", "listEnabled", "anonymousPull"] as const;

function view(repository: string, tag: string, a: Attributes): AttributesView {
  if (tag === "") return { repository, ...a };
  return { repository, tag, readEnabled: a.readEnabled, writeEnabled: a.writeEnabled, deleteEnabled: a.deleteEnabled, listEnabled: a.listEnabled };
}

export class RepositoryAttributes {
  private readonly ctx: IdentityContext;

  constructor(ctx: IdentityContext) {
    this.ctx = ctx;
  }

  /** `tag` undefined or "": the repository's own attributes. */
  async get(repository: string, tag = ""): Promise<AttributesView> {
    const name = parseRepositoryName(repository);
    if (tag !== "") parseTag(tag);
    return view(name, tag, (await this.ctx.metadata.attributes.get(name, tag)) ?? DEFAULT_ATTRIBUTES);
  }

  /** Every stored row, repositories by name, each repository's own row before its tags'. */
  async list(): Promise<{ repository: string; tag: string | null; readEnabled: boolean; writeEnabled: boolean; deleteEnabled: boolean; listEnabled: boolean; anonymousPull: boolean | null }[]> {
    const rows = await this.ctx.metadata.attributes.all();
    rows.sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    return rows.map(({ repository, tag, attributes: a }) => ({
      repository, tag: tag === "" ? null : tag, readEnabled: a.readEnabled, writeEnabled: a.writeEnabled, deleteEnabled: a.deleteEnabled, listEnabled: a.listEnabled,
      anonymousPull: tag === "" ? a.anonymousPull : null,
    }));
  }

  async update(by: Actor, repository: string, tag: string, change: AttributeChange): Promise<AttributesView> {
    const name = parseRepositoryName(repository);
    if (tag !== "") {
      parseTag(tag);
      if (change.anonymousPull !== undefined) throw invalid("anonymousPull is a repository attribute: set it without ?tag=");
    }
    return this.ctx.commit(by, async (tx, note) => {
      const current = (await tx.attributes.get(name, tag)) ?? DEFAULT_ATTRIBUTES;
      const next: Attributes = { ...current };
      const changed: Partial<Attributes> = {};
      for (const flag of FLAGS) {
        const value = change[flag];
        if (value !== undefined && value !== current[flag]) next[flag] = changed[flag] = value;
      }
      if (Object.keys(changed).length > 0) {
        await tx.attributes.set(name, tag, next);
        note({
          event: "attributes.changed",
          action: "update",
          repository: name,
          detail: { tag: tag === "" ? null : tag, ...changed },
          change: { kind: "attributes", repository: name, tag },
        });
      }
      return view(name, tag, next);
    });
  }
}

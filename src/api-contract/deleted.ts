// Soft delete (docs/lifecycle.md#soft-delete): what a repository's deletes kept restorable,
// restoring one, and purging them before their window ends. Lists show only tags listings show
// (listEnabled), and page as the portal's lists do (`n`, `last` from the previous `next`).
import { z } from "zod";
import { PageQuery } from "./catalog.ts";
import { Time } from "./common.ts";

export const DeletedView = z.strictObject({
  /** manifest: the manifest itself was deleted (its tags with it); tag: only tags were. */
  kind: z.enum(["manifest", "tag"]),
  digest: z.string(),
  /** The tags deleted with it (restored with it), those listings show (a tag hidden with listEnabled false is left out). */
  tags: z.array(z.string()),
  /** What it holds: a chart (storedAs says which way), an index, an image or another artifact. */
  content: z.enum(["chart", "index", "image", "artifact"]),
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  /** The manifest's own length in bytes (its blobs are not counted). */
  size: z.number().int().nonnegative(),
  storedAs: z.enum(["classic", "oci", "both"]).nullable(),
  deleted: Time,
  /** Who deleted it, as the event stream names them (null: Berth itself). */
  deletedBy: z.strictObject({ name: z.string(), kind: z.string() }).nullable(),
  /** After this, gc may free it: it can no longer be restored. */
  expires: Time,
});
export type DeletedView = z.infer<typeof DeletedView>;

export const DeletedList = z.strictObject({
  repository: z.string(),
  /** deletion.restorableFor: seconds a delete stays restorable; 0: soft delete is off. */
  restorableFor: z.number().int().nonnegative(),
  deleted: z.array(DeletedView),
  /** Pass as `last` for the next page; null: no more. */
  next: z.string().nullable(),
});
export type DeletedList = z.infer<typeof DeletedList>;

export const DeletedListQuery = z.strictObject({ ...PageQuery });
export type DeletedListQuery = z.infer<typeof DeletedListQuery>;

export const RestoreBody = z.strictObject({
  /** A tag (that tag comes back, with its manifest) or a digest (the manifest and every tag deleted with it). */
  reference: z.string().min(1),
  /** Point tags back even where they were pushed again since the delete. */
  force: z.boolean().optional(),
});

export const Restored = z.strictObject({ repository: z.string(), digest: z.string(), tags: z.array(z.string()) });
export type Restored = z.infer<typeof Restored>;

export const PurgeQuery = z.strictObject({
  /** A tag (every record holding it) or a digest (every record of it); absent: all of the repository's. */
  reference: z.string().min(1).max(300).optional(),
});
export type PurgeQuery = z.infer<typeof PurgeQuery>;

/** What a purge forgot (records only hidden tags name are forgotten, not shown). */
export const Purged = z.strictObject({ repository: z.string(), purged: z.array(DeletedView) });
export type Purged = z.infer<typeof Purged>;

// A repository's "Recently deleted" section (soft delete, docs/lifecycle.md#soft-delete): what its
// deletes kept restorable (GET /api/v1/deleted/<repository>, for those who may delete there) and
// Restore (POST, which needs push as well). Shown only when soft delete is on (restorableFor > 0).
// A restore the server refuses with 409 shows its message; when the refusal is a tag pushed again
// since the delete (the one conflict `force` overrides), the page offers to restore with force.
import { useState } from "preact/hooks";
import type { DeletedList, DeletedView, Restored } from "../../../src/api-contract/deleted.ts";
import { api, ApiError, apiPath } from "../api.ts";
import { Confirm, Problem, Status, Table, useLoad } from "../components.tsx";
import { duration, shortDigest, when } from "../format.ts";

/** What a row restores: its one tag (the tag's newest record), or the digest (every tag deleted with it). */
function referenceOf(record: DeletedView): string {
  return record.kind === "tag" && record.tags.length === 1 ? record.tags[0]! : record.digest;
}

/** The restore a 409 refused because a tag was pushed again since: the one `force` may override. */
function forceable(err: unknown): boolean {
  return err instanceof ApiError && err.status === 409 && err.code === "RESTORE_CONFLICT" && typeof err.detail === "object" && err.detail !== null && "current" in err.detail;
}

export function RecentlyDeleted({ repo, mayRestore, onRestored }: { repo: string; mayRestore: boolean; onRestored: () => void }) {
  const list = useLoad(() => api<DeletedList>("GET", apiPath("/api/v1/deleted", { repo })), [repo]);
  const [confirming, setConfirming] = useState<DeletedView | null>(null);
  const [refused, setRefused] = useState<{ record: DeletedView; error: Error; force: boolean } | null>(null);
  const [restored, setRestored] = useState<Restored | null>(null);
  if (list.error instanceof ApiError && list.error.status === 403) return null;
  if (list.data && list.data.restorableFor === 0) return null;

  const restore = async (record: DeletedView, force: boolean) => {
    setConfirming(null);
    setRefused(null);
    setRestored(null);
    try {
      setRestored(await api<Restored>("POST", apiPath("/api/v1/deleted", { repo }), { reference: referenceOf(record), ...(force ? { force: true } : {}) }));
      list.reload();
      onRestored();
    } catch (err) {
      setRefused({ record, error: err as Error, force: !force && forceable(err) });
    }
  };
  const what = (record: DeletedView, all: DeletedView[]) => {
    const reference = referenceOf(record);
    if (reference !== record.digest) return `tag ${reference} (${shortDigest(record.digest)})`;
    const tags = [...new Set(all.filter((r) => r.digest === record.digest).flatMap((r) => r.tags))];
    return `${shortDigest(record.digest)}${tags.length ? ` with the tags ${tags.join(", ")}` : ""}`;
  };

  return (
    <section aria-labelledby="deleted-h">
      <h2 id="deleted-h">Recently deleted</h2>
      <Status loaded={list}>
        {(answer) => (
          <>
            <p class="small muted">
              Deletes here stay restorable for {duration(answer.restorableFor)}; clients cannot pull them meanwhile.
              {!mayRestore && " Restoring needs push as well as delete on this repository."}
            </p>
            {restored && (
              <p role="status">
                Restored {shortDigest(restored.digest)}
                {restored.tags.length > 0 && ` with the tags ${restored.tags.join(", ")}`}.
              </p>
            )}
            {refused && (
              <div class="confirm" data-restore-refused>
                <Problem error={refused.error} />
                {refused.force && (
                  <p>
                    <button type="button" class="danger" onClick={() => void restore(refused.record, true)}>
                      Restore with force
                    </button>{" "}
                    <span class="small">points the tag back at the deleted content; what it names now stays, untagged.</span>
                  </p>
                )}
              </div>
            )}
            {confirming && (
              <Confirm
                what={`Restore ${what(confirming, answer.deleted)} in ${repo}? Clients can pull it again.`}
                action="Restore"
                onConfirm={() => void restore(confirming, false)}
                onCancel={() => setConfirming(null)}
              />
            )}
            <Table
              list
              caption={`Recently deleted in ${repo}`}
              columns={["Tags", "Digest", "Kind", "Deleted", "By", "Expires", <span class="sr-only">Restore</span>]}
              footer={answer.deleted.length === 0 && <p class="muted">Nothing deleted here can be restored.</p>}
            >
              {answer.deleted.map((r, i) => (
                <tr key={`${r.digest}-${i}`} data-deleted={r.digest}>
                  <th scope="row">{r.tags.length > 0 ? r.tags.join(", ") : <span class="muted">untagged</span>}</th>
                  <td>
                    <code title={r.digest}>{shortDigest(r.digest)}</code>
                  </td>
                  <td>
                    {r.kind === "manifest" ? "manifest" : "tag only"} · {r.content}
                    {r.storedAs && ` (${r.storedAs})`}
                    {r.artifactType && <div class="small muted">{r.artifactType}</div>}
                  </td>
                  <td>{when(r.deleted)}</td>
                  <td>{r.deletedBy ? `${r.deletedBy.name} (${r.deletedBy.kind})` : "Berth"}</td>
                  <td>{when(r.expires)}</td>
                  <td>
                    {mayRestore && (
                      <button type="button" onClick={() => setConfirming(r)}>
                        Restore {r.tags.length > 0 ? r.tags.join(", ") : shortDigest(r.digest)}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </Table>
          </>
        )}
      </Status>
    </section>
  );
}

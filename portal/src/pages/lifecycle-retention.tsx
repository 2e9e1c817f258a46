// Retention on the Lifecycle page (docs/lifecycle.md#retention): the policies (owners add and
// remove them), a preview (a dry run: each item that would go with its reason, a page at a time,
// so 1,000 items stay readable), "Run now" after a confirmation that names how many items go
// (counted by a dry run just before), and the last runs (the `retention` events). Every value
// (patterns, reasons, names) is rendered as text.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type { RetentionPolicyList, RetentionPolicyView, RetentionRunView } from "../../../src/api-contract/retention.ts";
import type { EventList } from "../../../src/api-contract/webhooks.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Problem, Status, Table, TableOf, useConfirm, useLoad, useProblem } from "../components.tsx";
import { shortDigest, when } from "../format.ts";

type Events = z.infer<typeof EventList>;

/** Items a preview or a run shows at once: a page of them, with previous/next. */
export const ITEMS_PER_PAGE = 50;
const RUNS_SHOWN = 5;
/** The newest retention events: the API's page holds only them, however far back they are. */
async function lastRuns(): Promise<Events["events"]> {
  return (await api<Events>("GET", withQuery("/api/v1/events", { order: "newest", action: "retention", limit: String(RUNS_SHOWN) }))).events;
}

/** A policy's rule in words, as `berth retention list` says it. */
export function ruleText(p: RetentionPolicyView): string {
  if (p.keepNewest !== null) return `only the newest ${p.keepNewest} tags matching ${p.tags ?? "*"} stay`;
  return p.untaggedDays === 0 ? "every untagged manifest goes" : `untagged manifests pushed ${p.untaggedDays} days ago or more go`;
}

function counts(summary: RetentionRunView["summary"]): string {
  return `${summary.tagsDeleted} ${summary.tagsDeleted === 1 ? "tag" : "tags"} and ${summary.manifestsDeleted} ${summary.manifestsDeleted === 1 ? "manifest" : "manifests"}`;
}

/** What a preview or a run answered, one page of its items at a time. */
function RunItems({ run }: { run: RetentionRunView }) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(run.items.length / ITEMS_PER_PAGE));
  const at = Math.min(page, pages - 1);
  const shown = run.items.slice(at * ITEMS_PER_PAGE, (at + 1) * ITEMS_PER_PAGE);
  const outcome = { planned: "would delete", deleted: "deleted", skipped: "skipped" } as const;
  return (
    <div data-retention-run={run.dryRun ? "preview" : "run"}>
      <p role="status">
        {run.dryRun ? `Preview: would delete ${counts(run.summary)}; ${run.summary.skipped} skipped. Nothing was deleted.` : `Deleted ${counts(run.summary)}; ${run.summary.skipped} skipped.`}
      </p>
      {run.items.length > 0 && (
        <>
          <Table
            caption={`${run.dryRun ? "What would go" : "What went"}: items ${at * ITEMS_PER_PAGE + 1} to ${at * ITEMS_PER_PAGE + shown.length} of ${run.items.length}`}
            columns={["Outcome", "Repository", "What", "Reason"]}
          >
            {shown.map((item, i) => (
              <tr key={`${at}-${i}`} data-retention-item={item.tag ?? item.digest}>
                <td>{outcome[item.outcome]}</td>
                <td>
                  <code>{item.repository}</code>
                </td>
                <td>
                  {item.tag ? (
                    <>
                      tag <code>{item.tag}</code>
                    </>
                  ) : (
                    <code title={item.digest}>{shortDigest(item.digest)}</code>
                  )}
                </td>
                <td>
                  {item.reason}
                  {item.protected && <div class="small muted">kept: {item.protected}</div>}
                </td>
              </tr>
            ))}
          </Table>
          {pages > 1 && (
            <nav class="pager" aria-label="Retention items">
              <button type="button" disabled={at === 0} onClick={() => setPage(at - 1)}>
                Previous items
              </button>
              <span class="small">
                Page {at + 1} of {pages}
              </span>
              <button type="button" disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
                Next items
              </button>
            </nav>
          )}
        </>
      )}
    </div>
  );
}

export function RetentionSection({ onRun }: { onRun?: () => void }) {
  const policies = useLoad(() => api<RetentionPolicyList>("GET", "/api/v1/retention-policies"), []);
  const runs = useLoad(lastRuns, []);
  const [result, setResult] = useState<{ run: RetentionRunView; round: number } | null>(null);
  const [kind, setKind] = useState<"untagged" | "keep">("keep");
  const { problem, act, submit } = useProblem();
  const { ask, question } = useConfirm(act);
  const show = (run: RetentionRunView) => setResult((r) => ({ run, round: (r?.round ?? 0) + 1 }));
  const dryRun = () => api<RetentionRunView>("POST", "/api/v1/retention-runs", { dryRun: true });

  return (
    <section aria-labelledby="retention-h">
      <h2 id="retention-h">Retention</h2>
      <p class="small muted">Policies delete untagged manifests after some days, or keep only the newest tags of a pattern. Runs follow the schedule, or now; the bytes go at the next gc.</p>
      {problem && <Problem error={problem} />}
      {question}
      <TableOf loaded={policies} rows={(list) => list.policies} empty="No retention policies: nothing is deleted unless someone deletes it." caption="Retention policies" columns={["Repositories", "Untagged days", "Keep newest", "Tags", "Rule", "Created", "By", <span class="sr-only">Remove</span>]}>
        {(p) => (
          <tr key={p.id} data-retention-policy={p.id}>
            <td>
              <code>{p.repository}</code>
            </td>
            <td>{p.untaggedDays ?? ""}</td>
            <td>{p.keepNewest ?? ""}</td>
            <td>{p.tags !== null && <code>{p.tags}</code>}</td>
            <td>{ruleText(p)}</td>
            <td>{when(p.created)}</td>
            <td>{p.createdBy}</td>
            <td>
              <button
                type="button"
                class="danger"
                aria-label={`Remove the retention policy for ${p.repository}: ${ruleText(p)}`}
                onClick={() => ask({ what: `Remove the retention policy for ${p.repository} (${ruleText(p)})?`, action: "Remove", run: async () => (await api("DELETE", apiPath("/api/v1/retention-policies", encodeURIComponent(p.id))), policies.reload()) })}
              >
                Remove
              </button>
            </td>
          </tr>
        )}
      </TableOf>
      <form
        class="inline"
        aria-label="Add a retention policy"
        onSubmit={submit(async (form, element) => {
          const count = Number(form.get("count"));
          const tags = String(form.get("tags") ?? "").trim();
          await api("POST", "/api/v1/retention-policies", {
            repository: String(form.get("repository")).trim(),
            ...(kind === "keep" ? { keepNewest: count, ...(tags ? { tags } : {}) } : { untaggedDays: count }),
          });
          element.reset();
          setKind("keep"); // the select's default, as reset() just set it
          policies.reload();
        })}
      >
        <label>
          Repositories <input name="repository" required placeholder="team/app, team/* or *" />
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as "untagged" | "keep")}>
            <option value="keep">Keep the newest tags</option>
            <option value="untagged">Delete untagged manifests</option>
          </select>
        </label>
        <label>
          {kind === "keep" ? "Tags to keep" : "Days untagged"} <input name="count" type="number" required min={kind === "keep" ? 1 : 0} max={kind === "keep" ? 100000 : 3650} />
        </label>
        {kind === "keep" && (
          <label>
            Tag pattern <input name="tags" placeholder="* (every tag), v* or semver" />
          </label>
        )}
        <button type="submit">Add policy</button>
      </form>
      <div class="inline">
        <button type="button" onClick={() => void act(async () => show(await dryRun()))}>
          Preview
        </button>
        <button
          type="button"
          class="danger"
          onClick={() =>
            void act(async () => {
              const plan = await dryRun();
              ask({
                what: `Run every retention policy now? As of now, ${counts(plan.summary)} go (${plan.summary.skipped} skipped), as the preview lists them.`,
                action: "Run now",
                run: async () => {
                  show(await api<RetentionRunView>("POST", "/api/v1/retention-runs", { dryRun: false }));
                  runs.reload();
                  onRun?.();
                },
              });
            })
          }
        >
          Run now
        </button>
      </div>
      {result && <RunItems key={result.round} run={result.run} />}
      <h3>Last runs</h3>
      <Status loaded={runs}>
        {(events) =>
          events.length === 0 ? (
            <p class="muted">No run yet.</p>
          ) : (
            <Table caption="Last retention runs, newest first" columns={["When", "Trigger", "Who", "Tags deleted", "Manifests deleted", "Skipped"]}>
              {events.map((e) => (
                <tr key={e.id} data-retention-event={e.id}>
                  <td>{when(e.timestamp)}</td>
                  <td>{e.target.retention?.trigger ?? ""}</td>
                  <td>{e.actor ? `${e.actor.name} (${e.actor.kind})` : "Berth"}</td>
                  <td>{e.target.retention?.tagsDeleted ?? ""}</td>
                  <td>{e.target.retention?.manifestsDeleted ?? ""}</td>
                  <td>{e.target.retention?.skipped ?? ""}</td>
                </tr>
              ))}
            </Table>
          )
        }
      </Status>
    </section>
  );
}

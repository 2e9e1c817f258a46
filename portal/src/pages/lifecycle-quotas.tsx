// Quotas on the Lifecycle page (docs/lifecycle.md#quotas): each scope with its limit and what it
// holds now (a bar, sizes people read), set, change and remove for owners, and a link to the
// events of refused pushes. Limits take units ("10GiB", "500 MB"); the server parses them.
import { useState } from "preact/hooks";
import type { QuotaList, QuotaView } from "../../../src/api-contract/quotas.ts";
import { api, apiPath } from "../api.ts";
import { Problem, TableOf, useConfirm, useLoad, useProblem } from "../components.tsx";
import { bytes, exactSize, when } from "../format.ts";

/** The event list's link: refusals by quotas and tag rules (action policy_refused). */
export const REFUSALS_HREF = "/lifecycle?action=policy_refused";

function Usage({ quota }: { quota: QuotaView }) {
  const over = quota.used > quota.limit;
  const width = quota.limit === 0 ? (quota.used > 0 ? 100 : 0) : Math.min(100, (quota.used / quota.limit) * 100);
  return (
    <>
      <span class={over ? "bar over" : "bar"} aria-hidden="true">
        <span style={{ width: `${width}%` }} />
      </span>
      <span data-usage>
        {bytes(quota.used)} of {bytes(quota.limit)}
        {quota.percent !== null && ` (${quota.percent}%)`}
        {over && <strong> over the limit: nothing new enters</strong>}
      </span>
    </>
  );
}

export function QuotasSection() {
  const quotas = useLoad(() => api<QuotaList>("GET", "/api/v1/quotas"), []);
  const [editing, setEditing] = useState<string | null>(null);
  const { problem, act, submit } = useProblem();
  const { ask, question } = useConfirm(act);
  const set = async (scope: string, limit: string) => {
    await api<QuotaView>("PUT", "/api/v1/quotas", { scope, limit: /^\d+$/.test(limit) ? Number(limit) : limit });
    quotas.reload();
  };

  return (
    <section aria-labelledby="quotas-h">
      <h2 id="quotas-h">Quotas</h2>
      <p class="small muted">
        A limit on what a scope holds, each distinct blob and manifest once. A push past it is refused; <a href={REFUSALS_HREF}>see the refused pushes</a> in the events below.
      </p>
      {problem && <Problem error={problem} />}
      {question}
      <TableOf loaded={quotas} rows={(list) => list.quotas} empty="No quotas: pushes are limited only by the storage." caption="Quotas" columns={["Scope", "Used", "Limit", "Set", <span class="sr-only">Change or remove</span>]}>
        {(q) => (
          <tr key={q.scope} data-quota={q.scope}>
            <th scope="row">
              <code>{q.scope}</code>
            </th>
            <td class="usage">
              <Usage quota={q} />
            </td>
            <td>
              <span title={`${q.limit} bytes`}>{bytes(q.limit)}</span>
            </td>
            <td class="small">
              {when(q.created)} by {q.createdBy}
            </td>
            <td class="actions">
              {editing === q.scope ? (
                <form class="inline" onSubmit={submit(async (form) => (await set(q.scope, String(form.get("limit")).trim()), setEditing(null)))}>
                  <label>
                    New limit for {q.scope} <input name="limit" required defaultValue={exactSize(q.limit)} />
                  </label>
                  <button type="submit">Save</button>
                  <button type="button" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <button type="button" onClick={() => setEditing(q.scope)}>
                    Change {q.scope}
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => ask({ what: `Remove the quota of ${q.scope}? Pushes there are no longer limited by it.`, action: "Remove", run: async () => (await api("DELETE", apiPath("/api/v1/quotas", { repo: q.scope })), quotas.reload()) })}>
                    Remove {q.scope}
                  </button>
                </>
              )}
            </td>
          </tr>
        )}
      </TableOf>
      <form
        class="inline"
        aria-label="Set a quota"
        onSubmit={submit(async (form, element) => (await set(String(form.get("scope")).trim(), String(form.get("limit")).trim()), element.reset()))}
      >
        <label>
          Scope <input name="scope" required placeholder="*, team/* or team/app" />
        </label>
        <label>
          Limit <input name="limit" required placeholder="10GiB, 500 MB or bytes" />
        </label>
        <button type="submit">Set quota</button>
      </form>
    </section>
  );
}

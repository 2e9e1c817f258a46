// Lifecycle (owners only): tag immutability rules, retention (lifecycle-retention.tsx), quotas
// (lifecycle-quotas.tsx), webhooks with their deliveries, and the event stream, newest first,
// filtered by action from the URL (`?action=policy_refused`: the quotas' link) (docs/lifecycle.md).
// A webhook's signing secret is shown once, when made or rotated. Every value (URLs, header
// names, repository names) is rendered as text.
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { z } from "zod";
import type { TagRuleList } from "../../../src/api-contract/tag-rules.ts";
import type * as wh from "../../../src/api-contract/webhooks.ts";
import { EVENT_ACTIONS, WEBHOOK_FORMATS } from "../../../src/domain/event-names.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Problem, Status, Table, TableOf, useConfirm, useLoad, useProblem } from "../components.tsx";
import { shortDigest, when } from "../format.ts";
import { fileName, Secret, type Shown } from "../secret.tsx";
import { useSession } from "../session.tsx";
import { QuotasSection } from "./lifecycle-quotas.tsx";
import { RetentionSection } from "./lifecycle-retention.tsx";

type Webhooks = z.infer<typeof wh.WebhookList>;
type Webhook = z.infer<typeof wh.WebhookView>;
type Deliveries = z.infer<typeof wh.DeliveryList>;
type Events = z.infer<typeof wh.EventList>;
type RegistryEvent = Events["events"][number];

const EVENTS_PER_PAGE = 50;

/** What an event is about, in one line: repository:tag@digest, a chart version, or an identity. */
function targetText(e: RegistryEvent): string {
  const t = e.target;
  if (t.retention) return `retention run (${t.retention.trigger}): ${t.retention.tagsDeleted} tags and ${t.retention.manifestsDeleted} manifests deleted, ${t.retention.skipped} skipped`;
  if (t.policy) return `${t.repository ?? ""}${t.tag ? `:${t.tag}` : ""} refused: ${t.policy.message}`;
  if (t.quota) return `quota ${t.quota}`;
  if (t.retentionPolicy) return `retention policy ${t.retentionPolicy}`;
  if (t.chart) return `${t.repository ?? ""} chart ${t.chart.name} ${t.chart.version ?? ""} (${t.chart.storedAs})`.trim();
  if (t.principal) return `identity ${t.principal}`;
  if (t.scopeMap) return `scope map ${t.scopeMap}`;
  if (t.attributes) return `attributes of ${t.repository ?? ""}${t.attributes.tag ? `:${t.attributes.tag}` : ""}`;
  if (!t.repository && t.audit) return `audit line ${t.audit}`;
  const where = `${t.repository ?? ""}${t.tag ? `:${t.tag}` : ""}`;
  return `${where}${t.digest ? ` @ ${shortDigest(t.digest)}` : ""}${t.referrerKind ? ` (${t.referrerKind} of ${shortDigest(t.subject ?? "")})` : ""}`;
}

export function LifecyclePage() {
  const { session } = useSession();
  const rules = useLoad(() => api<TagRuleList>("GET", "/api/v1/tag-rules"), []);
  const hooks = useLoad(() => api<Webhooks>("GET", "/api/v1/webhooks"), []);
  const { query, route } = useLocation();
  const action = (EVENT_ACTIONS as readonly string[]).includes(query.action ?? "") ? query.action : undefined;
  const [before, setBefore] = useState<number[]>([]);
  useEffect(() => setBefore([]), [action]);
  const events = useLoad(() => api<Events>("GET", withQuery("/api/v1/events", { order: "newest", limit: String(EVENTS_PER_PAGE), before: before.at(-1)?.toString(), action })), [before.join(), action]);
  const [shown, setShownState] = useState<Shown | null>(null);
  const { problem, act, submit } = useProblem();
  const { ask, question } = useConfirm(act);
  const [watching, setWatching] = useState<string | null>(null);
  const deliveries = useLoad(() => (watching ? api<Deliveries>("GET", apiPath("/api/v1/webhooks", encodeURIComponent(watching), "deliveries")) : Promise.resolve(null)), [watching]);

  const showSecret = (what: string, secret: string) => setShownState({ what, secret, file: fileName(what) });
  const hookPath = (h: Webhook, ...rest: string[]) => apiPath("/api/v1/webhooks", encodeURIComponent(h.name), ...rest);

  if (session && !session.manage) return <Problem error={new Error("Only owners manage tag rules, webhooks and events.")} />;
  return (
    <>
      <h1>Lifecycle</h1>
      {problem && <Problem error={problem} />}
      <Secret shown={shown} />
      {question}

      <section aria-labelledby="rules-h">
        <h2 id="rules-h">Tag immutability rules</h2>
        <p class="small muted">A tag a rule covers, once pushed, is never moved or deleted, nor is the content it names: the push or delete is refused with the rule's id.</p>
        <TableOf loaded={rules} rows={(r) => r.rules} empty="No rules: every tag can be moved and deleted by whoever may push and delete." caption="Tag immutability rules" columns={["Repositories", "Tags", "Created", "By", <span class="sr-only">Remove</span>]}>
          {(rule) => (
            <tr key={rule.id} data-tag-rule={rule.id}>
              <td>
                <code>{rule.repository}</code>
              </td>
              <td>
                <code>{rule.tags}</code>
              </td>
              <td>{when(rule.created)}</td>
              <td>{rule.createdBy}</td>
              <td>
                <button
                  type="button"
                  class="danger"
                  aria-label={`Remove the rule for tags ${rule.tags} in ${rule.repository}`}
                  onClick={() => ask({ what: `Remove the rule making tags ${rule.tags} in ${rule.repository} immutable?`, run: async () => (await api("DELETE", apiPath("/api/v1/tag-rules", encodeURIComponent(rule.id))), rules.reload()) })}
                >
                  Remove
                </button>
              </td>
            </tr>
          )}
        </TableOf>
        <form
          class="inline"
          onSubmit={submit(async (form, element) => {
            await api("POST", "/api/v1/tag-rules", { repository: String(form.get("repository")).trim(), tags: String(form.get("tags")).trim() });
            element.reset();
            rules.reload();
          })}
        >
          <label>
            Repositories <input name="repository" required placeholder="team/*" />
          </label>
          <label>
            Tags <input name="tags" required placeholder="release-* or semver" />
          </label>
          <button type="submit">Add rule</button>
        </form>
      </section>

      <RetentionSection onRun={events.reload} />

      <QuotasSection />

      <section aria-labelledby="hooks-h">
        <h2 id="hooks-h">Webhooks</h2>
        <TableOf loaded={hooks} rows={(list) => list.webhooks} empty="No webhooks: nothing is told about pushes and deletes." caption="Webhooks" columns={["Name", "URL", "Actions", "Repositories", "Format", "State", <span class="sr-only">Do</span>]}>
          {(h) => (
            <tr key={h.name} data-webhook={h.name}>
              <th scope="row">{h.name}</th>
              <td>
                <code>{h.url}</code>
              </td>
              <td>{h.actions.join(", ")}</td>
              <td>
                <code>{h.scope}</code>
              </td>
              <td>{h.format}</td>
              <td>{h.enabled ? "enabled" : "disabled"}</td>
              <td class="actions">
                <button type="button" onClick={() => void act(async () => (await api("POST", hookPath(h, "ping"), {}), setWatching(h.name), deliveries.reload()))}>
                  Ping {h.name}
                </button>{" "}
                <button type="button" onClick={() => setWatching(h.name)}>
                  Deliveries of {h.name}
                </button>{" "}
                <button type="button" onClick={() => void act(async () => (await api("PATCH", hookPath(h), { enabled: !h.enabled }), hooks.reload()))}>
                  {h.enabled ? "Disable" : "Enable"} {h.name}
                </button>{" "}
                <button
                  type="button"
                  onClick={() => void act(async () => showSecret(`New signing secret of webhook ${h.name}`, (await api<{ secret?: string }>("PATCH", hookPath(h), { rotateSecret: true })).secret ?? ""))}
                >
                  New secret for {h.name}
                </button>{" "}
                <button
                  type="button"
                  class="danger"
                  onClick={() => ask({ what: `Delete webhook ${h.name} and its deliveries?`, run: async () => (await api("DELETE", hookPath(h)), h.name === watching && setWatching(null), hooks.reload()) })}
                >
                  Delete {h.name}
                </button>
              </td>
            </tr>
          )}
        </TableOf>
        <form
          class="webhook-form"
          onSubmit={submit(async (form, element) => {
            const scope = String(form.get("scope") ?? "").trim();
            const made = await api<{ name: string; secret: string }>("POST", "/api/v1/webhooks", {
              name: String(form.get("name")).trim(),
              url: String(form.get("url")).trim(),
              actions: form.getAll("actions").map(String),
              format: String(form.get("format")),
              ...(scope ? { scope } : {}),
            });
            showSecret(`Signing secret of webhook ${made.name}`, made.secret);
            element.reset();
            hooks.reload();
          })}
        >
          <fieldset>
            <legend>Add a webhook</legend>
            <label>
              Name <input name="name" required />
            </label>{" "}
            <label>
              URL <input name="url" type="url" required placeholder="https://ci.example.com/hooks/berth" />
            </label>{" "}
            <label>
              Repositories <input name="scope" placeholder="* (all)" />
            </label>{" "}
            <label>
              Format
              <select name="format">
                {WEBHOOK_FORMATS.map((f) => (
                  <option key={f}>{f}</option>
                ))}
              </select>
            </label>
            <fieldset class="inline">
              <legend>Actions</legend>
              {EVENT_ACTIONS.map((a) => (
                <label key={a}>
                  <input type="checkbox" name="actions" value={a} defaultChecked={a === "push"} /> {a}
                </label>
              ))}
            </fieldset>
            <button type="submit">Add webhook</button>
          </fieldset>
        </form>
        {watching && (
          <Status loaded={deliveries}>
            {(d) =>
              d && (
                <Table caption={`Deliveries of ${watching}, newest first`} columns={["#", "Action", "Status", "Attempts", "Answer", "Latency", "Error", "Sent", <span class="sr-only">Again</span>]}>
                  {d.deliveries.map((x) => (
                    <tr key={x.id} data-delivery={x.id}>
                      <td>{x.id}</td>
                      <td>{x.action}</td>
                      <td>{x.status}</td>
                      <td>{x.attempts}</td>
                      <td>{x.responseStatus ?? ""}</td>
                      <td>{x.latencyMs === null ? "" : `${x.latencyMs} ms`}</td>
                      <td>{x.error ?? ""}</td>
                      <td>{when(x.finishedAt ?? x.createdAt)}</td>
                      <td>
                        {x.status !== "pending" && x.eventId >= 0 && (
                          <button type="button" onClick={() => void act(async () => (await api("POST", apiPath("/api/v1/webhooks", encodeURIComponent(watching), "deliveries", String(x.id), "redeliver"), {}), deliveries.reload()))}>
                            Send {x.id} again
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </Table>
              )
            }
          </Status>
        )}
      </section>

      <section aria-labelledby="events-h">
        <h2 id="events-h">Events, newest first</h2>
        <label>
          Action{" "}
          <select value={action ?? ""} onChange={(e) => route(withQuery("/lifecycle", { action: (e.currentTarget as HTMLSelectElement).value }))}>
            <option value="">every action</option>
            {EVENT_ACTIONS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <Status loaded={events}>
          {(page) => (
            <>
              <Table caption="Events" columns={["#", "When", "Action", "Who", "What"]} footer={page.events.length === 0 && <p class="muted">{action ? `No ${action} event${before.length ? " older than these" : ""}.` : "No events."}</p>}>
                {page.events.map((e) => (
                  <tr key={e.id} data-event={e.id}>
                    <td>{e.id}</td>
                    <td>{when(e.timestamp)}</td>
                    <td>{e.action}</td>
                    <td>{e.actor ? `${e.actor.name} (${e.actor.kind})` : "Berth"}</td>
                    <td>{targetText(e)}</td>
                  </tr>
                ))}
              </Table>
              <nav class="pager" aria-label="Event pages">
                <button type="button" disabled={before.length === 0} onClick={() => setBefore(before.slice(0, -1))}>
                  Newer events
                </button>
                <button type="button" disabled={page.next === 0} onClick={() => setBefore([...before, page.next])}>
                  Older events
                </button>
              </nav>
            </>
          )}
        </Status>
      </section>
    </>
  );
}

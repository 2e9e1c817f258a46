// Identities (owners only): users, service principals, scope maps, tokens, the admin account and
// the audit trail. A new password or secret is shown exactly once, in the answer that made it.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type * as id from "../../../src/api-contract/identities.ts";
import type { AuditList } from "../../../src/api-contract/repositories.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { type Loaded, Problem, Status, Table, useLoad, useProblem } from "../components.tsx";
import { IdentityList, NameField, RoleField } from "../identity-list.tsx";
import { fileName, Secret, type Shown } from "../secret.tsx";
import { when } from "../format.ts";
import { useSession } from "../session.tsx";

type Users = z.infer<typeof id.UserList>;
type Principals = z.infer<typeof id.ServicePrincipalList>;
type ScopeMaps = z.infer<typeof id.ScopeMapList>;
type Tokens = z.infer<typeof id.TokenList>;
type Audit = z.infer<typeof AuditList>;
type Admin = z.infer<typeof id.AdminView>;
const ACTIONS = ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write", "attributes/write"] as const;

const AUDIT_FIELDS = [
  ["identity", "Who"],
  ["event", "Event"],
  ["action", "Action"],
  ["repository", "Repository"],
] as const;

/** A datetime-local value (the browser's time zone) as an ISO time for the API; "" stays "". */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : "");

export function IdentitiesPage() {
  const { session } = useSession();
  const users = useLoad(() => api<Users>("GET", "/api/v1/users"), []);
  const principals = useLoad(() => api<Principals>("GET", "/api/v1/service-principals"), []);
  const maps = useLoad(() => api<ScopeMaps>("GET", "/api/v1/scope-maps"), []);
  const tokens = useLoad(() => api<Tokens>("GET", "/api/v1/tokens"), []);
  const [auditQuery, setAuditQuery] = useState<Record<string, string>>({});
  const audit = useLoad(() => api<Audit>("GET", withQuery("/api/v1/audit", { limit: "500", ...auditQuery })), [JSON.stringify(auditQuery)]);
  const admin = useLoad(() => api<Admin>("GET", "/api/v1/admin"), []);
  const [shown, setShownState] = useState<Shown | null>(null);
  const setShown = (s: { what: string; secret: string; file?: string }) => setShownState({ ...s, file: s.file ?? fileName(s.what) });
  const filterAudit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    setAuditQuery(Object.fromEntries(Object.entries({
      identity: text("identity"), event: text("event"), action: text("action"), repository: text("repository"), outcome: text("outcome"),
      from: isoOf(text("from")), to: isoOf(text("to")),
    }).filter(([, v]) => v !== "")));
  };
  const { problem, act, submit } = useProblem();
  /** Asks the API for a new password or secret (`field` of the answer) and shows it once. */
  const renew = (path: string, field: "password" | "secret", what: string, then?: () => void) => async () => {
    const r = await api<Record<typeof field, string>>("POST", path, {});
    setShown({ what, secret: r[field] });
    then?.();
  };
  /** An add form's submit: POST its body, show the new identity's secret once, reload the list. */
  const create = <Made,>(path: string, body: (form: FormData) => unknown, secretOf: (made: Made) => { what: string; secret: string }, list: Loaded<unknown>) =>
    submit(async (form) => {
      setShown(secretOf(await api<Made>("POST", path, body(form))));
      list.reload();
    });
  const remove = (path: string, list: Loaded<unknown>) => async () => {
    await api("DELETE", path);
    list.reload();
  };
  if (session && !session.manage) return <Problem error={new Error("Only owners manage identities.")} />;
  return (
    <>
      <h1>Identities</h1>
      {problem && <Problem error={problem} />}
      <Secret shown={shown} />
      <section aria-labelledby="admin-h">
        <h2 id="admin-h">Admin account</h2>
        <Status loaded={admin}>
          {(a) => (
            <p>
              The <code>admin</code> account is <strong>{a.enabled ? "enabled" : "disabled"}</strong>; passwords set:{" "}
              {a.passwords.map((p) => `#${p.slot} on ${when(p.created)}`).join(", ") || "none"}.{" "}
              <button type="button" onClick={() => void act(async () => (await api("PATCH", "/api/v1/admin", { enabled: !a.enabled }), admin.reload()))}>
                {a.enabled ? "Disable" : "Enable"} the admin account
              </button>{" "}
              {[1, 2].map((slot) => (
                <button key={slot} type="button" onClick={() => void act(renew(`/api/v1/admin/passwords/${slot}`, "password", `Admin password ${slot}`, admin.reload))}>
                  New admin password {slot}
                </button>
              ))}
            </p>
          )}
        </Status>
      </section>
      <IdentityList
        id="users-h"
        title="Users"
        loaded={users}
        items={(list) => list.users}
        act={act}
        entry={(u) => ({
          key: u.name,
          text: (
            <>
              {u.name} <span class="small muted">{u.roles.join(", ")} · {u.enabled ? "enabled" : "disabled"} · since {when(u.created)}</span>
            </>
          ),
          actions: [
            { label: `New password for ${u.name}`, run: renew(apiPath("/api/v1/users", encodeURIComponent(u.name), "password"), "password", `New password of ${u.name}`) },
            { label: `Delete ${u.name}`, danger: true, run: remove(apiPath("/api/v1/users", encodeURIComponent(u.name)), users) },
          ],
        })}
      >
        <form
          class="inline"
          onSubmit={create<{ name: string; password: string }>(
            "/api/v1/users",
            (form) => ({ name: String(form.get("name")), roles: [String(form.get("role"))] }),
            (made) => ({ what: `Password of ${made.name}`, secret: made.password }),
            users,
          )}
        >
          <NameField />
          <RoleField />
          <button type="submit">Add user</button>
        </form>
      </IdentityList>
      <IdentityList
        id="sp-h"
        title="Service principals"
        loaded={principals}
        items={(list) => list.servicePrincipals}
        act={act}
        entry={(p) => ({
          key: p.id,
          text: (
            <>
              {p.name} <code class="small">{p.id}</code> <span class="small muted">{p.role}{p.scope ? ` on ${p.scope}` : ""} · expires {when(p.expires)}</span>
            </>
          ),
          actions: [
            { label: `New secret for ${p.name}`, run: renew(apiPath("/api/v1/service-principals", encodeURIComponent(p.id), "secret"), "secret", `New secret of ${p.name}`) },
            { label: `Delete ${p.name}`, danger: true, run: remove(apiPath("/api/v1/service-principals", encodeURIComponent(p.id)), principals) },
          ],
        })}
      >
        <form
          class="inline"
          onSubmit={create<{ id: string; name: string; secret: string }>(
            "/api/v1/service-principals",
            (form) => {
              const scope = String(form.get("scope") ?? "").trim();
              return { name: String(form.get("name")), role: String(form.get("role")), ...(scope ? { scope } : {}) };
            },
            (made) => ({ what: `Secret of service principal ${made.name} (sign in with its ID ${made.id})`, secret: made.secret }),
            principals,
          )}
        >
          <NameField />
          <RoleField />
          <label>
            Scope (repository pattern, optional) <input name="scope" placeholder="team/*" />
          </label>
          <button type="submit">Add service principal</button>
        </form>
      </IdentityList>
      <IdentityList
        id="maps-h"
        title="Scope maps"
        loaded={maps}
        items={(list) => list.scopeMaps}
        act={act}
        entry={(m) => ({
          key: m.name,
          text: (
            <>
              {m.name}: <span class="small">{m.rules.map((r) => `${r.repository} (${r.actions.join(", ")})`).join("; ")}</span>
            </>
          ),
          actions: [{ label: `Delete scope map ${m.name}`, danger: true, run: remove(apiPath("/api/v1/scope-maps", encodeURIComponent(m.name)), maps) }],
        })}
      >
        <form
          onSubmit={submit(async (form) => {
            await api("PUT", apiPath("/api/v1/scope-maps", encodeURIComponent(String(form.get("name")))), {
              description: String(form.get("description") ?? ""),
              rules: [{ repository: String(form.get("repository")), actions: form.getAll("actions").map(String) }],
            });
            maps.reload();
          })}
        >
          <div class="inline">
            <NameField />
            <label>
              Description <input name="description" />
            </label>
            <label>
              Repository pattern <input name="repository" required placeholder="team/*" />
            </label>
          </div>
          <fieldset class="inline">
            <legend>Actions</legend>
            {ACTIONS.map((action) => (
              <label class="check" key={action}>
                <input type="checkbox" name="actions" value={action} defaultChecked={action === "content/read"} /> {action}
              </label>
            ))}
          </fieldset>
          <button type="submit">Save scope map</button>
        </form>
      </IdentityList>
      <IdentityList
        id="tokens-h"
        title="Tokens"
        loaded={tokens}
        items={(list) => list.tokens}
        act={act}
        entry={(t) => {
          // The slot a new password goes to: 2 while only slot 1 is taken, else 1.
          const slot = t.passwords.some((p) => p.slot === 1) && !t.passwords.some((p) => p.slot === 2) ? 2 : 1;
          return {
            key: t.name,
            text: (
              <>
                {t.name} <span class="small muted">scope map {t.scopeMap} · {t.enabled ? "enabled" : "disabled"} · passwords {t.passwords.map((p) => `#${p.slot}${p.expires ? ` until ${when(p.expires)}` : ""}`).join(", ") || "none"}</span>
              </>
            ),
            actions: [
              { label: `${t.enabled ? "Disable" : "Enable"} token ${t.name}`, run: async () => (await api("PATCH", apiPath("/api/v1/tokens", encodeURIComponent(t.name)), { enabled: !t.enabled }), tokens.reload()) },
              { label: `New password for token ${t.name}`, run: renew(apiPath("/api/v1/tokens", encodeURIComponent(t.name), "passwords", String(slot)), "password", `Password ${slot} of token ${t.name}`, tokens.reload) },
              { label: `Delete token ${t.name}`, danger: true, run: remove(apiPath("/api/v1/tokens", encodeURIComponent(t.name)), tokens) },
            ],
          };
        }}
      >
        <form
          class="inline"
          onSubmit={create<{ name: string; passwords: { password: string }[] }>(
            "/api/v1/tokens",
            (form) => ({ name: String(form.get("name")), scopeMap: String(form.get("scopeMap")) }),
            (made) => ({ what: `Password 1 of token ${made.name}`, secret: made.passwords[0]?.password ?? "" }),
            tokens,
          )}
        >
          <NameField />
          <label>
            Scope map <input name="scopeMap" required />
          </label>
          <button type="submit">Add token</button>
        </form>
      </IdentityList>
      <section aria-labelledby="audit-h">
        <h2 id="audit-h">Audit trail</h2>
        <form class="filters" aria-label="Audit filters" onSubmit={filterAudit}>
          {AUDIT_FIELDS.map(([name, label]) => (
            <label key={name}>
              {label}
              <input name={name} defaultValue={auditQuery[name] ?? ""} />
            </label>
          ))}
          <label>
            Outcome
            <select name="outcome" defaultValue={auditQuery.outcome ?? ""}>
              <option value="">Any</option>
              <option value="success">success</option>
              <option value="failure">failure</option>
              <option value="denied">denied</option>
            </select>
          </label>
          <label>
            From
            <input name="from" type="datetime-local" step="1" />
          </label>
          <label>
            Until
            <input name="to" type="datetime-local" step="1" />
          </label>
          <button type="submit">Filter</button>
        </form>
        <Status loaded={audit}>
          {(list) => (
            <Table list caption={`Latest audit events${Object.keys(auditQuery).length > 0 ? ", filtered" : ""}`} columns={["When", "Event", "Who", "Outcome", "Repository"]}>
              {list.events.map((e, i) => (
                <tr key={i} data-audit-event={e.event}>
                  <td>{when(e.at)}</td>
                  <td>{e.event}</td>
                  <td>{e.identity}</td>
                  <td>{e.outcome}</td>
                  <td>{e.repository ?? ""}</td>
                </tr>
              ))}
            </Table>
          )}
        </Status>
      </section>
    </>
  );
}

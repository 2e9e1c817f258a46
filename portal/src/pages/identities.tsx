// Identities (owners only): users, service principals, scope maps, tokens, the admin account and
// the audit trail. A new password or secret is shown exactly once, in the answer that made it.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type * as id from "../../../src/api-contract/identities.ts";
import type { AuditList } from "../../../src/api-contract/repositories.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Problem, Status, useLoad } from "../components.tsx";
import { when } from "../format.ts";
import { useSession } from "../session.tsx";

type Users = z.infer<typeof id.UserList>;
type Principals = z.infer<typeof id.ServicePrincipalList>;
type ScopeMaps = z.infer<typeof id.ScopeMapList>;
type Tokens = z.infer<typeof id.TokenList>;
type Audit = z.infer<typeof AuditList>;
type Admin = z.infer<typeof id.AdminView>;
const ACTIONS = ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write", "attributes/write"] as const;

/**
 * Saves the secret as a text file made here in the browser (a Blob URL; nothing goes back to the
 * server, which no longer knows the secret), named after what it is.
 */
function download(shown: { what: string; secret: string; file: string }): void {
  const url = URL.createObjectURL(new Blob([`${shown.what}\n${shown.secret}\n`], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = shown.file;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `berth-token-ci-password1.txt`: letters, digits, dots and dashes of a name only. */
const fileName = (...parts: string[]) => `berth-${parts.join("-").replace(/[^A-Za-z0-9.-]+/g, "_").slice(0, 100)}.txt`;

function Secret({ shown }: { shown: { what: string; secret: string; file: string } | null }) {
  if (!shown) return null;
  return (
    <div class="secret" role="status">
      <p>
        {shown.what}: copy it now, it is shown only this once.
      </p>
      <code>{shown.secret}</code>{" "}
      <button type="button" onClick={() => download(shown)}>
        Download as a text file
      </button>
    </div>
  );
}

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
  const [shown, setShownState] = useState<{ what: string; secret: string; file: string } | null>(null);
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
  const [problem, setProblem] = useState<Error | null>(null);
  const act = async (work: () => Promise<void>) => {
    setProblem(null);
    try {
      await work();
    } catch (err) {
      setProblem(err as Error);
    }
  };
  const addUser = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void act(async () => {
      const made = await api<{ name: string; password: string }>("POST", "/api/v1/users", { name: String(form.get("name")), roles: [String(form.get("role"))] });
      setShown({ what: `Password of ${made.name}`, secret: made.password });
      users.reload();
    });
  };
  const addToken = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void act(async () => {
      const made = await api<{ name: string; passwords: { password: string }[] }>("POST", "/api/v1/tokens", { name: String(form.get("name")), scopeMap: String(form.get("scopeMap")) });
      setShown({ what: `Password 1 of token ${made.name}`, secret: made.passwords[0]?.password ?? "" });
      tokens.reload();
    });
  };
  const addPrincipal = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const scope = String(form.get("scope") ?? "").trim();
    void act(async () => {
      const made = await api<{ id: string; name: string; secret: string }>("POST", "/api/v1/service-principals", { name: String(form.get("name")), role: String(form.get("role")), ...(scope ? { scope } : {}) });
      setShown({ what: `Secret of service principal ${made.name} (sign in with its ID ${made.id})`, secret: made.secret });
      principals.reload();
    });
  };
  const addScopeMap = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void act(async () => {
      await api("PUT", apiPath("/api/v1/scope-maps", encodeURIComponent(String(form.get("name")))), {
        description: String(form.get("description") ?? ""),
        rules: [{ repository: String(form.get("repository")), actions: form.getAll("actions").map(String) }],
      });
      maps.reload();
    });
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
                <button
                  key={slot}
                  type="button"
                  onClick={() =>
                    void act(async () => {
                      const r = await api<{ password: string }>("POST", `/api/v1/admin/passwords/${slot}`, {});
                      setShown({ what: `Admin password ${slot}`, secret: r.password });
                      admin.reload();
                    })
                  }
                >
                  New admin password {slot}
                </button>
              ))}
            </p>
          )}
        </Status>
      </section>
      <section aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        <Status loaded={users}>
          {(list) => (
            <ul>
              {list.users.map((u) => (
                <li key={u.name}>
                  {u.name} <span class="small muted">{u.roles.join(", ")} · {u.enabled ? "enabled" : "disabled"} · since {when(u.created)}</span>{" "}
                  <button
                    type="button"
                    onClick={() =>
                      void act(async () => {
                        const r = await api<{ password: string }>("POST", apiPath("/api/v1/users", encodeURIComponent(u.name), "password"), {});
                        setShown({ what: `New password of ${u.name}`, secret: r.password });
                      })
                    }
                  >
                    New password for {u.name}
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => void act(async () => (await api("DELETE", apiPath("/api/v1/users", encodeURIComponent(u.name))), users.reload()))}>
                    Delete {u.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Status>
        <form class="inline" onSubmit={addUser}>
          <label>
            Name <input name="name" required />
          </label>
          <label>
            Role
            <select name="role">
              <option>acrpull</option>
              <option>acrpush</option>
              <option>acrdelete</option>
              <option>owner</option>
            </select>
          </label>
          <button type="submit">Add user</button>
        </form>
      </section>
      <section aria-labelledby="sp-h">
        <h2 id="sp-h">Service principals</h2>
        <Status loaded={principals}>
          {(list) => (
            <ul>
              {list.servicePrincipals.map((p) => (
                <li key={p.id}>
                  {p.name} <code class="small">{p.id}</code> <span class="small muted">{p.role}{p.scope ? ` on ${p.scope}` : ""} · expires {when(p.expires)}</span>{" "}
                  <button
                    type="button"
                    onClick={() =>
                      void act(async () => {
                        const r = await api<{ secret: string }>("POST", apiPath("/api/v1/service-principals", encodeURIComponent(p.id), "secret"), {});
                        setShown({ what: `New secret of ${p.name}`, secret: r.secret });
                      })
                    }
                  >
                    New secret for {p.name}
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => void act(async () => (await api("DELETE", apiPath("/api/v1/service-principals", encodeURIComponent(p.id))), principals.reload()))}>
                    Delete {p.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Status>
        <form class="inline" onSubmit={addPrincipal}>
          <label>
            Name <input name="name" required />
          </label>
          <label>
            Role
            <select name="role">
              <option>acrpull</option>
              <option>acrpush</option>
              <option>acrdelete</option>
              <option>owner</option>
            </select>
          </label>
          <label>
            Scope (repository pattern, optional) <input name="scope" placeholder="team/*" />
          </label>
          <button type="submit">Add service principal</button>
        </form>
      </section>
      <section aria-labelledby="maps-h">
        <h2 id="maps-h">Scope maps</h2>
        <Status loaded={maps}>
          {(list) => (
            <ul>
              {list.scopeMaps.map((m) => (
                <li key={m.name}>
                  {m.name}: <span class="small">{m.rules.map((r) => `${r.repository} (${r.actions.join(", ")})`).join("; ")}</span>{" "}
                  <button type="button" class="danger" onClick={() => void act(async () => (await api("DELETE", apiPath("/api/v1/scope-maps", encodeURIComponent(m.name))), maps.reload()))}>
                    Delete scope map {m.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Status>
        <form onSubmit={addScopeMap}>
          <div class="inline">
            <label>
              Name <input name="name" required />
            </label>
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
      </section>
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Tokens</h2>
        <Status loaded={tokens}>
          {(list) => (
            <ul>
              {list.tokens.map((t) => (
                <li key={t.name}>
                  {t.name} <span class="small muted">scope map {t.scopeMap} · {t.enabled ? "enabled" : "disabled"} · passwords {t.passwords.map((p) => `#${p.slot}${p.expires ? ` until ${when(p.expires)}` : ""}`).join(", ") || "none"}</span>{" "}
                  <button type="button" onClick={() => void act(async () => (await api("PATCH", apiPath("/api/v1/tokens", encodeURIComponent(t.name)), { enabled: !t.enabled }), tokens.reload()))}>
                    {t.enabled ? "Disable" : "Enable"} token {t.name}
                  </button>{" "}
                  <button
                    type="button"
                    onClick={() =>
                      void act(async () => {
                        const slot = t.passwords.some((p) => p.slot === 1) && !t.passwords.some((p) => p.slot === 2) ? 2 : 1;
                        const r = await api<{ password: string }>("POST", apiPath("/api/v1/tokens", encodeURIComponent(t.name), "passwords", String(slot)), {});
                        setShown({ what: `Password ${slot} of token ${t.name}`, secret: r.password });
                        tokens.reload();
                      })
                    }
                  >
                    New password for token {t.name}
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => void act(async () => (await api("DELETE", apiPath("/api/v1/tokens", encodeURIComponent(t.name))), tokens.reload()))}>
                    Delete token {t.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Status>
        <form class="inline" onSubmit={addToken}>
          <label>
            Name <input name="name" required />
          </label>
          <label>
            Scope map <input name="scopeMap" required />
          </label>
          <button type="submit">Add token</button>
        </form>
      </section>
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
          {(list) => {
            return (
            <div class="scroll">
              <table class="list">
                <caption class="sr-only">Latest audit events{Object.keys(auditQuery).length > 0 ? ", filtered" : ""}</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Event</th>
                    <th scope="col">Who</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Repository</th>
                  </tr>
                </thead>
                <tbody>
                  {list.events.map((e, i) => (
                    <tr key={i} data-audit-event={e.event}>
                      <td>{when(e.at)}</td>
                      <td>{e.event}</td>
                      <td>{e.identity}</td>
                      <td>{e.outcome}</td>
                      <td>{e.repository ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            );
          }}
        </Status>
      </section>
    </>
  );
}

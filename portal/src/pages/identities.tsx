// Identities (owners only): users, service principals, scope maps, tokens, the admin account and
// the audit trail. A new password or secret is shown exactly once, in the answer that made it.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type * as id from "../../../src/api-contract/identities.ts";
import type { AuditList } from "../../../src/api-contract/repositories.ts";
import { api, apiPath } from "../api.ts";
import { Problem, Status, useLoad } from "../components.tsx";
import { when } from "../format.ts";
import { useSession } from "../session.tsx";

type Users = z.infer<typeof id.UserList>;
type Principals = z.infer<typeof id.ServicePrincipalList>;
type ScopeMaps = z.infer<typeof id.ScopeMapList>;
type Tokens = z.infer<typeof id.TokenList>;
type Audit = z.infer<typeof AuditList>;

function Secret({ shown }: { shown: { what: string; secret: string } | null }) {
  if (!shown) return null;
  return (
    <div class="secret" role="status">
      <p>
        {shown.what}: copy it now, it is shown only this once.
      </p>
      <code>{shown.secret}</code>
    </div>
  );
}

export function IdentitiesPage() {
  const { session } = useSession();
  const users = useLoad(() => api<Users>("GET", "/api/v1/users"), []);
  const principals = useLoad(() => api<Principals>("GET", "/api/v1/service-principals"), []);
  const maps = useLoad(() => api<ScopeMaps>("GET", "/api/v1/scope-maps"), []);
  const tokens = useLoad(() => api<Tokens>("GET", "/api/v1/tokens"), []);
  const audit = useLoad(() => api<Audit>("GET", "/api/v1/audit?limit=50"), []);
  const [shown, setShown] = useState<{ what: string; secret: string } | null>(null);
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
  if (session && !session.manage) return <Problem error={new Error("Only owners manage identities.")} />;
  return (
    <>
      <h1>Identities</h1>
      {problem && <Problem error={problem} />}
      <Secret shown={shown} />
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
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Status>
      </section>
      <section aria-labelledby="maps-h">
        <h2 id="maps-h">Scope maps</h2>
        <Status loaded={maps}>
          {(list) => (
            <ul>
              {list.scopeMaps.map((m) => (
                <li key={m.name}>
                  {m.name}: <span class="small">{m.rules.map((r) => `${r.repository} (${r.actions.join(", ")})`).join("; ")}</span>
                </li>
              ))}
            </ul>
          )}
        </Status>
      </section>
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Tokens</h2>
        <Status loaded={tokens}>
          {(list) => (
            <ul>
              {list.tokens.map((t) => (
                <li key={t.name}>
                  {t.name} <span class="small muted">scope map {t.scopeMap} · {t.enabled ? "enabled" : "disabled"}</span>{" "}
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
        <Status loaded={audit}>
          {(list) => (
            <div class="scroll">
              <table class="list">
                <caption class="sr-only">Latest audit events</caption>
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
                    <tr key={i}>
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
          )}
        </Status>
      </section>
    </>
  );
}

// Settings (owners only): what the configuration sets (anonymous pull, push and pull policies,
// signature verification; read-only here), every repository and tag with attributes of its own
// (so a read-locked or hidden tag the listings leave out is found and unlocked here), and a
// repository's (or tag's) attributes: read, write, delete and list enabled, anonymous pull.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type { AttributeRowList, AttributesView } from "../../../src/api-contract/repositories.ts";
import type { SettingsView } from "../../../src/api-contract/settings.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Problem, Status, Table, useLoad } from "../components.tsx";
import { useSession } from "../session.tsx";

const FLAGS = [
  ["readEnabled", "Read (pull) enabled"],
  ["writeEnabled", "Write (push) enabled"],
  ["deleteEnabled", "Delete enabled"],
  ["listEnabled", "Listed"],
  ["anonymousPull", "Anonymous pull"],
] as const;

const yes = (flag: boolean) => (flag ? "yes" : "no");

export function SettingsPage() {
  const { session } = useSession();
  const configured = useLoad(() => api<SettingsView>("GET", "/api/v1/settings"), []);
  const rows = useLoad(() => api<z.infer<typeof AttributeRowList>>("GET", "/api/v1/attributes"), []);
  const [target, setTarget] = useState<{ repo: string; tag: string } | null>(null);
  const [view, setView] = useState<AttributesView | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const url = (t: { repo: string; tag: string }) => withQuery(apiPath("/api/v1/repositories", { repo: t.repo }, "attributes"), { tag: t.tag || undefined });
  const open = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    await show({ repo: String(form.get("repo") ?? "").trim(), tag: String(form.get("tag") ?? "").trim() });
  };
  const show = async (next: { repo: string; tag: string }) => {
    setProblem(null);
    try {
      setView(await api<AttributesView>("GET", url(next)));
      setTarget(next);
    } catch (err) {
      setProblem(err as Error);
    }
  };
  const flip = async (key: string, value: boolean) => {
    if (!target) return;
    try {
      setView(await api<AttributesView>("PATCH", url(target), { [key]: value }));
      rows.reload();
    } catch (err) {
      setProblem(err as Error);
    }
  };
  if (session && !session.manage) return <Problem error={new Error("Only owners change settings.")} />;
  return (
    <>
      <h1>Settings</h1>
      <section aria-labelledby="registry-h">
        <h2 id="registry-h">Registry</h2>
        <p class="small muted">Set in Berth's configuration file (or environment): read-only here; change the configuration and restart Berth.</p>
        <Status loaded={configured}>
          {(c) => (
            <>
              <p>
                Anonymous pull for every repository: <strong>{c.anonymousPull ? "on" : "off"}</strong> <span class="small muted">(auth.anonymousPull)</span>
              </p>
              <p>
                Signature verification: notation <strong>{c.verification.notation ? "on" : "off"}</strong> <span class="small muted">(provenance.trustPolicy)</span>, cosign{" "}
                <strong>{c.verification.cosign ? "on" : "off"}</strong> <span class="small muted">(provenance.cosignKeys)</span>
              </p>
              <h3>Push policies</h3>
              {c.pushPolicies.length === 0 ? (
                <p class="muted">No push policies (provenance.pushPolicies): pushes are not checked for labels or annotations.</p>
              ) : (
                <Table caption="Push policies: images lacking these are refused" columns={["Name", "Repositories", "Required labels", "Required annotations"]}>
                  {c.pushPolicies.map((p) => (
                    <tr key={p.name} data-push-policy={p.name}>
                      <th scope="row">{p.name}</th>
                      <td>{p.repositories.join(", ")}</td>
                      <td>{p.requireLabels.join(", ") || "none"}</td>
                      <td>{p.requireAnnotations.join(", ") || "none"}</td>
                    </tr>
                  ))}
                </Table>
              )}
              <h3>Pull policies</h3>
              {c.pullPolicies.length === 0 ? (
                <p class="muted">No pull policies (provenance.pullPolicies): pulls do not require a verified signature.</p>
              ) : (
                <ul>
                  {c.pullPolicies.map((p) => (
                    <li key={p.name} data-pull-policy={p.name}>
                      <strong>{p.name}</strong>: pulls from {p.repositories.join(", ")} need a verified notation signature
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </Status>
      </section>
      <section aria-labelledby="locked-h">
        <h2 id="locked-h">Locked, hidden and opened names</h2>
        <Status loaded={rows}>
          {(r) =>
            r.attributes.length === 0 ? (
              <p class="muted">No repository or tag has attributes of its own: everything is readable, writable, deletable and listed.</p>
            ) : (
              <Table caption="Repositories and tags with attributes of their own" columns={["Name", "Read", "Write", "Delete", "Listed", "Anonymous pull", <span class="sr-only">Change</span>]}>
                {r.attributes.map((a) => {
                  const name = a.tag === null ? a.repository : `${a.repository}:${a.tag}`;
                  return (
                    <tr key={name} data-attributes={name}>
                      <th scope="row">
                        <code>{name}</code>
                      </th>
                      <td>{yes(a.readEnabled)}</td>
                      <td>{yes(a.writeEnabled)}</td>
                      <td>{yes(a.deleteEnabled)}</td>
                      <td>{yes(a.listEnabled)}</td>
                      <td>{a.anonymousPull === null ? "" : yes(a.anonymousPull)}</td>
                      <td>
                        <button type="button" aria-label={`Change ${name}`} onClick={() => void show({ repo: a.repository, tag: a.tag ?? "" })}>
                          Change
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </Table>
            )
          }
        </Status>
      </section>
      <section aria-labelledby="attributes-h">
        <h2 id="attributes-h">Repository and tag attributes</h2>
        <form class="inline" onSubmit={(e) => void open(e)}>
          <label>
            Repository <input name="repo" required />
          </label>
          <label>
            Tag (optional) <input name="tag" />
          </label>
          <button type="submit">Show attributes</button>
        </form>
        {problem && <Problem error={problem} />}
        {view && target && (
          <fieldset>
            <legend>
              {target.repo}
              {target.tag ? `:${target.tag}` : ""}
            </legend>
            {FLAGS.filter(([key]) => key in view).map(([key, label]) => (
              <label class="check" key={key}>
                <input type="checkbox" checked={Boolean((view as Record<string, unknown>)[key])} onChange={(e) => void flip(key, (e.currentTarget as HTMLInputElement).checked)} /> {label}
              </label>
            ))}
          </fieldset>
        )}
      </section>
    </>
  );
}

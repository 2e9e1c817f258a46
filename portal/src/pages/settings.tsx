// Settings (owners only): anonymous pull as configured, and a repository's (or tag's)
// attributes: read, write, delete and list enabled, anonymous pull for the repository.
import { useState } from "preact/hooks";
import type { AttributesView } from "../../../src/api-contract/repositories.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Problem } from "../components.tsx";
import { useSession } from "../session.tsx";

const FLAGS = [
  ["readEnabled", "Read (pull) enabled"],
  ["writeEnabled", "Write (push) enabled"],
  ["deleteEnabled", "Delete enabled"],
  ["listEnabled", "Listed"],
  ["anonymousPull", "Anonymous pull"],
] as const;

export function SettingsPage() {
  const { session } = useSession();
  const [target, setTarget] = useState<{ repo: string; tag: string } | null>(null);
  const [view, setView] = useState<AttributesView | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const url = (t: { repo: string; tag: string }) => withQuery(apiPath("/api/v1/repositories", { repo: t.repo }, "attributes"), { tag: t.tag || undefined });
  const open = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const next = { repo: String(form.get("repo") ?? "").trim(), tag: String(form.get("tag") ?? "").trim() };
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
        <p>
          Anonymous pull for every repository: <strong>{session?.anonymousPull ? "on" : "off"}</strong> <span class="small muted">(set in Berth's configuration, auth.anonymousPull)</span>
        </p>
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

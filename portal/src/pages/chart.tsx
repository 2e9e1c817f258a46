// A chart: its versions (how each is stored), metadata, README rendered safely, values.yaml, and
// the commands to copy for both ways of installing it.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { ChartDetail } from "../../../src/api-contract/charts.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { ChartCommands } from "../chart-commands.tsx";
import { Status, Table, useLoad } from "../components.tsx";
import { safeHref, when } from "../format.ts";
import { Markdown } from "../markdown.tsx";
import { parseChartPath, paths } from "../paths.ts";

/** Past this many characters a README or values.yaml shows its start, with a control to show all. */
export const SHOWN_AT_FIRST = 64 * 1024;

/**
 * The first SHOWN_AT_FIRST characters of `text` until "Show all" is pressed; then all of it. `bytes`
 * is the file's whole size: when the server sent less (it cuts at 512 KiB), a note says so.
 */
function Long({ text, bytes, what, children }: { text: string; bytes: number | null; what: string; children: (shown: string) => ComponentChildren }) {
  const [all, setAll] = useState(false);
  const sent = new TextEncoder().encode(text).length;
  const serverCut = bytes !== null && bytes > sent && (
    <p class="small muted" data-server-cut={what}>
      {what} is {Math.ceil(bytes / 1024)} KiB; the server sends its first {Math.floor(sent / 1024)} KiB. Pull the chart to read the rest.
    </p>
  );
  if (all || text.length <= SHOWN_AT_FIRST) {
    return (
      <>
        {children(text)}
        {serverCut}
      </>
    );
  }
  return (
    <>
      {children(text.slice(0, SHOWN_AT_FIRST))}
      <p class="small muted" data-cut={what}>
        {what} is {Math.ceil((bytes ?? sent) / 1024)} KiB: the first 64 KiB are shown.{" "}
        <button type="button" onClick={() => setAll(true)}>
          Show all {serverCut ? "that was sent" : `of ${what}`}
        </button>
      </p>
    </>
  );
}

/**
 * The chart's icon, only from a `data:image/…` URL or this server (the page's CSP allows no other
 * image source, and loading one would tell a third party the page was read); otherwise a
 * placeholder with the chart's initial.
 */
function Icon({ icon, name }: { icon: string | undefined; name: string }) {
  let src: string | null = null;
  if (icon && /^data:image\/(png|gif|jpeg|webp|svg\+xml)[;,]/i.test(icon)) src = icon;
  else if (icon) {
    try {
      const url = new URL(icon, location.origin);
      if (url.origin === location.origin && (url.protocol === "http:" || url.protocol === "https:")) src = url.href;
    } catch {
      src = null;
    }
  }
  if (src) return <img class="chart-icon" src={src} alt={`${name} icon`} width={48} height={48} data-icon="shown" />;
  return (
    <span class="chart-icon placeholder" aria-hidden="true" data-icon="placeholder">
      {name.slice(0, 1).toUpperCase()}
    </span>
  );
}

/** values.yaml as text, with a filter that keeps the matching lines and their numbers. */
function Values({ text, bytes }: { text: string; bytes: number | null }) {
  const [find, setFind] = useState("");
  const lines = text.split("\n");
  const needle = find.trim().toLowerCase();
  const shown = needle ? lines.map((line, i) => [i + 1, line] as const).filter(([, line]) => line.toLowerCase().includes(needle)) : null;
  return (
    <>
      <label>
        Find in values{" "}
        <input type="search" value={find} onInput={(e) => setFind((e.currentTarget as HTMLInputElement).value)} />
      </label>
      {shown ? (
        <>
          <p aria-live="polite" class="small muted">
            {shown.length} matching {shown.length === 1 ? "line" : "lines"}
          </p>
          <pre class="values">{shown.map(([n, line]) => `${String(n).padStart(4)}  ${line}`).join("\n")}</pre>
        </>
      ) : (
        <Long text={text} bytes={bytes} what="values.yaml">
          {(shownText) => <pre class="values">{shownText}</pre>}
        </Long>
      )}
    </>
  );
}

function Tabs({ readme, values, readmeBytes, valuesBytes }: Pick<ChartDetail, "readme" | "values" | "readmeBytes" | "valuesBytes">) {
  const [tab, setTab] = useState<"readme" | "values">("readme");
  const tabs = [
    ["readme", "README"],
    ["values", "Default values"],
  ] as const;
  const move = (e: KeyboardEvent) => {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = tab === "readme" ? "values" : "readme";
      setTab(next);
      document.getElementById(`tab-${next}`)?.focus();
    }
  };
  return (
    <section>
      <div role="tablist" aria-label="Chart documents" onKeyDown={move}>
        {tabs.map(([id, label]) => (
          <button key={id} id={`tab-${id}`} role="tab" type="button" aria-selected={tab === id} aria-controls={`panel-${id}`} tabIndex={tab === id ? 0 : -1} onClick={() => setTab(id)}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} tabIndex={0}>
        {tab === "readme" ? (
          readme ? (
            <Long text={readme} bytes={readmeBytes} what="README.md">
              {(shownText) => <Markdown text={shownText} />}
            </Long>
          ) : (
            <p class="muted">The package has no README.md.</p>
          )
        ) : values ? (
          <Values text={values} bytes={valuesBytes} />
        ) : (
          <p class="muted">The package has no values.yaml.</p>
        )}
      </div>
    </section>
  );
}

export function ChartPage() {
  const { path, query } = useLocation();
  const repo = parseChartPath(path) ?? "";
  const loaded = useLoad(() => api<ChartDetail>("GET", withQuery(apiPath("/api/v1/charts", { repo }), { version: query.version })), [repo, query.version]);
  return (
    <>
      <p class="crumbs">
        <a href="/charts">Charts</a> /
      </p>
      <h1>{repo}</h1>
      <Status loaded={loaded}>
        {(c) => {
          const selected = c.versions.find((v) => v.version === c.version);
          const home = c.metadata.home ? safeHref(c.metadata.home) : null;
          return (
            <>
              <div class="chart-head">
                <Icon icon={c.metadata.icon} name={c.name} />
                <p>{c.metadata.description}</p>
              </div>
              <dl class="facts">
                <dt>Version</dt>
                <dd>{c.version}</dd>
                {c.metadata.appVersion && (
                  <>
                    <dt>App version</dt>
                    <dd>{c.metadata.appVersion}</dd>
                  </>
                )}
                {c.metadata.kubeVersion && (
                  <>
                    <dt>Kubernetes</dt>
                    <dd>{c.metadata.kubeVersion}</dd>
                  </>
                )}
                {home && (
                  <>
                    <dt>Home</dt>
                    <dd>
                      <a href={home} rel="noopener noreferrer nofollow" target="_blank">
                        {c.metadata.home}
                      </a>
                    </dd>
                  </>
                )}
                {(c.metadata.maintainers ?? []).length > 0 && (
                  <>
                    <dt>Maintainers</dt>
                    <dd>{(c.metadata.maintainers ?? []).map((m) => m.name ?? m.email ?? "").join(", ")}</dd>
                  </>
                )}
                {(c.metadata.dependencies ?? []).length > 0 && (
                  <>
                    <dt>Dependencies</dt>
                    <dd>{(c.metadata.dependencies ?? []).map((d) => `${d.name ?? "?"} ${d.version ?? ""}`).join(", ")}</dd>
                  </>
                )}
              </dl>
              <h2>Install</h2>
              {selected && <ChartCommands chart={c} version={c.version} storedAs={selected.storedAs} />}
              {selected && selected.storedAs !== "both" && (
                <p class="small muted">
                  This version is stored only the {selected.storedAs === "oci" ? "OCI" : "classic"} way; push it {selected.storedAs === "oci" ? "with berth helm push" : "with helm push oci://"} to offer the other way too.
                </p>
              )}
              <h2>Versions</h2>
              <Table list caption={`Versions of ${c.repository}`} columns={["Version", "App version", "Stored", "Pushed"]}>
                {c.versions.map((v) => (
                  <tr key={v.version} data-version={v.version}>
                    <th scope="row">
                      <a href={paths.chart(c.repository, v.version)} aria-current={v.version === c.version ? "page" : undefined}>
                        {v.version}
                      </a>
                    </th>
                    <td>{v.appVersion ?? ""}</td>
                    <td>{v.storedAs === "both" ? "classic and OCI" : v.storedAs === "oci" ? "OCI" : "classic"}</td>
                    <td>{when(v.created)}</td>
                  </tr>
                ))}
              </Table>
              <Tabs readme={c.readme} values={c.values} readmeBytes={c.readmeBytes} valuesBytes={c.valuesBytes} />
            </>
          );
        }}
      </Status>
    </>
  );
}

// Every chart version however it was stored, one list: each marked classic, OCI or both; paged on
// the server (cursor), as the repositories page.
import { useState } from "preact/hooks";
import type { z } from "zod";
import type { ChartList } from "../../../src/api-contract/charts.ts";
import { api, withQuery } from "../api.ts";
import { Status, useLoad } from "../components.tsx";
import { when } from "../format.ts";
import { paths } from "../paths.ts";

type Charts = z.infer<typeof ChartList>;
const STORED = { classic: "classic", oci: "OCI", both: "classic and OCI" } as const;
const PAGE = 100;

export function ChartsPage() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const last = cursors[cursors.length - 1] ?? null;
  const loaded = useLoad(() => api<Charts>("GET", withQuery("/api/v1/charts", { n: String(PAGE), last })), [last]);
  return (
    <>
      <h1>Charts</h1>
      <p>Every chart version Berth holds, whether pushed the classic way (<code>helm repo add</code>), the OCI way (<code>helm push oci://</code>) or both.</p>
      <Status loaded={loaded}>
        {(list) => (
          <>
            <div class="scroll">
              <table class="list">
                <caption class="sr-only">Chart versions</caption>
                <thead>
                  <tr>
                    <th scope="col">Chart</th>
                    <th scope="col">Version</th>
                    <th scope="col">App version</th>
                    <th scope="col">Stored</th>
                    <th scope="col">Description</th>
                    <th scope="col">Pushed</th>
                  </tr>
                </thead>
                <tbody>
                  {list.charts.map((c) => (
                    <tr key={`${c.repository}:${c.version}`} data-chart={c.repository} data-version={c.version}>
                      <th scope="row">
                        <a href={paths.chart(c.repository)}>{c.repository}</a>
                      </th>
                      <td>
                        <a href={paths.chart(c.repository, c.version)}>{c.version}</a>
                      </td>
                      <td>{c.appVersion ?? ""}</td>
                      <td>
                        <span class={`kind stored-${c.storedAs}`}>{STORED[c.storedAs]}</span>
                      </td>
                      <td>{c.description ?? ""}</td>
                      <td>{when(c.created)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {list.charts.length === 0 && <p>No charts yet.</p>}
            </div>
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous page
              </button>
              <button type="button" disabled={!list.next} onClick={() => list.next && setCursors([...cursors, list.next])}>
                Next page
              </button>
            </nav>
          </>
        )}
      </Status>
    </>
  );
}

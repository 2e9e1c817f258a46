// Every chart version however it was stored, one list: each marked classic, OCI or both; paged on
// the server (cursor), as the repositories page.
import type { z } from "zod";
import type { ChartList } from "../../../src/api-contract/charts.ts";
import { api, withQuery } from "../api.ts";
import { Pager, Status, Table, useCursors, useLoad } from "../components.tsx";
import { when } from "../format.ts";
import { paths } from "../paths.ts";

type Charts = z.infer<typeof ChartList>;
const STORED = { classic: "classic", oci: "OCI", both: "classic and OCI" } as const;
const PAGE = 100;

export function ChartsPage() {
  const cursors = useCursors();
  const last = cursors.last;
  const loaded = useLoad(() => api<Charts>("GET", withQuery("/api/v1/charts", { n: String(PAGE), last })), [last]);
  return (
    <>
      <h1>Charts</h1>
      <p>Every chart version Berth holds, whether pushed the classic way (<code>helm repo add</code>), the OCI way (<code>helm push oci://</code>) or both.</p>
      <Status loaded={loaded}>
        {(list) => (
          <>
            <Table list caption="Chart versions" columns={["Chart", "Version", "App version", "Stored", "Description", "Pushed"]} footer={list.charts.length === 0 && <p>No charts yet.</p>}>
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
            </Table>
            <Pager cursors={cursors} next={list.next} />
          </>
        )}
      </Status>
    </>
  );
}

// Every repository the person may list: kind, tags, size, last push and the newest image's
// build labels; search by name as you type, filter by kind, sort; paged on the server (cursor).
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { RepositoryKind, RepositoryList } from "../../../src/api-contract/catalog.ts";
import { api, withQuery } from "../api.ts";
import { Pager, Status, Table, useCursors, useLoad } from "../components.tsx";
import { bytes, KIND_NAMES, when } from "../format.ts";
import { paths } from "../paths.ts";

const PAGE = 50;

export function RepositoriesPage() {
  const { query, route } = useLocation();
  const [q, setQ] = useState(query.q ?? "");
  const kind = query.kind ?? "";
  const sort = query.sort ?? "name";
  const cursors = useCursors();
  const last = cursors.last;
  const loaded = useLoad(
    () => api<RepositoryList>("GET", withQuery("/api/v1/repositories", { q: query.q, kind, sort, n: String(PAGE), last })),
    [query.q, kind, sort, last],
  );
  const set = (changes: Record<string, string>) => {
    const next = { q: query.q ?? "", kind, sort, ...changes };
    cursors.reset();
    route(withQuery("/", next), true);
  };
  return (
    <>
      <h1>Repositories</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name contains
          <input
            type="search"
            value={q}
            onInput={(e) => {
              const value = (e.currentTarget as HTMLInputElement).value;
              setQ(value);
              set({ q: value });
            }}
          />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => set({ kind: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">Any</option>
            {(Object.keys(KIND_NAMES) as RepositoryKind[]).map((k) => (
              <option value={k} key={k}>
                {KIND_NAMES[k]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by
          <select value={sort} onChange={(e) => set({ sort: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="name">Name</option>
            <option value="pushed">Last push</option>
            <option value="size">Size</option>
          </select>
        </label>
      </form>
      <Status loaded={loaded}>
        {(list) => (
          <>
            <p aria-live="polite">
              {list.total} {list.total === 1 ? "repository" : "repositories"}
            </p>
            <Table list caption="Repositories" columns={["Name", "Kind", "Tags", "Size", "Last push", "Newest build"]}>
              {list.repositories.map((r) => (
                <tr key={r.name}>
                  <th scope="row">
                    <a href={paths.repository(r.name)}>{r.name}</a>
                  </th>
                  <td>
                    <span class={`kind kind-${r.kind}`}>{KIND_NAMES[r.kind]}</span>
                    {r.kind === "artifact" && r.artifactType && <div class="muted small">{r.artifactType}</div>}
                  </td>
                  <td>
                    {r.tags} {r.tags === 1 ? "tag" : "tags"}
                  </td>
                  <td>{bytes(r.size)}</td>
                  <td>{when(r.pushed)}</td>
                  <td class="small">
                    {r.newest?.build.sha && <span title={r.newest.build.sha}>{r.newest.build.sha.slice(0, 7)}</span>}
                    {r.newest?.build.user && <span> by {r.newest.build.user}</span>}
                    {r.newest?.tag && (
                      <>
                        {" "}
                        <a href={paths.tag(r.name, r.newest.tag)} aria-label={`Tag ${r.newest.tag} of ${r.name}`}>
                          {r.newest.tag}
                        </a>
                      </>
                    )}
                  </td>
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

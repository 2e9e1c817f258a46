// A repository by digest (repository.tsx shows it below the tags): every manifest, signatures and
// SBOMs too, or only the untagged ones, a page at a time from the server.
import { useState } from "preact/hooks";
import type { ManifestList } from "../../../src/api-contract/catalog.ts";
import { api, apiPath, withQuery } from "../api.ts";
import { Pager, Status, Table, useCursors, useLoad } from "../components.tsx";
import { bytes, shortDigest, when } from "../format.ts";
import { paths } from "../paths.ts";

/** Manifests a page: a table row each. */
const MANIFEST_PAGE = 200;

/** The repository by digest: every manifest (signatures and SBOMs too), or only the untagged ones. */
export function Manifests({ repo }: { repo: string }) {
  const [untagged, setUntagged] = useState(false);
  // The server's pages, walked by its cursor: a manifest pushed again meanwhile is on a later page, not lost.
  const pages = useCursors();
  const list = useLoad(() => api<ManifestList>("GET", withQuery(apiPath("/api/v1/repositories", { repo }, "manifests"), { untagged: untagged ? "true" : undefined, n: String(MANIFEST_PAGE), last: pages.last })), [repo, untagged, pages.last]);
  return (
    <section aria-labelledby="manifests-h">
      <h2 id="manifests-h">Manifests</h2>
      <label class="check">
        <input
          type="checkbox"
          checked={untagged}
          onChange={(e) => {
            pages.reset();
            setUntagged((e.currentTarget as HTMLInputElement).checked);
          }}
        />{" "}
        Only untagged
      </label>
      <Status loaded={list}>
        {(answer) => (
          <>
            <Table list caption={`Manifests of ${repo}`} columns={["Digest", "Type", "Tags", "Size", "Pushed"]} footer={answer.manifests.length === 0 && <p class="muted">None.</p>}>
              {answer.manifests.map((m) => (
                <tr key={m.digest}>
                  <th scope="row">
                    <a href={paths.manifest(repo, m.digest)}>{shortDigest(m.digest)}</a>
                  </th>
                  <td class="small">
                    {m.artifactType ?? m.mediaType}
                    {m.subject && <div class="muted">refers to {shortDigest(m.subject)}</div>}
                    {m.platforms.length > 0 && <div class="muted">{m.platforms.join(", ")}</div>}
                  </td>
                  <td>{m.tags.join(", ")}</td>
                  <td>{bytes(m.size)}</td>
                  <td>{when(m.pushed)}</td>
                </tr>
              ))}
            </Table>
            {(answer.next || pages.hasPrevious) && <Pager cursors={pages} next={answer.next} label="Pages of manifests" />}
          </>
        )}
      </Status>
    </section>
  );
}

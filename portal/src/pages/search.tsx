// Search by provenance: images whose labels or annotations match, built from a Dockerfile URL,
// without a signature or without one verified now, or attested by a builder. The query lives in the URL, so it can be shared.
import { useLocation } from "preact-iso";
import type { SearchAnswer } from "../../../src/api-contract/search.ts";
import { api, withQuery } from "../api.ts";
import { Status, useLoad } from "../components.tsx";
import { shortDigest, when } from "../format.ts";
import { paths } from "../paths.ts";

const FIELDS = ["label", "annotation", "dockerfile", "builder", "repository"] as const;

export function SearchPage() {
  const { query, route } = useLocation();
  const asked = FIELDS.some((f) => query[f]) || query.unsigned === "true" || query.unverified === "true";
  const loaded = useLoad(
    () => (asked ? api<SearchAnswer>("GET", withQuery("/api/v1/search", { ...Object.fromEntries(FIELDS.map((f) => [f, query[f]])), unsigned: query.unsigned, unverified: query.unverified, n: "100" })) : Promise.resolve(null)),
    [query.label, query.annotation, query.dockerfile, query.builder, query.repository, query.unsigned, query.unverified],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const next: Record<string, string> = {};
    for (const f of FIELDS) next[f] = String(form.get(f) ?? "").trim();
    if (form.get("unsigned")) next.unsigned = "true";
    if (form.get("unverified")) next.unverified = "true";
    route(withQuery("/search", next));
  };
  return (
    <>
      <h1>Search by provenance</h1>
      <form class="search-form" role="search" onSubmit={submit}>
        <label>
          Label (<code>key=value</code> or <code>key~part</code>)
          <input name="label" placeholder="build.sha=e80e6ef" value={query.label ?? ""} />
        </label>
        <label>
          Annotation
          <input name="annotation" placeholder="org.opencontainers.image.source~github.com/acme" value={query.annotation ?? ""} />
        </label>
        <label>
          Dockerfile URL
          <input name="dockerfile" value={query.dockerfile ?? ""} />
        </label>
        <label>
          SLSA builder id
          <input name="builder" value={query.builder ?? ""} />
        </label>
        <label>
          Repository starts with
          <input name="repository" value={query.repository ?? ""} />
        </label>
        <label class="check">
          <input type="checkbox" name="unsigned" checked={query.unsigned === "true"} /> Only images without a signature
        </label>
        <label class="check">
          <input type="checkbox" name="unverified" checked={query.unverified === "true"} /> Only images without a verified signature
        </label>
        <button type="submit">Search</button>
      </form>
      <Status loaded={loaded}>
        {(answer) =>
          answer ? (
            <>
              <p aria-live="polite">{answer.results.length} found</p>
              <ul class="cards">
                {answer.results.map((r) => (
                  <li class="card" key={`${r.repository}@${r.digest}`}>
                    <a href={paths.manifest(r.repository, r.digest)}>
                      {r.repository}@{shortDigest(r.digest)}
                    </a>{" "}
                    <span class="small muted">
                      {r.tags.join(", ")} · pushed {when(r.pushed)}
                    </span>
                    <ul class="small">
                      {r.matches.map((m) => (
                        <li key={`${m.source}:${m.key}`}>
                          {m.source} <code>{m.key}</code> = {m.value}
                        </li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p class="muted">Fill in one or more fields; every one must match.</p>
          )
        }
      </Status>
    </>
  );
}

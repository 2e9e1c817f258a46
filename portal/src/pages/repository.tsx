// A repository (its tags, with the pull commands that fit its kind, delete for those allowed,
// and what soft delete keeps restorable: repository-deleted.tsx) and a manifest or tag (config, layers as bars, labels read as people read them,
// annotations, platforms, the referrers tree and the provenance report).
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { ManifestDetail, ReferrerTreeNode, RepositoryDetail, TagList } from "../../../src/api-contract/catalog.ts";
import type { ChartDetail } from "../../../src/api-contract/charts.ts";
import type { z } from "zod";
import type { MetadataHistory, MetadataValues, ProvenanceReport } from "../../../src/api-contract/provenance.ts";
import { api, ApiError, apiPath, withQuery } from "../api.ts";
import { ChartCommands } from "../chart-commands.tsx";
import { Command, Confirm, KeyValues, Pager, Problem, Status, Table, useCursors, useLoad } from "../components.tsx";
import { bytes, KIND_NAMES, safeHref, shortDigest, when } from "../format.ts";
import { parseRepoPath, paths } from "../paths.ts";
import { RecentlyDeleted } from "./repository-deleted.tsx";
import { Manifests } from "./repository-manifests.tsx";

type Report = z.infer<typeof ProvenanceReport>;
/** Tags a page: a card each, with its commands. */
const TAG_PAGE = 200;

export function RepoRoute() {
  const { path } = useLocation();
  const page = parseRepoPath(path);
  if (!page) return <h1>Page not found</h1>;
  if (page.view === "repository") return <RepositoryPage key={page.repo} repo={page.repo} />;
  return <ManifestPage repo={page.repo} reference={page.ref} />;
}

/** The commands for an image's or artifact's tag (a chart version's: ChartCommands). */
function pullCommands(detail: RepositoryDetail, tag: string, digest: string): { label: string; text: string }[] {
  const host = location.host;
  const at = `${host}/${detail.name}`;
  switch (detail.kind) {
    case "image":
    case "index":
      return [
        { label: "docker", text: `docker pull ${at}:${tag}` },
        { label: "podman", text: `podman pull ${at}@${digest}` },
      ];
    case "chart-oci":
    case "chart-both":
      return [{ label: "helm (OCI)", text: `helm pull oci://${at} --version ${tag}` }];
    case "chart-classic":
      return [];
    default:
      return [{ label: "oras", text: `oras pull ${at}:${tag}` }];
  }
}

/** A tag's commands: a chart version's for each way it is stored, else what fits the repository's kind. */
function TagCommands({ detail, chart, tag, digest }: { detail: RepositoryDetail; chart: ChartDetail | null; tag: string; digest: string }) {
  const version = chart?.versions.find((v) => v.reference === `${detail.name}:${tag}`);
  if (chart && version) return <ChartCommands chart={chart} version={version.version} storedAs={version.storedAs} />;
  return (
    <>
      {pullCommands(detail, tag, digest).map((c) => (
        <Command key={c.label} label={c.label} text={c.text} />
      ))}
    </>
  );
}

function RepositoryPage({ repo }: { repo: string }) {
  const detail = useLoad(() => api<RepositoryDetail>("GET", apiPath("/api/v1/repositories", { repo })), [repo]);
  const [sort, setSort] = useState("time_desc");
  // The server's pages, walked by its cursor: by time, a tag pushed again meanwhile is on a later page, not lost.
  const tagPages = useCursors();
  const tags = useLoad(() => api<TagList>("GET", withQuery(apiPath("/api/v1/repositories", { repo }, "tags"), { sort, n: String(TAG_PAGE), last: tagPages.last })), [repo, sort, tagPages.last]);
  // A chart repository's versions, each with how it is stored, for the commands of both ways.
  const kind = detail.data?.kind;
  const chart = useLoad(() => (kind?.startsWith("chart") ? api<ChartDetail>("GET", apiPath("/api/v1/charts", { repo })) : Promise.resolve(null)), [repo, kind]);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  // Each delete made here: the "Recently deleted" list reads again (keyed on it).
  const [deletes, setDeletes] = useState(0);
  const remove = async (tag: string) => {
    setConfirming(null);
    try {
      await api("DELETE", apiPath("/api/v1/repositories", { repo }, "tags", encodeURIComponent(tag)));
      tags.reload();
      detail.reload();
      setDeletes((n) => n + 1);
    } catch (err) {
      setProblem(err as Error);
    }
  };
  return (
    <>
      <p class="crumbs">
        <a href="/">Repositories</a> /
      </p>
      <h1>{repo}</h1>
      <Status loaded={detail}>
        {(d) => (
          <>
            <p>
              <span class={`kind kind-${d.kind}`}>{KIND_NAMES[d.kind]}</span> · {d.tags} {d.tags === 1 ? "tag" : "tags"} · {bytes(d.size)} · last push {when(d.pushed)}
              {d.artifactType && <> · {d.artifactType}</>}
            </p>
            {d.kind.startsWith("chart") && (
              <p>
                <a href={paths.chart(d.name)}>Chart page with versions, README and values</a>
              </p>
            )}
            {problem && <Problem error={problem} />}
            <label>
              Sort tags{" "}
              <select
                value={sort}
                onChange={(e) => {
                  tagPages.reset();
                  setSort((e.currentTarget as HTMLSelectElement).value);
                }}
              >
                <option value="time_desc">Newest first</option>
                <option value="time_asc">Oldest first</option>
                <option value="name">By name</option>
              </select>
            </label>
            <Status loaded={tags}>
              {(list) => (
                <>
                  <ul class="cards">
                    {list.tags.map((t) => (
                      <li key={t.name} class="card">
                        <h2>
                          <a href={paths.tag(repo, t.name)}>{t.name}</a>
                        </h2>
                        <p class="small">
                          <code title={t.digest}>{shortDigest(t.digest)}</code> · {bytes(t.size)} · pushed {when(t.pushed)} · {t.signed ? "signed" : "not signed"}
                          {t.platforms.length > 0 && <> · {t.platforms.join(", ")}</>}
                        </p>
                        {t.build && (t.build.sha || t.build.user) && (
                          <p class="small">
                            {t.build.sha && <span title={t.build.sha}>commit {t.build.sha.slice(0, 7)}</span>}
                            {t.build.user && <span> built by {t.build.user}</span>}
                          </p>
                        )}
                        <TagCommands detail={d} chart={chart.data} tag={t.name} digest={t.digest} />
                        {d.may.delete && (
                          <button type="button" class="danger" onClick={() => setConfirming(t.name)}>
                            Delete tag {t.name}
                          </button>
                        )}
                        {d.may.delete && confirming === t.name && (
                          <Confirm what={`Delete tag ${t.name} of ${repo}? The manifest ${shortDigest(t.digest)} stays while other tags or pulls by digest use it.`} onConfirm={() => void remove(t.name)} onCancel={() => setConfirming(null)} />
                        )}
                      </li>
                    ))}
                  </ul>
                  {(list.next || tagPages.hasPrevious) && <Pager cursors={tagPages} next={list.next} label="Pages of tags" />}
                </>
              )}
            </Status>
            {d.may.delete && (
              <RecentlyDeleted
                key={deletes}
                repo={repo}
                mayRestore={d.may.push && d.may.delete}
                onRestored={() => {
                  tags.reload();
                  detail.reload();
                }}
              />
            )}
            <Manifests repo={repo} />
          </>
        )}
      </Status>
      {/* A repository whose every manifest was deleted is unknown: what soft delete kept is the way
          back. Without the repository the page cannot ask what the caller may do there, so Restore
          is offered and the server decides (the list itself answers only those who may delete). */}
      {detail.error instanceof ApiError && detail.error.status === 404 && (
        <RecentlyDeleted
          repo={repo}
          mayRestore
          onRestored={() => {
            detail.reload();
            tags.reload();
          }}
        />
      )}
    </>
  );
}

/** build.user / build.sha / build.dockerfile as people read them; anything else as text. */
function LabelValue({ name, value }: { name: string; value: string }) {
  if (name === "build.sha" && /^[0-9a-f]{8,64}$/i.test(value)) return <abbr title={value}>{value.slice(0, 7)}</abbr>;
  const href = name === "build.dockerfile" || name === "org.opencontainers.image.source" || name === "org.opencontainers.image.url" ? safeHref(value) : null;
  if (href) {
    return (
      <a href={href} rel="noopener noreferrer nofollow" target="_blank">
        {value}
      </a>
    );
  }
  return <>{value}</>;
}

function Build({ labels }: { labels: Record<string, string> }) {
  const user = labels["build.user"];
  const sha = labels["build.sha"];
  const dockerfile = labels["build.dockerfile"];
  if (!user && !sha && !dockerfile) return null;
  return (
    <dl class="build" aria-label="Build">
      {user && (
        <>
          <dt>Built by</dt>
          <dd data-label="build.user">{user}</dd>
        </>
      )}
      {sha && (
        <>
          <dt>Commit</dt>
          <dd data-label="build.sha">
            <LabelValue name="build.sha" value={sha} />
          </dd>
        </>
      )}
      {dockerfile && (
        <>
          <dt>Dockerfile</dt>
          <dd data-label="build.dockerfile">
            <LabelValue name="build.dockerfile" value={dockerfile} />
          </dd>
        </>
      )}
    </dl>
  );
}

/** Arrow keys, Home and End move the focus through the tree's items (one tab stop for the tree). */
function treeKeys(event: KeyboardEvent) {
  const tree = event.currentTarget as HTMLElement;
  const items = [...tree.querySelectorAll<HTMLElement>('[role="treeitem"]')];
  const at = items.indexOf(document.activeElement as HTMLElement);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
  if (to === undefined || at < 0) return;
  event.preventDefault();
  const next = items[Math.max(0, Math.min(items.length - 1, to))];
  for (const item of items) item.tabIndex = item === next ? 0 : -1;
  next?.focus();
}

function Tree({ nodes, repo, label, depth = 0 }: { nodes: ReferrerTreeNode[]; repo: string; label?: string; depth?: number }) {
  if (nodes.length === 0) return label ? <p class="muted">Nothing refers to this manifest.</p> : null;
  return (
    <ul role={label ? "tree" : "group"} aria-label={label} onKeyDown={label ? treeKeys : undefined}>
      {nodes.map((n, i) => (
        <li role="treeitem" aria-expanded={n.referrers.length > 0 ? true : undefined} key={n.digest} tabIndex={depth === 0 && i === 0 ? 0 : -1}>
          <span class={`kind kind-${n.kind}`}>{n.kind}</span> <a href={paths.manifest(repo, n.digest)}>{shortDigest(n.digest)}</a> <span class="small muted">{n.artifactType ?? n.mediaType} · {bytes(n.size)}</span>
          <Tree nodes={n.referrers} repo={repo} depth={depth + 1} />
        </li>
      ))}
    </ul>
  );
}

function Layers({ layers }: { layers: ManifestDetail["layers"] }) {
  const largest = Math.max(1, ...layers.map((l) => l.size));
  if (layers.length === 0) return null;
  return (
    <ol class="layers">
      {layers.map((l) => (
        <li key={l.digest}>
          <span class="bar" aria-hidden="true">
            <span style={{ width: `${Math.max(1, (l.size / largest) * 100)}%` }} />
          </span>
          <code title={l.digest}>{shortDigest(l.digest)}</code> {bytes(l.size)} <span class="small muted">{l.mediaType}</span>
        </li>
      ))}
    </ol>
  );
}

function ManifestPage({ repo, reference }: { repo: string; reference: string }) {
  const detail = useLoad(() => api<ManifestDetail>("GET", apiPath("/api/v1/repositories", { repo }, "manifests", encodeURIComponent(reference))), [repo, reference]);
  const report = useLoad(() => api<Report>("GET", apiPath("/api/v1/provenance", { repo }, encodeURIComponent(reference))), [repo, reference]);
  const repository = useLoad(() => api<RepositoryDetail>("GET", apiPath("/api/v1/repositories", { repo })), [repo]);
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<Error | null>(null);
  const { route } = useLocation();
  const d = detail.data;
  const r = report.data;
  const remove = async (digest: string) => {
    setConfirming(false);
    try {
      await api("DELETE", apiPath("/api/v1/repositories", { repo }, "manifests", encodeURIComponent(digest)));
      route(paths.repository(repo));
    } catch (err) {
      setProblem(err as Error);
    }
  };
  // Until the manifest detail answers, the provenance report gives the labels and annotations.
  const isIndex = (d?.platforms.length ?? 0) > 0;
  const labels = d?.labels ?? (r?.platforms.length === 1 ? r.platforms[0]?.labels : undefined) ?? {};
  const annotations = d?.annotations ?? r?.annotations ?? {};
  const digest = d?.digest ?? r?.digest;
  return (
    <>
      <p class="crumbs">
        <a href="/">Repositories</a> / <a href={paths.repository(repo)}>{repo}</a> /
      </p>
      <h1>
        {repo}
        {reference.includes(":") ? "@" : ":"}
        {reference.includes(":") ? shortDigest(reference) : reference}
      </h1>
      {detail.error && !r && <Problem error={detail.error} />}
      {problem && <Problem error={problem} />}
      {d && repository.data?.may.delete && (
        <button type="button" class="danger" onClick={() => setConfirming(true)}>
          Delete this manifest
        </button>
      )}
      {d && repository.data?.may.delete && confirming && (
        <Confirm
          what={`Delete manifest ${shortDigest(d.digest)} of ${repo}${d.tags.length ? ` with its tags ${d.tags.join(", ")}` : ""}? Pulls by those tags and by this digest stop working.`}
          onConfirm={() => void remove(d.digest)}
          onCancel={() => setConfirming(false)}
        />
      )}
      {digest && (
        <p class="small">
          Digest <code>{digest}</code>
          {d && (
            <>
              {" "}
              · {bytes(d.size)} · {d.mediaType}
              {d.artifactType && <> · {d.artifactType}</>} · pushed {when(d.pushed)}
            </>
          )}
        </p>
      )}
      <section aria-labelledby="labels-h">
        <h2 id="labels-h">Labels</h2>
        {isIndex && <p class="muted">Each platform's image has its own labels: open a platform below.</p>}
        <Build labels={labels} />
        <KeyValues caption="Image labels" entries={Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))} render={(k, v) => <LabelValue name={k} value={v} />} />
      </section>
      <section aria-labelledby="annotations-h">
        <h2 id="annotations-h">Annotations</h2>
        <KeyValues caption="Manifest annotations" entries={Object.entries(annotations).sort(([a], [b]) => a.localeCompare(b))} />
      </section>
      {d && d.platforms.length > 0 && (
        <section aria-labelledby="platforms-h">
          <h2 id="platforms-h">Platforms</h2>
          <ul>
            {d.platforms.map((p) => (
              <li key={p.digest}>
                <a href={paths.manifest(repo, p.digest)}>
                  {p.platform.os}/{p.platform.architecture}
                  {p.platform.variant ? `/${p.platform.variant}` : ""}
                </a>{" "}
                <span class="small muted">
                  {shortDigest(p.digest)} · {bytes(p.size)}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {d && (d.config || d.layers.length > 0) && (
        <section aria-labelledby="layers-h">
          <h2 id="layers-h">Config and layers</h2>
          {d.config && (
            <p class="small">
              Config <code title={d.config.digest}>{shortDigest(d.config.digest)}</code> · {d.config.mediaType} · {bytes(d.config.size)}
            </p>
          )}
          <Layers layers={d.layers} />
        </section>
      )}
      <section aria-labelledby="referrers-h">
        <h2 id="referrers-h">Signatures, SBOMs and attestations</h2>
        {d ? <Tree nodes={d.referrers} repo={repo} label="Referrers" /> : null}
      </section>
      {digest && <RegistryMetadata repo={repo} digest={digest} />}
      <section aria-labelledby="provenance-h">
        <h2 id="provenance-h">Provenance</h2>
        <Status loaded={report}>
          {(rep) => (
            <>
              <p>{rep.verdict.line}</p>
              {rep.signatures.length > 0 ? (
                <ul>
                  {rep.signatures.map((s) => (
                    <li key={s.digest} data-signature={s.digest}>
                      {s.scheme} signature {shortDigest(s.digest)}: <strong>{s.verified === true ? "verified" : s.verified === false ? "not verified" : "not checked"}</strong> ({s.reason})
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">No signatures.</p>
              )}
              {rep.warnings.map((w) => (
                <p class="small muted" key={w}>
                  {w}
                </p>
              ))}
            </>
          )}
        </Status>
      </section>
    </>
  );
}

/**
 * The registry-side metadata kept about this digest (`berth metadata`, /api/v1/metadata/…): each
 * key's value, and every change with who made it, when, and the old and new value. Needs
 * metadata_read on the repository; without it, the section says so.
 */
function RegistryMetadata({ repo, digest }: { repo: string; digest: string }) {
  const base = apiPath("/api/v1/metadata", { repo: `${repo}@${digest}` });
  const values = useLoad(() => api<z.infer<typeof MetadataValues>>("GET", `${base}/_values`), [base]);
  const history = useLoad(() => api<z.infer<typeof MetadataHistory>>("GET", `${base}/_history`), [base]);
  const refused = values.error instanceof ApiError && values.error.status === 403;
  return (
    <section aria-labelledby="metadata-h">
      <h2 id="metadata-h">Registry metadata</h2>
      {refused ? (
        <p class="muted">You may not read this manifest's registry metadata.</p>
      ) : (
        <Status loaded={values}>
          {(v) => <KeyValues caption="Registry metadata" entries={v.values.map((e): [string, string] => [e.key, e.value])} />}
        </Status>
      )}
      {!refused && history.data && history.data.history.length > 0 && (
        <Table caption="Changes, newest first" columns={["When", "Who", "Key", "Old → new"]}>
          {[...history.data.history].sort((a, b) => b.at.localeCompare(a.at) || b.version - a.version).map((c) => (
            <tr key={`${c.key}@${c.version}`} data-metadata-change={c.key}>
              <td>
                <time dateTime={c.at} title={c.at}>
                  {when(c.at)}
                </time>
              </td>
              <td>{c.actor}</td>
              <td>
                <code>{c.key}</code> <span class="small muted">v{c.version}</span>
              </td>
              <td class="value">
                {c.old ?? <em>(not set)</em>} → {c.new ?? <em>(deleted)</em>}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

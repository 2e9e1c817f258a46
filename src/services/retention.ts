// Retention runs (docs/lifecycle.md#retention): the plan (domain/retention.ts) for every
// repository some policy names, then, unless it is a dry run, the same plan executed item by item
// through ManifestService.delete, so tag rules, delete locks and the change log apply as to any
// delete (and soft delete, when it comes, too). A protected item is skipped with its reason; it
// never stops the run. Each real run records one `retention.ran` change: the event.
//
//   plan:    policies → repositories they match → inventory → planRepository (refusals read now)
//   execute: for each item, in plan order:
//              skip it if something it depends on (its parent index, its subject) did not go
//              delete it, with the plan's conditions checked in the delete's transaction:
//                a tag only while it still names the planned digest (not pushed again since),
//                a manifest only while no tag covers it (not tagged since),
//                either only while its push time is the one planned (a push of the same bytes
//                since is a push: the age, grace or keep-newest order that chose it no longer holds)
//              a refusal (DENIED) skips it and what depends on it
//   record:  one change, with the run's counts per policy and the actor
// One run at a time per database (metadata.exclusively): a scheduled run and an on-demand one
// would otherwise plan the same deletes twice.
import type { ChangeActor, RetentionSummary } from "../domain/changes.ts";
import type { Digest } from "../domain/digest.ts";
import { RegistryError } from "../domain/errors.ts";
import type { RepositoryName, Tag } from "../domain/names.ts";
import { planRepository, policiesFor, type RetentionItem, type RetentionPolicy } from "../domain/retention.ts";
import type { MetadataStore } from "../metadata/types.ts";
import type { ManifestService } from "./manifest-service.ts";

export interface RetentionRunOptions {
  dryRun: boolean;
  trigger: "schedule" | "demand";
  actor: ChangeActor | null;
}

/** An item as a run left it: deleted, skipped (protected, or what it depends on stayed), or planned (dry run). */
export interface RetentionOutcome extends RetentionItem {
  outcome: "deleted" | "skipped" | "planned";
}

export interface RetentionReport {
  dryRun: boolean;
  policies: RetentionPolicy[];
  items: RetentionOutcome[];
  summary: RetentionSummary;
}

const PAGE = 500;

export class RetentionService {
  private readonly metadata: MetadataStore;
  private readonly manifests: ManifestService;
  private readonly graceMs: number;
  private readonly now: () => Date;

  /** `graceSeconds`: how long after its push an untagged manifest is safe from untagged policies (retention.gracePeriod). */
  constructor(metadata: MetadataStore, manifests: ManifestService, graceSeconds: number, now: () => Date = () => new Date()) {
    this.metadata = metadata;
    this.manifests = manifests;
    this.graceMs = graceSeconds * 1000;
    this.now = now;
  }

  async run(options: RetentionRunOptions): Promise<RetentionReport> {
    const outcome = await this.metadata.exclusively("retention", () => this.runAlone(options));
    if (!outcome.ran) throw new RegistryError("RETENTION_RUNNING", "another retention run is going on this registry: try again once it has finished");
    return outcome.value;
  }

  private async runAlone(options: RetentionRunOptions): Promise<RetentionReport> {
    const policies = await this.metadata.retention.list();
    const { items, pushed } = await this.plan(policies);
    const outcomes = options.dryRun ? items.map((i): RetentionOutcome => ({ ...i, outcome: i.protected ? "skipped" : "planned" })) : await this.execute(items, pushed, options.actor);
    const summary = summarize(policies, outcomes);
    // A run with no policy did nothing and is no event (the schedule would fill the log with them).
    if (!options.dryRun && policies.length > 0) {
      await this.metadata.transaction((tx) => tx.changes.append({ kind: "retention.ran", trigger: options.trigger, summary }), { actor: options.actor });
    }
    return { dryRun: options.dryRun, policies, items: outcomes, summary };
  }

  /**
   * Every repository some policy names, in name order, each planned as it stands now; `pushed`:
   * the push time the plan read of each tag (repository:tag) and manifest (repository@digest).
   */
  private async plan(policies: readonly RetentionPolicy[]): Promise<{ items: RetentionItem[]; pushed: Map<string, Date> }> {
    const items: RetentionItem[] = [];
    const pushed = new Map<string, Date>();
    if (policies.length === 0) return { items, pushed };
    const now = this.now();
    for (let page = await this.metadata.repositories.list({ limit: PAGE }); page.length > 0; page = await this.metadata.repositories.list({ limit: PAGE, after: page.at(-1)! })) {
      for (const repository of page) {
        const matching = policiesFor(policies, repository);
        if (matching.length === 0) continue;
        const inventory = await this.metadata.retention.inventory(repository);
        for (const m of inventory.manifests) pushed.set(`${repository}@${m.digest}`, m.pushed);
        for (const t of inventory.tags) pushed.set(`${repository}:${t.tag}`, t.pushed);
        const refusal = (target: { tag: string } | { digest: string }) =>
          this.manifests.deleteRefusal(repository, "tag" in target ? { kind: "tag", tag: target.tag as Tag } : { kind: "digest", digest: target.digest as Digest });
        items.push(...(await planRepository(inventory, matching, now, refusal, this.graceMs)));
      }
    }
    return { items, pushed };
  }

  private async execute(items: readonly RetentionItem[], pushed: ReadonlyMap<string, Date>, actor: ChangeActor | null): Promise<RetentionOutcome[]> {
    const outcomes: RetentionOutcome[] = [];
    const stayed = new Set<string>(); // repository@digest of manifests that did not go
    const dependsOn = await this.dependencies(items);
    for (const item of items) {
      const key = `${item.repository}@${item.digest}`;
      if (item.protected) {
        if (item.tag === undefined) stayed.add(key);
        outcomes.push({ ...item, outcome: "skipped" });
        continue;
      }
      const blocker = item.tag === undefined ? (dependsOn.get(key) ?? []).find((d) => stayed.has(`${item.repository}@${d}`)) : undefined;
      if (blocker) {
        stayed.add(key);
        outcomes.push({ ...item, outcome: "skipped", protected: `${blocker.slice(0, 19)}, which it depends on, stayed` });
        continue;
      }
      const repository = item.repository as RepositoryName;
      // SQLite answers synchronously, so a run's awaits alone never let a request in: without a
      // turn of the event loop per item the registry answered nothing while 2,000 tags went (attack).
      await new Promise((resolve) => setImmediate(resolve));
      try {
        if (item.tag !== undefined) {
          await this.manifests.delete(repository, { kind: "tag", tag: item.tag as Tag }, actor, { pointingAt: item.digest as Digest, pushedAsOf: pushed.get(`${repository}:${item.tag}`)!, version: true });
        } else {
          await this.manifests.delete(repository, { kind: "digest", digest: item.digest as Digest }, actor, { untagged: true, pushedAsOf: pushed.get(key)! });
        }
        outcomes.push({ ...item, outcome: "deleted" });
      } catch (err) {
        // Refused now (a lock or rule set since the plan, pushed or tagged again, pushed again with
        // the same bytes): skipped, not fatal.
        // Gone already (another delete got there first): nothing left to do, and nothing deleted.
        if (!(err instanceof RegistryError) || (err.code !== "DENIED" && err.code !== "MANIFEST_UNKNOWN")) throw err;
        if (item.tag === undefined && err.code === "DENIED") stayed.add(key);
        outcomes.push({ ...item, outcome: "skipped", protected: err.code === "DENIED" ? err.message : "already gone" });
      }
    }
    return outcomes;
  }

  /** For each planned manifest, the planned manifests it goes after: its parent indexes and its subject. */
  private async dependencies(items: readonly RetentionItem[]): Promise<Map<string, string[]>> {
    const planned = new Set(items.filter((i) => i.tag === undefined).map((i) => `${i.repository}@${i.digest}`));
    const result = new Map<string, string[]>();
    for (const repository of new Set(items.filter((i) => i.tag === undefined).map((i) => i.repository))) {
      const inventory = await this.metadata.retention.inventory(repository as RepositoryName);
      const add = (digest: string, before: string) => {
        if (planned.has(`${repository}@${before}`)) result.set(`${repository}@${digest}`, [...(result.get(`${repository}@${digest}`) ?? []), before]);
      };
      for (const m of inventory.manifests) {
        if (m.subject !== null) add(m.digest, m.subject);
        for (const child of m.children) add(child, m.digest);
      }
    }
    return result;
  }
}

function summarize(policies: readonly RetentionPolicy[], outcomes: readonly RetentionOutcome[]): RetentionSummary {
  const per = new Map(policies.map((p) => [p.id, { id: p.id, tagsDeleted: 0, manifestsDeleted: 0, skipped: 0 }]));
  const total = { tagsDeleted: 0, manifestsDeleted: 0, skipped: 0 };
  for (const o of outcomes) {
    const counts = per.get(o.policy)!;
    const field = o.outcome === "skipped" ? "skipped" : o.tag !== undefined ? "tagsDeleted" : "manifestsDeleted";
    // A dry run counts what it would delete.
    counts[field]++;
    total[field]++;
  }
  return { ...total, policies: [...per.values()] };
}

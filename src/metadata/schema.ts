// Table shapes as Kysely sees them. Times are integer milliseconds since the epoch, so the
// same queries run on SQLite and PostgreSQL (bigint) unchanged.
import type { ColumnType, Generated } from "kysely";

export interface Database {
  repositories: { name: string; created_at: number };
  /** object_key: null (or left out) for the digest's own key (migration 032). */
  blobs: { digest: string; size: number; created_at: number; object_key: ColumnType<string | null, string | null | undefined, string | null> };
  blob_links: { repository: string; digest: string; linked_at: number };
  manifests: {
    repository: string;
    digest: string;
    media_type: string;
    size: number;
    body: Uint8Array;
    subject: string | null;
    artifact_type: string | null;
    annotations: string | null;
    /**
     * The last push of these bytes into the repository (ManifestRecord.pushedAt), not the first:
     * named before a push of stored bytes moved it. Not renamed: migration 010's backfill runs the
     * live summary code (read-model-backfill.ts) on databases that predate any later migration.
     */
    created_at: number;
  };
  manifest_refs: { repository: string; manifest_digest: string; target_digest: string; kind: "blob" | "manifest" };
  tags: { repository: string; tag: string; digest: string; updated_at: number };
  uploads: {
    id: string;
    repository: string;
    offset: number;
    algorithm: string;
    started_at: number;
    updated_at: number;
    handle: string | null;
    lease_owner: string | null;
    lease_until: number;
    writer: string | null;
    verified: string | null;
    hash_state: string | null;
  };
  storage_strays: { key: string; size: number; first_seen: number; last_seen: number };
  principals: {
    id: string;
    kind: string;
    name: string;
    roles: string;
    scope: string | null;
    scope_map: string | null;
    enabled: number;
    expires_at: number | null;
    created_at: number;
  };
  secrets: { principal_id: string; slot: number; hash: string; expires_at: number | null; created_at: number };
  sign_in_failures: { key: string; failures: string; blocked_until: number; strikes: number; updated_at: number };
  sessions: { id_hash: string; principal_id: string; credential: string; csrf: string; created_at: number; expires_at: number };
  scope_maps: { name: string; description: string; rules: string; created_at: number };
  repository_attributes: {
    repository: string;
    tag: string;
    read_enabled: number;
    write_enabled: number;
    delete_enabled: number;
    list_enabled: number;
    anonymous_pull: number;
  };
  audit_events: {
    id: string;
    at: number;
    event: string;
    identity: string;
    action: string;
    repository: string | null;
    outcome: string;
    client: string | null;
    detail: string | null;
  };
  signing_keys: { kid: string; algorithm: string; private_jwk: string; public_jwk: string; created_at: number; retired_at: number | null };
  charts: {
    repository: string;
    version: string;
    namespace: string;
    name: string;
    file_name: string;
    manifest_digest: string;
    chart_digest: string;
    chart_size: number;
    prov_digest: string | null;
    metadata: string;
    created_at: number;
    stored_as: string;
    published_at: number;
  };
  provenance: {
    repository: string;
    digest: string;
    kind: string;
    media_type: string;
    artifact_type: string | null;
    size: number;
    subject: string | null;
    facts: string;
    recorded_at: number;
  };
  // Each signature's verification outcome against the trust in force (migration 030).
  signature_verdicts: { repository: string; digest: string; subject: string; verified: number; until: number | null; trust: string };
  metadata_values: { repository: string; digest: string; key: string; value: string; version: number; updated_at: number; updated_by: string };
  metadata_history: {
    repository: string;
    digest: string;
    key: string;
    version: number;
    at: number;
    actor: string;
    old_value: string | null;
    new_value: string | null;
  };
  changes: { id: Generated<number>; at: number; kind: string; repository: string | null; body: string; actor: string | null };
  // Webhooks and their deliveries (migration 017, webhook-store.ts).
  webhooks: {
    name: string;
    url: string;
    actions: string;
    scope: string;
    headers: string;
    format: string;
    enabled: number;
    secret: string;
    created_at: number;
    updated_at: number;
  };
  webhook_deliveries: {
    id: Generated<number>;
    webhook: string;
    event_id: number;
    action: string;
    created_at: number;
    status: string;
    attempts: number;
    next_at: number;
    request_headers: string;
    body: string;
    response_status: number | null;
    latency_ms: number | null;
    error: string | null;
    finished_at: number | null;
    lease_owner: string | null;
    lease_until: Generated<number>;
    /** JSON: [{at (ms), responseStatus, latencyMs, error}], oldest first (migration 033). */
    recent_attempts: Generated<string>;
  };
  change_consumers: { consumer: string; cursor: number; owner: string | null; lease_until: number };
  locks: { name: string; taken_at: number };
  jobs: { name: string; owner: string; lease_until: number };
  tag_rules: { id: string; repository: string; tags: string; created_at: number; created_by: string };
  // Soft delete (migrations 021 and 022, trash-store.ts). The manifest's bytes are in trash_bodies.
  trash: {
    id: string;
    repository: string;
    digest: string;
    kind: string;
    tags: string;
    media_type: string;
    artifact_type: string | null;
    /** The manifest's length in bytes (migration 022). */
    size: number;
    stored_as: string | null;
    deleted_at: number;
    expires_at: number;
    deleted_by: string | null;
  };
  trash_refs: { trash_id: string; repository: string; target_digest: string };
  trash_bodies: { trash_id: string; body: Uint8Array };
  quotas: { scope: string; limit_bytes: number; created_at: number; created_by: string };
  retention_policies: { id: string; repository: string; untagged_days: number | null; keep_newest: number | null; tags: string | null; created_at: number; created_by: string };
  // The portal's read models (migration 010, catalog-types.ts).
  repository_summaries: {
    name: string;
    kind: string;
    artifact_type: string | null;
    tags: number;
    manifests: number;
    size: number;
    pushed_at: number;
    newest_tag: string | null;
    newest_digest: string | null;
    build_user: string | null;
    build_sha: string | null;
    build_dockerfile: string | null;
  };
  /** Per repository and blob: how many of its manifests name the blob, and its size then (migration 031). */
  repository_blob_refs: { repository: string; digest: string; refs: number; size: number };
  // `id` since migration 012 (the trigram index's row key); the rows migration 010 backfills have none yet.
  search_entries: { id: Generated<number>; repository: string; digest: string; origin: string; source: string; key: string; value: string; folded: string | null };
}

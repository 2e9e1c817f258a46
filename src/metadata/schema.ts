// Table shapes as Kysely sees them. Times are integer milliseconds since the epoch, so the
// same queries run on SQLite and PostgreSQL (bigint) unchanged.

export interface Database {
  repositories: { name: string; created_at: number };
  blobs: { digest: string; size: number; created_at: number };
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
    created_at: number;
  };
  manifest_refs: { repository: string; manifest_digest: string; target_digest: string; kind: "blob" | "manifest" };
  tags: { repository: string; tag: string; digest: string; updated_at: number };
  uploads: { id: string; repository: string; offset: number; algorithm: string; started_at: number; updated_at: number };
  users: { name: string; password_hash: string; created_at: number };
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
  };
}

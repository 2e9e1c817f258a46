// The OCI endpoint table, in the spec's order, with the access each route needs. The guard in
// http/ checks access before any handler runs, so handlers never check permissions.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints
import type { Access } from "../../auth/identity.ts";
import type { V2Path } from "../../http/v2-path.ts";
import { getBase, getCatalog } from "./base.ts";
import { deleteBlob, getBlob, headBlob } from "./blobs.ts";
import type { OciContext, OciHandler } from "./context.ts";
import { deleteManifest, getManifest, headManifest, putManifest } from "./manifests.ts";
import { getReferrers } from "./referrers.ts";
import { getTags } from "./tags.ts";
import { deleteUpload, getUpload, patchUpload, postUpload, putUpload } from "./uploads.ts";

type Method = "GET" | "HEAD" | "POST" | "PATCH" | "PUT" | "DELETE";

interface Route {
  kind: V2Path["kind"];
  method: Method;
  handler: (ctx: OciContext) => Promise<unknown>;
  /** The access needed; null: decided by the handler (the version check). */
  access: ((path: V2Path) => Access[]) | null;
}

function route<K extends V2Path["kind"]>(kind: K, method: Method, handler: OciHandler<K>, access: Route["access"]): Route {
  return { kind, method, handler: handler as (ctx: OciContext) => Promise<unknown>, access };
}

const pull = (path: V2Path): Access[] => ("name" in path ? [{ type: "repository", name: path.name, action: "pull" }] : []);
const push = (path: V2Path): Access[] => ("name" in path ? [{ type: "repository", name: path.name, action: "push" }] : []);
const remove = (path: V2Path): Access[] => ("name" in path ? [{ type: "repository", name: path.name, action: "delete" }] : []);
const catalog = (): Access[] => [{ type: "registry", name: "catalog", action: "catalog" }];

export const OCI_ROUTES: Route[] = [
  route("base", "GET", getBase, null),
  route("base", "HEAD", getBase, null),
  route("blob", "GET", getBlob, pull),
  route("blob", "HEAD", headBlob, pull),
  route("manifest", "GET", getManifest, pull),
  route("manifest", "HEAD", headManifest, pull),
  route("uploads", "POST", postUpload, push),
  route("upload", "PATCH", patchUpload, push),
  route("upload", "PUT", putUpload, push),
  route("manifest", "PUT", putManifest, push),
  route("tags", "GET", getTags, pull),
  route("manifest", "DELETE", deleteManifest, remove),
  route("blob", "DELETE", deleteBlob, remove),
  route("referrers", "GET", getReferrers, pull),
  route("upload", "GET", getUpload, push),
  route("upload", "DELETE", deleteUpload, push),
  route("catalog", "GET", getCatalog, catalog),
];

export function findRoute(kind: V2Path["kind"], method: string): Route | undefined {
  return OCI_ROUTES.find((r) => r.kind === kind && r.method === method);
}

export function methodsFor(kind: V2Path["kind"]): Method[] {
  return OCI_ROUTES.filter((r) => r.kind === kind).map((r) => r.method);
}

// What a request from Berth to its object store (S3 on versitygw, Azure Blob on Azurite) is, as a
// proxy in front of the store sees it (stalling-proxy.ts, cutting-proxy.ts): the predicates the
// crash and attack tests hold back or cut a step of a push by. Keys live under the prefix
// `registry` (store-cluster.ts): registry/uploads/… for uploads, registry/blobs/… by digest.
import type { IncomingMessage } from "node:http";

export function storeUrl(request: IncomingMessage): URL {
  return new URL(request.url ?? "/", "http://store");
}

/** The publish copy to the digest's key, made before the metadata transaction: S3 CopyObject, Azure Copy Blob. */
export function publishCopy(request: IncomingMessage): boolean {
  return request.method === "PUT" && storeUrl(request).pathname.includes("/registry/blobs/") && ("x-amz-copy-source" in request.headers || "x-ms-copy-source" in request.headers);
}

/** S3's monolithic push made visible at the digest's key: one PutObject, or the Complete of its multipart upload. */
export function hiddenPublish(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  if (!url.pathname.includes("/registry/blobs/") || "x-amz-copy-source" in request.headers) return false;
  return (request.method === "PUT" && !url.searchParams.has("partNumber")) || (request.method === "POST" && url.searchParams.has("uploadId"));
}

/** The delete of an upload's object after the commit (BlobStore.settle). */
export function uploadDelete(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  return request.method === "DELETE" && !url.searchParams.has("uploadId") && url.pathname.includes("/registry/uploads/");
}

/** A DELETE of anything under registry/ (S3 DeleteObject, AbortMultipartUpload; Azure Delete Blob). */
export function anyDelete(request: IncomingMessage): boolean {
  return request.method === "DELETE" && storeUrl(request).pathname.includes("/registry/");
}

/** A PUT that writes one piece of a PATCH: an S3 part or tail segment, an Azure block. */
export function chunkWrite(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  if (request.method !== "PUT" || !url.pathname.includes("/registry/")) return false;
  return url.searchParams.has("partNumber") || url.pathname.includes("/_tails/") || url.searchParams.get("comp") === "block";
}

/** The commit of an upload's parts: S3 CompleteMultipartUpload (POST ?uploadId), Azure Put Block List. */
export function partsCommit(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  if (!url.pathname.includes("/registry/uploads/")) return false;
  return (request.method === "POST" && url.searchParams.has("uploadId")) || (request.method === "PUT" && url.searchParams.get("comp") === "blocklist");
}

/** The read-back of committed parts by an instance without the running hash (finishByReading): a GET of the upload's object, not ListParts, not Get Block List. */
export function partsReadBack(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  return request.method === "GET" && url.pathname.includes("/registry/uploads/") && !url.searchParams.has("uploadId") && !url.searchParams.has("comp");
}

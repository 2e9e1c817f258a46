// What a request from Berth to its object store (S3 on versitygw, Azure Blob on Azurite) is, as a
// proxy in front of the store sees it (stalling-proxy.ts, cutting-proxy.ts): the predicates the
// crash and attack tests hold back or cut a step of a push by. Keys live under the prefix
// `registry` (store-cluster.ts): registry/uploads/… for uploads, registry/blobs/… by digest.
// A chunked upload on S3 and Azure is published in place (54a7fc3): after its parts' commit the
// object registry/uploads/<id> is the blob, the metadata transaction names it (checking it with
// one HEAD: uploadCheck) and no copy or delete follows, but for a surplus upload (its digest's row
// keeps an object of its own: that upload's object is deleted after the commit, uploadDelete).
import type { IncomingMessage } from "node:http";

export function storeUrl(request: IncomingMessage): URL {
  return new URL(request.url ?? "/", "http://store");
}

/**
 * The publish copy to the digest's key, made before the metadata transaction: Azure's monolithic
 * push (its put-<uuid> key copied), a chart's blobs (commitBlobIn). A chunked upload makes none.
 */
export function publishCopy(request: IncomingMessage): boolean {
  return request.method === "PUT" && storeUrl(request).pathname.includes("/registry/blobs/") && ("x-amz-copy-source" in request.headers || "x-ms-copy-source" in request.headers);
}

/** S3's monolithic push made visible at the digest's key: one PutObject, or the Complete of its multipart upload. */
export function hiddenPublish(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  if (!url.pathname.includes("/registry/blobs/") || "x-amz-copy-source" in request.headers) return false;
  return (request.method === "PUT" && !url.searchParams.has("partNumber")) || (request.method === "POST" && url.searchParams.has("uploadId"));
}

/**
 * The delete of an upload's object after the commit (BlobStore.settle): a surplus chunked upload's
 * (its digest's row already names an object holding the bytes), or the key Azure's monolithic
 * push copied from.
 */
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

/**
 * The commit of an upload's parts: S3 CompleteMultipartUpload (POST ?uploadId), Azure Put Block
 * List. (An upload shorter than one S3 part is committed by a PUT of the whole object instead:
 * objectCommit.)
 */
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

/** Whether the request names exactly an upload's object, registry/uploads/<id> (not a tail segment, not a part). */
function isUploadObject(url: URL): boolean {
  return /\/registry\/uploads\/[^/]+$/.test(url.pathname);
}

/**
 * Whatever makes an upload's object: partsCommit, or for an upload under one S3 part the PUT of
 * the whole object (CopyObject of its one tail segment, PutObject of its segments).
 */
export function objectCommit(request: IncomingMessage): boolean {
  const url = storeUrl(request);
  return partsCommit(request) || (request.method === "PUT" && isUploadObject(url) && !url.searchParams.has("partNumber") && !url.searchParams.has("comp"));
}

/**
 * The in-transaction check of an upload published in place (BlobStore.stillThere): a HEAD of
 * registry/uploads/<id> (S3 HeadObject, Azure Get Blob Properties), after the parts' commit, with
 * the digest's lock held and nothing committed yet. On an instance that kept the upload's hash it
 * is the first HEAD of the object; on one that reads the parts back (finishByReading), the
 * read-back's HEAD (its version) comes first: `readsBack` skips HEADs until the read-back's GET.
 * Where the digest's row already names another upload's object, the transaction HEADs that one
 * first (BlobStore.holds: is this upload surplus?), also inside the transaction. Stateful: one
 * per held request.
 */
export function uploadCheck(readsBack = false): (request: IncomingMessage) => boolean {
  let readBack = !readsBack;
  return (request) => {
    if (partsReadBack(request)) readBack = true;
    return readBack && request.method === "HEAD" && isUploadObject(storeUrl(request));
  };
}
